import type { Kysely } from 'kysely';
import { daysOf, type DateRange } from '../core/dates.ts';
import { owedRanges, type MetricsConfig } from '../metrics/index.ts';
import { cutText, redactSecrets } from '../core/secrets.ts';
import { describeQuota } from '../core/request-meter.ts';
import { listRuns, type Database, type SyncRun } from '../warehouse/index.ts';
import { loadCheckedConfig, openConfiguredWarehouse } from './context.ts';
import { ExitCode, line, type CliIo } from './io.ts';
import { dataTable } from './table.ts';

export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes}m ${Math.round((ms % 60_000) / 1_000)}s`;
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}

export function shorten(text: string | null | undefined, max = 60): string {
  if (!text) return '';
  // Scrubbed again, before the whitespace is collapsed and the text cut: a row written
  // before a secret was known to this process.
  return cutText(redactSecrets(text).replace(/\s+/g, ' ').trim(), max);
}

/** A scheduled run has no window of its own; each stream's window is in its flags. */
function windowOf(run: SyncRun): string {
  if (run.window_from && run.window_to) return `${run.window_from}..${run.window_to}`;
  const windows = Object.entries(run.flags ?? {})
    .filter(([k]) => k.startsWith('stream:'))
    .map(([, v]) => (v as { window?: { from: string; to: string } }).window)
    .filter((w): w is { from: string; to: string } => !!w);
  if (windows.length === 0) return '';
  const from = windows.map((w) => w.from).sort()[0]!;
  const to = windows.map((w) => w.to).sort().at(-1)!;
  return `${from}..${to}`;
}

function durationOf(run: SyncRun, now: Date): string {
  const start = new Date(run.started_at).getTime();
  if (!run.finished_at) return `${formatDuration(now.getTime() - start)} so far`;
  return formatDuration(new Date(run.finished_at).getTime() - start);
}

function runsTable(runs: SyncRun[], now = new Date()): string {
  const table = dataTable(['id', 'connector', 'status', 'window', 'read', 'written', 'deleted', 'rejected', 'requests', 'quota', 'duration', 'error']);
  for (const r of runs) {
    table.push([
      String(r.id),
      r.connector,
      r.status,
      windowOf(r),
      String(r.rows_read),
      String(r.rows_written),
      String(r.rows_deleted),
      String(r.rows_rejected),
      String(r.requests),
      describeQuota(r.quota),
      durationOf(r, now),
      shorten(r.error),
    ]);
  }
  return table.toString();
}

/** A line saying on which days the KPI values are behind their facts, or null when none are. */
export async function owedSummary(db: Kysely<Database>, config: MetricsConfig): Promise<string | null> {
  return owedLine(await owedRanges(db, config));
}

/** The line `kpi runs` and `kpi status` print for the owed ranges, or null when there are none. */
export function owedLine(owed: readonly DateRange[]): string | null {
  if (owed.length === 0) return null;
  const days = owed.reduce((n, r) => n + daysOf(r).length, 0);
  const shown = owed.slice(0, 3).map((r) => (r.from === r.to ? r.from : `${r.from}..${r.to}`));
  return `KPI values are behind their facts on ${days} day${days === 1 ? '' : 's'} (${shown.join(', ')}${owed.length > 3 ? ', …' : ''}): the next sync or start recomputes them, or run \`kpi recompute\` now`;
}

export async function runsCommand(io: CliIo, file: string, options: { connector?: string; limit?: number }): Promise<number> {
  const config = loadCheckedConfig(file, io);
  const wh = await openConfiguredWarehouse(config, io);
  try {
    const runs = await listRuns(wh.db, { ...(options.connector ? { connector: options.connector } : {}), limit: options.limit ?? 20 });
    if (runs.length === 0) {
      line(io, options.connector ? `no sync runs of ${options.connector} yet` : 'no sync runs yet');
      return ExitCode.ok;
    }
    line(io, runsTable(runs));
    const behind = await owedSummary(wh.db, config);
    if (behind) line(io, behind);
    return ExitCode.ok;
  } finally {
    await wh.close();
  }
}
