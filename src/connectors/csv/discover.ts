import { errorMessage, isConfigError } from '../../core/errors.ts';
import type { OpenContext } from '../shared/connector.ts';
import type { Discovery, SeenAccount } from '../shared/discover.ts';
import type { CsvConfig } from './config.ts';
import { listFiles } from './files.ts';
import { parseFile } from './parse.ts';

/**
 * Which files the path or glob finds, each read as a sync would: its data rows, the lines
 * whose date does not read, the days it covers, and whether it has every configured column.
 */
export async function discoverCsv(config: CsvConfig, ctx: OpenContext): Promise<Discovery> {
  const files = listFiles(config.path, ctx.configDir, config.name);
  const accounts: SeenAccount[] = [];
  const problems: string[] = [];
  for (const file of files) {
    try {
      const records = parseFile(config, file);
      const dates = records.map((r) => r.date).filter((d): d is string => d !== null).sort();
      accounts.push({
        id: file.path,
        currency: config.currency ?? null,
        details: { rows: records.length, unreadable: records.length - dates.length, dates: dates.length > 0 ? `${dates[0]}..${dates.at(-1)}` : null },
        configured: true,
        accessible: true,
      });
    } catch (err) {
      if (!isConfigError(err)) throw err;
      problems.push(errorMessage(err));
      accounts.push({ id: file.path, details: { rows: null, unreadable: null, dates: null }, configured: true, accessible: false });
    }
  }
  if (files.length === 0) problems.push(`no file matches path "${config.path}"`);
  const summary = `${files.length} file${files.length === 1 ? '' : 's'} readable`;
  return { kind: 'file', accounts, problems, notes: [], summary, configLines: files.length > 0 ? { path: config.path } : {} };
}
