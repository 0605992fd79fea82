import type { Kysely } from 'kysely';
import { DataError, errorMessage, isConfigError, isTransientError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import {
  finishRun,
  getCheckpoint,
  quarantine,
  recordProgress,
  replaceSlice,
  saveCheckpoint,
  startRun,
  type Database,
  type MetricRow,
  type QuarantinedRecord,
  type SyncRun,
} from '../../warehouse/index.ts';
import type { AnyConnector, DateWindow, FactValue, SourceReader, StreamInfo } from './connector.ts';
import { addDays, daysOf, maxDate, todayIn } from './dates.ts';

export interface SyncTarget {
  name: string;
  type: string;
  startDate?: string | undefined;
  lookbackDays?: number | undefined;
  concurrency?: number | undefined;
}

export interface SyncOptions {
  db: Kysely<Database>;
  connector: AnyConnector;
  config: SyncTarget;
  log: Logger;
  configDir?: string;
  /** An explicit window (backfill); otherwise [checkpoint - lookback, today] per stream. */
  window?: DateWindow;
  trigger?: string;
  jobId?: string | null;
  signal?: AbortSignal;
  now?: () => Date;
  onDay?: (progress: { stream: string; date: string; window: DateWindow }) => void;
}

export interface SyncResult {
  run: SyncRun;
  ok: boolean;
  error?: unknown;
}

const DEFAULT_INITIAL_DAYS = 30;
const MAX_QUARANTINE_BATCH = 500;

function checkFact(v: FactValue, window: DateWindow): string | null {
  if (typeof v.metric !== 'string' || !/^[a-z][a-z0-9_]*$/.test(v.metric)) return `metric name "${String(v.metric)}" is not lower_snake_case`;
  if (typeof v.value !== 'number' || !Number.isFinite(v.value)) return `metric ${v.metric}: value ${String(v.value)} is not a finite number`;
  if (typeof v.date !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(v.date)) return `date "${String(v.date)}" is not YYYY-MM-DD`;
  if (v.date < window.from || v.date > window.to) return `date ${v.date} is outside the requested window ${window.from}..${window.to}`;
  return null;
}

/**
 * Reads one stream and commits it day by day. Each day (with the empty days before it) is
 * replaced and checkpointed in one transaction, so a crash resumes from the last whole day,
 * a retried window writes the same rows, and no reader ever sees half a day.
 */
async function syncStream(opts: SyncOptions, reader: SourceReader<unknown>, stream: string, runId: number, flags: Record<string, unknown>): Promise<void> {
  const { db, config, log } = opts;
  const signal = opts.signal ?? new AbortController().signal;
  const info: StreamInfo = await reader.describe(stream);
  const today = todayIn(info.timeZone, opts.now?.() ?? new Date());
  const checkpoint = await getCheckpoint(db, config.name, stream);
  const lookback = config.lookbackDays ?? opts.connector.defaultLookbackDays(config);

  let window: DateWindow;
  if (opts.window) window = opts.window;
  else if (checkpoint) window = { from: addDays(checkpoint, -lookback), to: today };
  else window = { from: config.startDate ?? addDays(today, -((opts.connector.initialDays ?? DEFAULT_INITIAL_DAYS) - 1)), to: today };
  if (config.startDate && !opts.window) window.from = maxDate(window.from, config.startDate);
  if (reader.planWindow) {
    const planned = await reader.planWindow(stream, window, opts.window !== undefined);
    if (!planned) {
      log.info({ stream }, 'stream unchanged since the last sync; skipped');
      flags[`stream:${stream}`] = { currency: info.currency, timeZone: info.timeZone, skipped: 'unchanged' };
      return;
    }
    window = planned;
  }
  if (window.from > window.to) return;

  flags[`stream:${stream}`] = { currency: info.currency, timeZone: info.timeZone, window };
  log.info({ stream, window, checkpoint: checkpoint ?? null }, 'reading stream');
  let saved = checkpoint;

  let pendingFrom = window.from; // first day not yet committed
  let openDay: string | null = null;
  let openRows: MetricRow[] = [];
  let rejected: QuarantinedRecord[] = [];
  let read = 0;

  const flushQuarantine = async () => {
    if (rejected.length === 0) return;
    await quarantine(db, runId, rejected);
    await recordProgress(db, runId, { rowsRejected: rejected.length });
    rejected = [];
  };

  const commitThrough = async (lastDay: string, rows: MetricRow[]) => {
    if (lastDay < pendingFrom) return;
    const dates = daysOf({ from: pendingFrom, to: lastDay });
    // Backfills of old windows must not move a newer checkpoint backwards. The claim on the
    // connector means nobody else moves it during this sync, so the value read at the start holds.
    const advance = !saved || lastDay > saved;
    // The checkpoint and the run's counters commit with the day's facts: a crash leaves the
    // checkpoint exactly on the last whole day, and one commit (one WAL flush) per day instead of three.
    await replaceSlice(db, { connector: config.name, account: stream, dates }, rows, {
      syncRunId: runId,
      within: async (trx, res) => {
        if (advance) await saveCheckpoint(trx, config.name, stream, lastDay);
        const touched = [...res.touched].sort();
        // Last: the run row is shared by the streams syncing side by side, so its row lock is
        // held only from here to the commit.
        await recordProgress(trx, runId, {
          rowsRead: read,
          rowsWritten: res.written,
          rowsDeleted: res.deleted,
          touched: touched.length ? { from: touched[0]!, to: touched.at(-1)! } : null,
        });
      },
    });
    read = 0;
    if (advance) saved = lastDay;
    pendingFrom = addDays(lastDay, 1);
    opts.onDay?.({ stream, date: lastDay, window });
  };

  const ctx = {
    log: log.child({ stream }),
    signal,
    flag: (name: string, value: unknown) => {
      flags[name] = value;
    },
  };

  for await (const page of reader.read(stream, window, ctx)) {
    if (signal.aborted) throw signal.reason ?? new Error('sync aborted');
    for (const raw of page) {
      read++;
      const parsed = reader.recordSchema.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        rejected.push({ connector: config.name, stream, reason: `${issue?.path.join('.') || 'record'}: ${issue?.message ?? 'invalid'}`, record: raw });
        continue;
      }
      let values: FactValue[];
      try {
        values = reader.normalize(parsed.data, stream, info);
      } catch (err) {
        if (!(err instanceof DataError)) throw err;
        rejected.push({ connector: config.name, stream, reason: err.message, record: raw });
        continue;
      }
      const problem = values.map((v) => checkFact(v, window)).find((p) => p !== null);
      if (problem) {
        rejected.push({ connector: config.name, stream, reason: problem, record: raw });
        continue;
      }
      for (const v of values) {
        if (v.date < pendingFrom) {
          throw new Error(`connector ${config.type} returned ${v.date} after that day was committed; records must come in ascending date order`);
        }
        if (openDay !== null && v.date > openDay) {
          await commitThrough(openDay, openRows);
          openRows = [];
        }
        openDay = v.date;
        openRows.push({
          date: v.date,
          connector: config.name,
          account: stream,
          campaign: v.campaign ?? '',
          channel: v.channel ?? '',
          metric: v.metric,
          value: v.value,
          currency: v.currency === undefined ? info.currency : v.currency,
        });
      }
      if (rejected.length >= MAX_QUARANTINE_BATCH) await flushQuarantine();
    }
    await flushQuarantine();
  }
  // The source is exhausted: the open day is whole, and days after it had no data at all.
  await commitThrough(window.to, openRows);
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && failure === undefined) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failure ??= err;
      }
    }
  });
  await Promise.all(workers);
  if (failure !== undefined) throw failure;
}

function errorKind(err: unknown): string {
  if (isConfigError(err)) return 'config';
  if (isTransientError(err)) return 'transient';
  return 'internal';
}

/** One sync of one connector: all its streams, one run row, counts and errors recorded. */
export async function runSync(opts: SyncOptions): Promise<SyncResult> {
  const { db, connector, config } = opts;
  const log = opts.log.child({ connector: config.name });
  const runId = await startRun(db, { connector: config.name, trigger: opts.trigger ?? 'manual', jobId: opts.jobId ?? null, window: opts.window ?? null });
  const runLog = log.child({ runId });
  const flags: Record<string, unknown> = {};
  const started = Date.now();
  let reader: SourceReader<unknown> | undefined;
  try {
    reader = await connector.open(config, { log: runLog, signal: opts.signal ?? new AbortController().signal, configDir: opts.configDir ?? process.cwd(), db });
    const streams = connector.streams(config);
    await mapLimit(streams, Math.max(1, config.concurrency ?? 2), (stream) => syncStream({ ...opts, log: runLog }, reader!, stream, runId, flags));
    await reader.afterSync?.(runId);
    await recordProgress(db, runId, { flags });
    const run = await finishRun(db, runId, { status: 'succeeded' });
    runLog.info({ rowsRead: run.rows_read, rowsWritten: run.rows_written, rowsRejected: run.rows_rejected, ms: Date.now() - started }, 'sync succeeded');
    return { run, ok: true };
  } catch (err) {
    await recordProgress(db, runId, { flags }).catch(() => {});
    const run = await finishRun(db, runId, { status: 'failed', error: err, errorKind: errorKind(err) });
    runLog.warn({ err: errorMessage(err), kind: run.error_kind, ms: Date.now() - started }, 'sync failed');
    return { run, ok: false, error: err };
  } finally {
    await reader?.close?.();
  }
}
