import Table from 'cli-table3';
import { listRuns, type SyncRun } from '../warehouse/index.ts';
import { loadCheckedConfig, openConfiguredWarehouse } from './context.ts';
import { ExitCode, line, type CliIo } from './io.ts';

export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes}m ${Math.round((ms % 60_000) / 1_000)}s`;
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}

export function shorten(text: string | null | undefined, max = 60): string {
  if (!text) return '';
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
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

export function runsTable(runs: SyncRun[], now = new Date()): string {
  const table = new Table({
    head: ['id', 'connector', 'status', 'window', 'read', 'written', 'rejected', 'duration', 'error'],
    style: { head: [], border: [] },
  });
  for (const r of runs) {
    table.push([String(r.id), r.connector, r.status, windowOf(r), String(r.rows_read), String(r.rows_written), String(r.rows_rejected), durationOf(r, now), shorten(r.error)]);
  }
  return table.toString();
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
    return ExitCode.ok;
  } finally {
    await wh.close();
  }
}
