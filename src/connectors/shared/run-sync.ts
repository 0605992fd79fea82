import type { Kysely } from 'kysely';
import { IANAZone } from 'luxon';
import { z } from 'zod';
import { ConfigError, DataError, errorMessage, isConfigError, isTransientError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { redactAndCut } from '../../core/secrets.ts';
import { meterRequests, newTally } from '../../core/request-meter.ts';
import {
  combineRows,
  finishRun,
  getCheckpoint,
  markStreamComplete,
  recordBackfillEnd,
  recordSyncStart,
  getStreamState,
  getStreamInfo,
  hasStoredRows,
  quarantine,
  releaseHeldDays,
  recordProgress,
  replaceSlice,
  saveCheckpoint,
  saveStreamState,
  saveStreamInfo,
  startRun,
  type Database,
  type FactRow,
  type QuarantinedRecord,
  type SyncRun,
  unstorableTextProblem,
} from '../../warehouse/index.ts';
import type { AnyConnector, Fact, SourceReader, StreamInfo } from './connector.ts';
import type { DateRange } from '../../core/dates.ts';
import { addDays, daysOf, isCalendarDate, maxDate, minDate, todayIn } from '../../core/dates.ts';
import { DEFAULT_MAX_DELETE_SHARE, HeldAnswerError, isHeldAnswer, judgeAnswer } from './delete-guard.ts';
import { settlingDaysOf } from '../catalog.ts';

export interface SyncTarget {
  name: string;
  type: string;
  startDate?: string | undefined;
  lookbackDays?: number | undefined;
  concurrency?: number | undefined;
  /** Most of a day's stored rows a new answer may drop before the day is held (delete-guard.ts). */
  maxDeleteShare?: number | undefined;
}

export interface SyncOptions {
  db: Kysely<Database>;
  connector: AnyConnector;
  config: SyncTarget;
  log: Logger;
  configDir?: string;
  /** An explicit window (backfill); otherwise [checkpoint - lookback, today] per stream. */
  window?: DateRange;
  trigger?: string;
  jobId?: string | null;
  signal?: AbortSignal;
  now?: () => Date;
  onDay?: (progress: { stream: string; date: string; window: DateRange }) => void;
  /** Apply answers that delete more than maxDeleteShare of a day (`kpi sync --allow-deletes`). */
  allowDeletes?: boolean;
}

/** What the stream's last commit carries besides its days. */
interface StreamEnd {
  /** The reader's new state; undefined keeps the stored one. */
  state: unknown;
  /** What the source said about the stream, when it is new: kept for the next sync's describe. */
  info?: StreamInfo;
}

export interface SyncResult {
  run: SyncRun;
  ok: boolean;
  error?: unknown;
}

const DEFAULT_INITIAL_DAYS = 30;
/** Rows of an answer judged together before they are applied (delete-guard.ts); bounds memory. */
const JUDGED_ROWS = 100_000;
const MAX_QUARANTINE_BATCH = 500;

/**
 * Dates a record may carry without being a mistake: from the connector's startDate (minus its
 * lookback; 2000-01-01 without one) to tomorrow in the account's zone. A sentinel such as
 * 9999-12-31 or a typo like 2226 is quarantined and never widens what a sync reads.
 */
export const EARLIEST_DATE = '2000-01-01';

/** Base-metric values beyond this are mistakes (no campaign spends 10^15 of anything); bounding them keeps every sum finite. */
export const MAX_FACT_MAGNITUDE = 1e15;

/** UTF-8 bytes of the key columns: Postgres refuses an index entry over about 2,700 bytes. */
const MAX_CAMPAIGN_BYTES = 1_500;
const MAX_CAMPAIGN_ID_BYTES = 300;
const MAX_CHANNEL_BYTES = 300;

function textProblem(field: string, value: string, maxBytes: number): string | null {
  const problem = unstorableTextProblem(value);
  if (problem) return `${field} ${problem}`;
  const bytes = Buffer.byteLength(value);
  return bytes > maxBytes ? `${field} is ${bytes} bytes long (at most ${maxBytes})` : null;
}

function checkFact(v: Fact, window: DateRange, valid: DateRange): string | null {
  // Values the source sent are quoted scrubbed, then cut: a cut first could leave a part of a
  // secret that the scrubber no longer recognises when the reason is stored.
  if (typeof v.metric !== 'string' || !/^[a-z][a-z0-9_]{0,99}$/.test(v.metric)) return `metric name "${redactAndCut(String(v.metric), 120)}" is not lower_snake_case of at most 100 characters`;
  if (typeof v.value !== 'number' || !Number.isFinite(v.value)) return `metric ${v.metric}: value ${String(v.value)} is not a finite number`;
  if (Math.abs(v.value) > MAX_FACT_MAGNITUDE) return `metric ${v.metric}: value ${v.value} is out of range (at most ${MAX_FACT_MAGNITUDE} in size)`;
  if (typeof v.date !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(v.date)) return `date "${String(v.date)}" is not YYYY-MM-DD`;
  // A source's 2026-02-30 sorts between real days, so the range checks let it through, and
  // the database then refuses the whole day it belongs to, on every sync.
  if (!isCalendarDate(v.date)) return `date ${v.date} is not a day of the calendar`;
  if (v.date < valid.from || v.date > valid.to) return `date ${v.date} is outside the dates this connector accepts (${valid.from}..${valid.to}: from its startDate minus lookback, or ${EARLIEST_DATE}, to tomorrow)`;
  if (v.date < window.from || v.date > window.to) return `date ${v.date} is outside the requested window ${window.from}..${window.to}`;
  if (v.currency !== undefined && v.currency !== null && !/^[A-Z]{3}$/.test(v.currency)) return `currency "${redactAndCut(String(v.currency), 20)}" is not a 3-letter code`;
  if (v.campaignId !== undefined && typeof v.campaignId !== 'string') return `campaign id ${redactAndCut(String(v.campaignId), 40)} is not a text`;
  return textProblem('campaign', v.campaign ?? '', MAX_CAMPAIGN_BYTES) ?? textProblem('campaign id', v.campaignId ?? '', MAX_CAMPAIGN_ID_BYTES) ?? textProblem('channel', v.channel ?? '', MAX_CHANNEL_BYTES);
}

/**
 * The state the stream's last successful sync left, for readers that keep one. A stored value
 * their schema no longer accepts (written by another version, edited by hand) is dropped: the
 * stream then reads as if for the first time, which costs time and loses nothing.
 */
async function storedState(opts: SyncOptions, reader: SourceReader<unknown, unknown>, stream: string): Promise<unknown> {
  if (!reader.stateSchema) return undefined;
  const stored = await getStreamState(opts.db, opts.config.name, stream);
  if (stored === undefined) return undefined;
  const parsed = reader.stateSchema.safeParse(stored);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  opts.log.warn({ stream, problem: `${issue?.path.join('.') || 'state'}: ${issue?.message ?? 'invalid'}` }, 'stored stream state does not fit this version; reading the stream as if for the first time');
  return undefined;
}

const storedInfoSchema = z.object({
  currency: z.string().nullable(),
  timeZone: z.string().refine((zone) => IANAZone.isValidZone(zone)),
});

/** What the source said about the stream at an earlier sync; anything that does not fit is ignored (the reader asks again). */
async function storedInfo(opts: SyncOptions, stream: string): Promise<StreamInfo | undefined> {
  const parsed = storedInfoSchema.safeParse(await getStreamInfo(opts.db, opts.config.name, stream));
  return parsed.success ? parsed.data : undefined;
}

/** Iterates `source` and keeps what it returns at the end in `out.value`. */
async function* keepingReturn<T, R>(source: AsyncIterable<T, R>, out: { value?: R }): AsyncGenerator<T, void, undefined> {
  out.value = yield* source;
}

/**
 * Reads one stream and commits it day by day. Each day (with the empty days before it) is
 * replaced and checkpointed in one transaction, so a crash resumes from the last whole day,
 * a retried window writes the same rows, and no reader ever sees half a day. The state the
 * reader returns commits with the last day: a sync that fails keeps the previous one.
 */
async function syncStream(opts: SyncOptions, reader: SourceReader<unknown, unknown>, stream: string, runId: number, flags: Record<string, unknown>): Promise<void> {
  const { db, config, log } = opts;
  const signal = opts.signal ?? new AbortController().signal;
  const known = await storedInfo(opts, stream);
  let info: StreamInfo = await reader.describe(stream, known);
  // A zone the source made up (an API's "Mars/Olympus", a typo) tells no day: every date from it
  // is invalid, and the sync would die on a checkpoint without a day, saying nothing useful.
  if (!IANAZone.isValidZone(info.timeZone)) {
    throw new ConfigError(`account ${stream}: the source gives its time zone as ${JSON.stringify(info.timeZone).slice(0, 80)}, which is not an IANA time zone (e.g. America/New_York): its days cannot be told; correct the account's time zone at the source`);
  }
  const now = opts.now?.() ?? new Date();
  const today = todayIn(info.timeZone, now);
  // The last day that can be complete: over, and older than the source's settling delay (and
  // two days more while the zone is a guess: two zones' dates can be that far apart). Asked at
  // each commit: a source that tells its zone on its first page (GA4) ends the guess there,
  // and a first sync must not leave its days incomplete for it (rules would wait for days).
  const completeDay = () => addDays(todayIn(info.timeZone, now), -1 - settlingDaysOf(config) - (info.provisional ? 2 : 0));
  const fileSource = reader.planWindow !== undefined;
  const checkpoint = await getCheckpoint(db, config.name, stream);
  const state = await storedState(opts, reader, stream);
  const lookback = config.lookbackDays ?? opts.connector.defaultLookbackDays(config);

  const earliest = config.startDate ? addDays(config.startDate, -lookback) : EARLIEST_DATE;
  // An explicit backfill may reach before startDate; the command line bounds how far.
  const valid: DateRange = { from: opts.window ? minDate(opts.window.from, earliest) : earliest, to: addDays(today, 1) };
  let window: DateRange;
  if (opts.window) window = { ...opts.window };
  else if (checkpoint) window = { from: addDays(checkpoint, -lookback), to: today };
  else window = { from: config.startDate ?? addDays(today, -((opts.connector.initialDays ?? DEFAULT_INITIAL_DAYS) - 1)), to: today };
  if (config.startDate && !opts.window) window.from = maxDate(window.from, config.startDate);
  if (reader.planWindow) {
    const planned = await reader.planWindow(stream, window, { explicit: opts.window !== undefined, state });
    if (!planned) {
      // Files unchanged: everything they hold is in, as of now.
      await markStreamComplete(db, config.name, stream, completeDay());
      log.info({ stream }, 'stream unchanged since the last sync; skipped');
      flags[`stream:${stream}`] = { currency: info.currency, timeZone: info.timeZone, skipped: 'unchanged' };
      return;
    }
    window = planned;
  }
  // Whatever a source or a file says, a sync never walks days outside the valid range.
  window = { from: maxDate(window.from, valid.from), to: minDate(window.to, valid.to) };
  if (window.from > window.to) return;

  flags[`stream:${stream}`] = { currency: info.currency, timeZone: info.timeZone, window };
  log.info({ stream, window, checkpoint: checkpoint ?? null }, 'reading stream');
  let saved = checkpoint;

  let pendingFrom = window.from; // first day not yet committed
  let openDay: string | null = null;
  let openRows: FactRow[] = [];
  let rejected: QuarantinedRecord[] = [];
  let read = 0;

  const flushQuarantine = async () => {
    if (rejected.length === 0) return;
    await quarantine(db, runId, rejected);
    await recordProgress(db, runId, { rowsRejected: rejected.length });
    rejected = [];
  };

  // Days committed one transaction each: a crash leaves whole days, and a retry writes the same rows.
  // `end` is set on the stream's last commit only, with the state the reader returned.
  const applyDays = async (lastDay: string, dates: string[], rows: FactRow[], settled: string[], end?: StreamEnd) => {
    // Backfills of old windows must not move a newer checkpoint backwards. The claim on the
    // connector means nobody else moves it during this sync, so the value read at the start holds.
    const advance = !saved || lastDay > saved;
    // The checkpoint and the run's counters commit with the day's facts: a crash leaves the
    // checkpoint exactly on the last whole day, and one commit (one WAL flush) per day instead of three.
    await replaceSlice(db, { connector: config.name, account: stream, dates }, rows, {
      syncRunId: runId,
      combined: true,
      within: async (trx, res) => {
        // Synced through lastDay; complete through it once the day is over and settled. Files
        // (sources that plan their own window) are whole once read to the end, whatever their last date.
        const complete = fileSource && end ? completeDay() : minDate(lastDay, completeDay());
        if (advance) await saveCheckpoint(trx, config.name, stream, lastDay, complete);
        // Read to its end without moving the cursor (the same day again, a file unchanged in
        // its dates): complete as of now. Not a backfill's end, which lies in the past.
        else if (end && !opts.window) await markStreamComplete(trx, config.name, stream, complete);
        // The checkpoint row exists by now: this commit made it, or the sync started from it.
        if (end?.state !== undefined) await saveStreamState(trx, config.name, stream, end.state);
        if (end?.info) await saveStreamInfo(trx, config.name, stream, { currency: end.info.currency, timeZone: end.info.timeZone });
        await releaseHeldDays(trx, config.name, stream, settled);
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
    opts.onDay?.({ stream, date: lastDay, window });
  };

  // Where the window already holds facts, the answer is judged before any of it is applied
  // (delete-guard.ts): days wait here, up to JUDGED_ROWS rows, and are judged together. A
  // scheduled sync's window always fits; a backfill over stored data is judged a part at a time.
  const judged = await hasStoredRows(db, config.name, stream, window.from, window.to);
  const scope = { connector: config.name, account: stream, maxShare: config.maxDeleteShare ?? DEFAULT_MAX_DELETE_SHARE, allowDeletes: opts.allowDeletes === true, runId };
  let waiting: Array<{ lastDay: string; dates: string[]; rows: FactRow[]; end?: StreamEnd }> = [];
  let waitingRows = 0;
  const judgeWaiting = async () => {
    if (waiting.length === 0) return;
    const batch = waiting;
    waiting = [];
    waitingRows = 0;
    const byDate = new Map<string, FactRow[]>();
    for (const b of batch) {
      for (const r of b.rows) {
        const list = byDate.get(r.date);
        if (list) list.push(r);
        else byDate.set(r.date, [r]);
      }
    }
    const days = batch.flatMap((b) => b.dates.map((date) => ({ date, rows: byDate.get(date) ?? [] })));
    const settled = await judgeAnswer(db, scope, days);
    for (const [i, b] of batch.entries()) await applyDays(b.lastDay, b.dates, b.rows, i === 0 ? settled : [], b.end);
  };

  const commitThrough = async (lastDay: string, rows: FactRow[], end?: StreamEnd) => {
    if (lastDay < pendingFrom) return;
    const dates = daysOf({ from: pendingFrom, to: lastDay });
    pendingFrom = addDays(lastDay, 1);
    const combined = combineRows(rows);
    if (!judged) return applyDays(lastDay, dates, combined, [], end);
    waiting.push({ lastDay, dates, rows: combined, ...(end ? { end } : {}) });
    waitingRows += combined.length;
    if (waitingRows >= JUDGED_ROWS) await judgeWaiting();
  };

  const ctx = {
    log: log.child({ stream }),
    signal,
    validDates: valid,
    state,
    flag: (name: string, value: unknown) => {
      flags[name] = value;
    },
    learn: (learned: Partial<StreamInfo>) => {
      const zone = learned.timeZone !== undefined && IANAZone.isValidZone(learned.timeZone) ? { timeZone: learned.timeZone, provisional: false } : {};
      info = { ...info, ...(learned.currency !== undefined ? { currency: learned.currency } : {}), ...zone };
    },
  };

  const returned: { value?: unknown } = {};
  for await (const page of keepingReturn(reader.read(stream, window, ctx), returned)) {
    if (signal.aborted) throw signal.reason ?? new Error('sync aborted');
    for (const raw of page) {
      read++;
      const parsed = reader.recordSchema.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        rejected.push({ connector: config.name, stream, reason: `${issue?.path.join('.') || 'record'}: ${issue?.message ?? 'invalid'}`, record: raw });
        continue;
      }
      let values: Fact[];
      try {
        values = reader.normalize(parsed.data, stream, info);
      } catch (err) {
        if (!(err instanceof DataError)) throw err;
        rejected.push({ connector: config.name, stream, reason: err.message, record: raw });
        continue;
      }
      const problem = values.map((v) => checkFact(v, window, valid)).find((p) => p !== null);
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
          campaignId: v.campaignId ?? '',
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
  // The source is exhausted: the open day is whole, and days after it had no data at all. This
  // commit ends at window.to, which no earlier one reached (every record is dated within the
  // window), so the reader's new state rides on the stream's last transaction.
  const learnt = !info.provisional && (info.currency !== known?.currency || info.timeZone !== known?.timeZone);
  flags[`stream:${stream}`] = { currency: info.currency, timeZone: info.timeZone, window };
  await commitThrough(window.to, openRows, { state: reader.stateSchema ? returned.value : undefined, ...(learnt ? { info } : {}) });
  await judgeWaiting();
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
  if (isHeldAnswer(err)) return 'held';
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
  // Every request the run makes, however deep (token requests included), counts here.
  const tally = newTally();
  let reader: SourceReader<unknown, unknown> | undefined;
  let backfill = false;
  try {
    reader = await meterRequests(tally, async () => connector.open(config, { log: runLog, signal: opts.signal ?? new AbortController().signal, configDir: opts.configDir ?? process.cwd() }));
    const streams = connector.streams(config);
    // The streams every day must be synced by to count as complete, and the days a backfill is rewriting meanwhile.
    await recordSyncStart(db, config.name, streams, opts.window ? { runId, from: opts.window.from } : null);
    backfill = opts.window !== undefined;
    const held: HeldAnswerError[] = [];
    await mapLimit(streams, Math.max(1, config.concurrency ?? 2), async (stream) => {
      try {
        await meterRequests(tally, () => syncStream({ ...opts, log: runLog }, reader!, stream, runId, flags));
      } catch (err) {
        // A held answer is one account's: the connector's other accounts are read and written
        // all the same, or an account whose answers keep changing would starve them.
        if (!isHeldAnswer(err)) throw err;
        held.push(err);
      }
    });
    if (held.length > 0) throw held.length === 1 ? held[0] : new HeldAnswerError(held.map((h) => h.message).join(' '), held.flatMap((h) => h.days));
    await recordProgress(db, runId, { flags });
    const run = await finishRun(db, runId, { status: 'succeeded', requests: tally.requests, quota: tally.quota });
    runLog.info({ rowsRead: run.rows_read, rowsWritten: run.rows_written, rowsRejected: run.rows_rejected, requests: run.requests, ms: Date.now() - started }, 'sync succeeded');
    return { run, ok: true };
  } catch (err) {
    await recordProgress(db, runId, { flags }).catch(() => {});
    const run = await finishRun(db, runId, { status: isHeldAnswer(err) ? 'held' : 'failed', error: err, errorKind: errorKind(err), requests: tally.requests, quota: tally.quota });
    runLog.warn({ err: errorMessage(err), kind: run.error_kind, ms: Date.now() - started }, 'sync failed');
    return { run, ok: false, error: err };
  } finally {
    if (backfill) await recordBackfillEnd(db, config.name, runId).catch((err: unknown) => runLog.warn({ err: errorMessage(err) }, 'could not clear the backfill mark; its days count as incomplete until the next sync of this connector'));
    await reader?.close?.();
  }
}
