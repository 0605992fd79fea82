import { z } from 'zod';
import { DataError } from '../../errors.ts';
import type { Connector, DateWindow, FactValue, OpenContext, SourceReader } from '../shared/connector.ts';
import type { CsvConfig } from './config.ts';
import { listFiles, type SourceFile } from './files.ts';
import { parseFile, parseNumber, type CsvRecord } from './parse.ts';

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
function openCsv(config: CsvConfig, ctx: OpenContext): SourceReader<CsvRecord> {
  let files: SourceFile[] = [];
  let records: CsvRecord[] = [];
  /** Whether this sync read the files; a skipped sync leaves the bookkeeping as it was. */
  let loaded = false;

  return {
    recordSchema: csvRecordSchema,
    async describe() {
      return { currency: config.currency ?? null, timeZone: config.timezone };
    },

    async planWindow(_stream: string, proposed: DateWindow, explicit: boolean) {
      files = listFiles(config.path, ctx.configDir, config.name);
      const known = await ctx.db.selectFrom('source_files').selectAll().where('connector', '=', config.name).execute();
      const knownByPath = new Map(known.map((k) => [k.path, k]));
      const current = new Set(files.map((f) => f.path));
      const changed = files.filter((f) => knownByPath.get(f.path)?.sha256 !== f.sha256);
      const removed = known.filter((k) => !current.has(k.path));
      if (!explicit && changed.length === 0 && removed.length === 0) return null;

      records = files.flatMap((f) => parseFile(config, f));
      loaded = true;
      const dates = records.map((r) => r.date).filter((d): d is string => d !== null);
      for (const k of known) {
        if (k.min_date) dates.push(k.min_date);
        if (k.max_date) dates.push(k.max_date);
      }
      if (dates.length === 0) return null;
      dates.sort();
      ctx.log.info({ files: files.length, changed: changed.map((f) => f.path), removed: removed.map((k) => k.path) }, 'csv input changed');
      // An explicit window (backfill) is honoured; rows outside it are quarantined as out of window.
      return explicit ? proposed : { from: dates[0]!, to: dates.at(-1)! };
    },

    async *read() {
      // Unreadable lines first: they carry no date, and the framework wants dated rows in order.
      yield records.filter((r) => r.date === null);
      const dated = records.filter((r) => r.date !== null).sort((a, b) => (a.date! < b.date! ? -1 : a.date! > b.date! ? 1 : 0));
      const PAGE = 5_000;
      for (let i = 0; i < dated.length; i += PAGE) yield dated.slice(i, i + PAGE);
    },

    normalize(record: CsvRecord): FactValue[] {
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
      const channel = config.dimensions.channel ? (record.fields[config.dimensions.channel] ?? '').trim() : '';
      const out: FactValue[] = [];
      for (const [metric, column] of Object.entries(config.metrics)) {
        const text = record.fields[column] ?? '';
        const value = parseNumber(text, config.decimalSeparator);
        if (value === null) continue;
        if (Number.isNaN(value)) throw new DataError(`${where}: "${text}" in column "${column}" (metric ${metric}) is not a number`);
        out.push({ date: record.date, campaign, channel, metric, value, currency });
      }
      return out;
    },

    async afterSync() {
      if (!loaded) return;
      const bounds = new Map<string, { min: string | null; max: string | null; rows: number }>();
      for (const f of files) bounds.set(f.path, { min: null, max: null, rows: 0 });
      for (const r of records) {
        const b = bounds.get(r.file)!;
        b.rows++;
        if (r.date && (!b.min || r.date < b.min)) b.min = r.date;
        if (r.date && (!b.max || r.date > b.max)) b.max = r.date;
      }
      await ctx.db.transaction().execute(async (trx) => {
        await trx.deleteFrom('source_files').where('connector', '=', config.name).execute();
        if (files.length === 0) return;
        await trx
          .insertInto('source_files')
          .values(files.map((f) => ({ connector: config.name, path: f.path, sha256: f.sha256, size: f.size, min_date: bounds.get(f.path)!.min, max_date: bounds.get(f.path)!.max, rows: bounds.get(f.path)!.rows, loaded_at: new Date() })))
          .execute();
      });
    },
  };
}

export const csvConnector: Connector<CsvConfig, CsvRecord> = {
  type: 'csv',
  defaultLookbackDays: () => 0,
  streams: (config) => [config.account],
  open: openCsv,
};
