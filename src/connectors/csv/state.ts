import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { CsvConfig } from './config.ts';
import type { SourceFile } from './files.ts';
import type { CsvRecord } from './parse.ts';

/** A file as the last successful sync loaded it. */
const loadedFileSchema = z.object({
  /** Relative to the config folder, as shown to people. */
  path: z.string(),
  sha256: z.string(),
  size: z.number(),
  rows: z.number(),
  /** The dates its lines covered; null when no line had a readable date. */
  minDate: z.string().nullable(),
  maxDate: z.string().nullable(),
});

/**
 * What a csv stream keeps between syncs: the files it loaded, so an unchanged set is skipped
 * and the dates of a changed or removed file are replaced, and the settings it read them with,
 * so that a new column mapping or date format reads them again.
 */
export const csvStateSchema = z.object({
  files: z.array(loadedFileSchema),
  /** Digest of the reading settings (readingSettings); absent in state carried over from before it was kept. */
  settings: z.string().optional(),
});

export type CsvState = z.infer<typeof csvStateSchema>;
export type LoadedFile = z.infer<typeof loadedFileSchema>;

/** Digest of the settings that decide what a file's lines become: a change means every file reads differently. */
export function readingSettings(config: CsvConfig): string {
  const metrics = Object.entries(config.metrics).sort(([a], [b]) => (a < b ? -1 : 1));
  const settings: unknown[] = [config.delimiter, config.decimalSeparator, config.date, config.dimensions.campaign ?? null, config.dimensions.channel ?? null, metrics, config.currency ?? null, config.currencyColumn ?? null];
  // Added only when mapped, so the digest of a config without it is what it was before the option existed.
  if (config.dimensions.campaignId !== undefined) settings.push({ campaignId: config.dimensions.campaignId });
  return createHash('sha256').update(JSON.stringify(settings)).digest('hex');
}

/** The state after loading `files`, whose lines are `records`, with `settings`. */
export function loadedState(files: SourceFile[], records: CsvRecord[], settings: string): CsvState {
  const byPath = new Map<string, LoadedFile>(files.map((f) => [f.path, { path: f.path, sha256: f.sha256, size: f.size, rows: 0, minDate: null, maxDate: null }]));
  for (const r of records) {
    const file = byPath.get(r.file)!;
    file.rows++;
    if (r.date && (!file.minDate || r.date < file.minDate)) file.minDate = r.date;
    if (r.date && (!file.maxDate || r.date > file.maxDate)) file.maxDate = r.date;
  }
  return { files: [...byPath.values()], settings };
}
