import { parse } from 'csv-parse/sync';
import { DateTime } from 'luxon';
import { ConfigError } from '../../core/errors.ts';
import type { CsvConfig } from './config.ts';
import type { SourceFile } from './files.ts';

/** One line of a file, as the framework sees it before normalizing. */
export interface CsvRecord {
  file: string;
  line: number;
  /** The line's date as YYYY-MM-DD, or null when it could not be read (quarantined). */
  date: string | null;
  fields: Record<string, string>;
  /** Why the line could not be split into fields, if it could not. */
  malformed?: string;
}

export function parseNumber(text: string, decimalSeparator: '.' | ','): number | null {
  let t = text.trim().replace(/[\s\u00a0']/g, '');
  if (t === '') return null;
  t = decimalSeparator === ',' ? t.replace(/\./g, '').replace(',', '.') : t.replace(/,/g, '');
  if (!/^[-+]?\d+(\.\d+)?$/.test(t) && !/^[-+]?\.\d+$/.test(t)) return Number.NaN;
  return Number(t);
}

export function parseDate(text: string, format: string): string | null {
  const dt = DateTime.fromFormat(text.trim(), format, { zone: 'UTC' });
  return dt.isValid ? dt.toISODate() : null;
}

function checkColumns(config: CsvConfig, file: SourceFile, header: string[]): void {
  const wanted: Array<[string, string]> = [
    ['date.column', config.date.column],
    ...Object.entries(config.dimensions).filter((e): e is [string, string] => typeof e[1] === 'string').map(([k, v]) => [`dimensions.${k}`, v] as [string, string]),
    ...Object.entries(config.metrics).map(([k, v]) => [`metrics.${k}`, v] as [string, string]),
    ...(config.currencyColumn ? [['currencyColumn', config.currencyColumn] as [string, string]] : []),
  ];
  const missing = wanted.filter(([, column]) => !header.includes(column));
  if (missing.length > 0) {
    throw new ConfigError(
      missing.map(([field, column]) => ({
        path: `connector "${config.name}" ${field}`,
        message: `column "${column}" is not in ${file.path} (its columns: ${header.map((h) => `"${h}"`).join(', ')})`,
      })),
    );
  }
}

/** Splits a file into records; lines that cannot be split become records that say why. */
export function parseFile(config: CsvConfig, file: SourceFile): CsvRecord[] {
  const out: CsvRecord[] = [];
  let header: string[] | null = null;
  // The line each record ended on, in record order: where a quarantined line is to be found.
  const lines: number[] = [];
  const rows = parse(file.text, {
    delimiter: config.delimiter,
    bom: true,
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    on_record: (record, context) => {
      lines.push(context.lines);
      return record;
    },
    on_skip: (err) => {
      out.push({ file: file.path, line: typeof err?.lines === 'number' ? err.lines : 0, date: null, fields: {}, malformed: err?.message ?? 'unreadable line' });
      return undefined;
    },
  });
  for (const [index, record] of rows.entries()) {
    const line = lines[index]!;
    if (!header) {
      header = record.map((h) => h.trim());
      checkColumns(config, file, header);
      continue;
    }
    if (record.length !== header.length) {
      out.push({ file: file.path, line, date: null, fields: {}, malformed: `expected ${header.length} fields, found ${record.length}` });
      continue;
    }
    const fields: Record<string, string> = {};
    header.forEach((h, i) => (fields[h] = record[i] ?? ''));
    out.push({ file: file.path, line, date: parseDate(fields[config.date.column] ?? '', config.date.format), fields });
  }
  if (!header) throw new ConfigError(`connector "${config.name}": ${file.path} is empty (expected a header line)`);
  return out;
}
