import { z } from 'zod';
import { DataError } from '../../core/errors.ts';
import { defineConnector, type Fact, type OpenContext, type SourceReader } from '../shared/connector.ts';
import { csvConfigSchema, type CsvConfig } from './config.ts';
import { discoverCsv } from './discover.ts';
import { listFiles, type SourceFile } from './files.ts';
import { parseFile, parseNumber, type CsvRecord } from './parse.ts';
import { csvStateSchema, loadedState, readingSettings, type CsvState } from './state.ts';

const csvRecordSchema = z.object({
  file: z.string(),
  line: z.number(),
  date: z.string().nullable(),
  fields: z.record(z.string(), z.string()),
  malformed: z.string().optional(),
});

/**
 * Files have no rolling window: when any file is new, changed or gone, every file is read
 * again and the whole date range they cover (now or before) is replaced. Exports of this kind
 * are small; reading them whole keeps replacement exact when a line moves between files.
 */
function openCsv(config: CsvConfig, ctx: OpenContext): SourceReader<CsvRecord, CsvState> {
  const settings = readingSettings(config);
  let files: SourceFile[] = [];
  let records: CsvRecord[] = [];
  /**
   * A backfill's window may leave some of the files' dates out (their lines are quarantined as
   * outside it): its read does not count the files as loaded, so the next scheduled sync reads
   * them whole instead of skipping them as unchanged.
   */
  let loadsWhole = false;

  return {
    recordSchema: csvRecordSchema,
    stateSchema: csvStateSchema,
    async describe() {
      return { currency: config.currency ?? null, timeZone: config.timezone };
    },

    async planWindow(_stream, proposed, { explicit, state }) {
      files = listFiles(config.path, ctx.configDir, config.name);
      const known = state?.files ?? [];
      const knownByPath = new Map(known.map((k) => [k.path, k]));
      const current = new Set(files.map((f) => f.path));
      // State carried over from before settings were kept says nothing about them.
      const newSettings = state?.settings !== undefined && state.settings !== settings;
      const changed = newSettings ? files : files.filter((f) => knownByPath.get(f.path)?.sha256 !== f.sha256);
      const removed = known.filter((k) => !current.has(k.path));
      if (!explicit && changed.length === 0 && removed.length === 0) return null;

      records = files.flatMap((f) => parseFile(config, f));
      loadsWhole = !explicit;
      const dates = records.map((r) => r.date).filter((d): d is string => d !== null);
      for (const k of known) {
        if (k.minDate) dates.push(k.minDate);
        if (k.maxDate) dates.push(k.maxDate);
      }
      if (dates.length === 0) return null;
      dates.sort();
      ctx.log.info({ files: files.length, changed: changed.map((f) => f.path), removed: removed.map((k) => k.path), ...(newSettings ? { settings: 'changed' } : {}) }, 'csv input changed');
      // An explicit window (backfill) is honoured; rows outside it are quarantined as out of window.
      return explicit ? proposed : { from: dates[0]!, to: dates.at(-1)! };
    },

    /** Returns the files it read, which the framework keeps once the stream's days are committed. */
    async *read(): AsyncGenerator<CsvRecord[], CsvState | undefined> {
      // Unreadable lines first: they carry no date, and the framework wants dated rows in order.
      yield records.filter((r) => r.date === null);
      const dated = records.filter((r) => r.date !== null).sort((a, b) => (a.date! < b.date! ? -1 : a.date! > b.date! ? 1 : 0));
      const PAGE = 5_000;
      for (let i = 0; i < dated.length; i += PAGE) yield dated.slice(i, i + PAGE);
      return loadsWhole ? loadedState(files, records, settings) : undefined;
    },

    normalize(record: CsvRecord): Fact[] {
      const where = `${record.file} line ${record.line}`;
      if (record.malformed) throw new DataError(`${where}: ${record.malformed}`);
      if (record.date === null) {
        throw new DataError(`${where}: date "${record.fields[config.date.column] ?? ''}" in column "${config.date.column}" does not match format ${config.date.format}`);
      }
      const currency = config.currencyColumn ? (record.fields[config.currencyColumn] ?? '').trim().toUpperCase() || null : (config.currency ?? null);
      if (config.currencyColumn && currency !== null && !/^[A-Z]{3}$/.test(currency)) {
        throw new DataError(`${where}: currency "${currency}" in column "${config.currencyColumn}" is not a 3-letter code`);
      }
      const campaign = config.dimensions.campaign ? (record.fields[config.dimensions.campaign] ?? '').trim() : '';
      // A line without an id (an empty cell) is keyed by its name, like a file without the column.
      const campaignId = config.dimensions.campaignId ? (record.fields[config.dimensions.campaignId] ?? '').trim() : '';
      const channel = config.dimensions.channel ? (record.fields[config.dimensions.channel] ?? '').trim() : '';
      const out: Fact[] = [];
      for (const [metric, column] of Object.entries(config.metrics)) {
        const text = record.fields[column] ?? '';
        const value = parseNumber(text, config.decimalSeparator);
        if (value === null) continue;
        if (Number.isNaN(value)) throw new DataError(`${where}: "${text}" in column "${column}" (metric ${metric}) is not a number`);
        out.push({ date: record.date, campaign, campaignId, channel, metric, value, currency });
      }
      return out;
    },
  };
}

export const csvConnector = defineConnector({
  type: 'csv',
  configSchema: csvConfigSchema,
  defaultLookbackDays: 0,
  streams: (config) => [config.account],
  open: openCsv,
  discover: discoverCsv,
});
