import { sql, type Kysely } from 'kysely';
import { redactAndCut } from '../core/secrets.ts';
import { storableJson, storableText } from './storable.ts';
import type { Database, DateString, SyncRun, SyncRunStatus } from './tables.ts';

interface StartRun {
  connector: string;
  trigger: string;
  jobId?: string | null;
  window?: { from: DateString; to: DateString } | null;
}

/** The columns every new run row starts with. */
function newRun(run: StartRun, at: Date) {
  return { connector: run.connector, trigger: run.trigger, job_id: run.jobId ?? null, window_from: run.window?.from ?? null, window_to: run.window?.to ?? null, started_at: at, heartbeat_at: at };
}

export async function startRun(db: Kysely<Database>, run: StartRun): Promise<number> {
  const row = await db
    .insertInto('sync_runs')
    .values({ ...newRun(run, new Date()), status: 'running' })
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

interface RunProgress {
  rowsRead?: number;
  rowsWritten?: number;
  rowsDeleted?: number;
  rowsRejected?: number;
  touched?: { from: DateString; to: DateString } | null;
  window?: { from: DateString; to: DateString };
  flags?: Record<string, unknown>;
}

/** Adds to the run's counters and proves it is alive. */
export async function recordProgress(db: Kysely<Database>, runId: number, p: RunProgress): Promise<void> {
  await db
    .updateTable('sync_runs')
    .set((eb) => ({
      rows_read: eb('rows_read', '+', p.rowsRead ?? 0),
      rows_written: eb('rows_written', '+', p.rowsWritten ?? 0),
      rows_deleted: eb('rows_deleted', '+', p.rowsDeleted ?? 0),
      rows_rejected: eb('rows_rejected', '+', p.rowsRejected ?? 0),
      heartbeat_at: new Date(),
      ...(p.touched
        ? {
            touched_from: sql<string>`least(touched_from, ${p.touched.from}::date)`,
            touched_to: sql<string>`greatest(touched_to, ${p.touched.to}::date)`,
          }
        : {}),
      ...(p.window ? { window_from: p.window.from, window_to: p.window.to } : {}),
      ...(p.flags ? { flags: sql<string>`flags || ${storableJson(p.flags, Number.MAX_SAFE_INTEGER)}::jsonb` } : {}),
    }))
    .where('id', '=', runId)
    .execute();
}

const MAX_ERROR_CHARS = 4000;

interface RunOutcome {
  status: Exclude<SyncRunStatus, 'running'>;
  error?: unknown;
  errorKind?: string;
  /** What the run asked of its source (src/core/request-meter.ts). */
  requests?: number;
  quota?: Record<string, number>;
}

export async function finishRun(db: Kysely<Database>, runId: number, outcome: RunOutcome): Promise<SyncRun> {
  // A source's error text can hold anything, a NUL byte included, and the run must still close.
  const message = outcome.error === undefined ? null : storableText(redactAndCut(outcome.error instanceof Error ? outcome.error.message : String(outcome.error), MAX_ERROR_CHARS));
  return db
    .updateTable('sync_runs')
    .set({
      status: outcome.status,
      finished_at: new Date(),
      heartbeat_at: new Date(),
      error: message,
      error_kind: outcome.errorKind ?? null,
      ...(outcome.requests !== undefined ? { requests: outcome.requests } : {}),
      ...(outcome.quota !== undefined ? { quota: JSON.stringify(outcome.quota) } : {}),
    })
    .where('id', '=', runId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * A job that was not run because its connector is no longer in the configuration: a finished
 * row of its own, so `kpi runs` says what became of the job rather than nothing at all.
 */
export async function recordSkippedRun(db: Kysely<Database>, run: StartRun & { error: string; errorKind: string }): Promise<SyncRun> {
  const now = new Date();
  return db
    .insertInto('sync_runs')
    .values({ ...newRun(run, now), status: 'skipped', finished_at: now, error: storableText(redactAndCut(run.error, MAX_ERROR_CHARS)), error_kind: run.errorKind })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * How long a running run may go without a heartbeat before it counts as dead (its process was
 * killed): `kpi start` closes such runs as abandoned, `kpi status` warns about one meanwhile.
 */
export const STALE_RUN_MS = 3_600_000;

/**
 * A worker killed mid-run cannot close its run; any run whose heartbeat is older than
 * `staleAfterMs` is marked abandoned so nothing stays 'running' forever.
 */
export async function abandonStaleRuns(db: Kysely<Database>, staleAfterMs: number, connector?: string): Promise<number> {
  const cutoff = new Date(Date.now() - staleAfterMs);
  let q = db
    .updateTable('sync_runs')
    .set({ status: 'abandoned', finished_at: new Date(), error: 'worker stopped before the run finished (no heartbeat)', error_kind: 'abandoned' })
    .where('status', '=', 'running')
    .where('heartbeat_at', '<', cutoff);
  if (connector) q = q.where('connector', '=', connector);
  const res = await q.executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/**
 * For the holder of a connector's claim, before it syncs: the runs of the connector still
 * marked running (their worker is dead, since the caller holds the claim), and the dates
 * that dead runs had already changed. Nothing recomputed those dates (the worker died before
 * it started the chain) and the next sync re-reads them unchanged, so it must carry them into
 * its own chain. Dead runs are those still running, those abandoned since the connector's
 * last run that finished (its chain carried everything before it), and earlier attempts of
 * the same job (a worker that died after finishing its run but before starting the chain).
 */
export async function unfinishedRuns(db: Kysely<Database>, connector: string, jobId?: string | null): Promise<{ staleIds: number[]; touched: { from: DateString; to: DateString } | null }> {
  const lastFinished = db
    .selectFrom('sync_runs')
    .select((eb) => eb.fn.coalesce(eb.fn.max('id'), sql<number>`0`).as('id'))
    .where('connector', '=', connector)
    .where('status', 'in', ['succeeded', 'failed']);
  const rows = await db
    .selectFrom('sync_runs')
    .select(['id', 'status', 'touched_from', 'touched_to'])
    .where('connector', '=', connector)
    .where((eb) =>
      eb.or([
        eb('status', '=', 'running'),
        eb.and([eb('status', '=', 'abandoned'), eb('id', '>', lastFinished)]),
        ...(jobId ? [eb('job_id', '=', jobId)] : []),
      ]),
    )
    .execute();
  const froms = rows.flatMap((r) => (r.touched_from && r.touched_to ? [String(r.touched_from)] : [])).sort();
  const tos = rows.flatMap((r) => (r.touched_from && r.touched_to ? [String(r.touched_to)] : [])).sort();
  const touched = froms.length > 0 ? { from: froms[0]!, to: tos.at(-1)! } : null;
  return { staleIds: rows.filter((r) => r.status === 'running').map((r) => Number(r.id)), touched };
}

/** Closes the given runs of a dead worker (see unfinishedRuns); returns how many were still running. */
export async function abandonRuns(db: Kysely<Database>, ids: readonly number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const res = await db
    .updateTable('sync_runs')
    .set({ status: 'abandoned', finished_at: new Date(), error: 'worker stopped before the run finished (no heartbeat)', error_kind: 'abandoned' })
    .where('status', '=', 'running')
    .where('id', 'in', [...ids])
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}

export async function listRuns(db: Kysely<Database>, options: { connector?: string; limit?: number } = {}): Promise<SyncRun[]> {
  let q = db.selectFrom('sync_runs').selectAll().orderBy('id', 'desc').limit(options.limit ?? 20);
  if (options.connector) q = q.where('connector', '=', options.connector);
  return q.execute();
}

/** Statuses that count against a source: what the sync-failure rule and `kpi status` call failing. */
export const FAILED_RUN_STATUSES: readonly SyncRunStatus[] = ['failed', 'abandoned', 'held'];

/** Per connector with runs: its last success, its latest verdict run, and where its current failure streak began. */
export interface ConnectorRunSummary {
  connector: string;
  lastSuccessAt: Date | null;
  /** The latest finished run that says something of the source (not running, not skipped). */
  lastFinished: SyncRun | null;
  /** The first failed, abandoned or held run after the last success; null when none is. */
  firstFailureAfterSuccess: SyncRun | null;
  /**
   * The latest run with an error text, as stored (scrubbed when written); a skipped job's note
   * (its connector was not configured then) says nothing of the source, and is not one.
   */
  lastErrorRun: SyncRun | null;
}

/**
 * For `kpi status` (src/metrics/status.ts): the run summary of each connector named and of each
 * with runs. Each answer is the newest or oldest row of one connector on the (connector, id)
 * index (migration 014), so the cost does not grow with the history kept.
 */
export async function connectorRunSummaries(db: Kysely<Database>, names: readonly string[] = []): Promise<Map<string, ConnectorRunSummary>> {
  // Every connector with runs, one index probe each (a loose index scan; no scan of the history).
  const { rows: withRuns } = await sql<{ connector: string }>`
    with recursive c(connector) as (
      select min(connector) from sync_runs
      union all
      select (select min(r.connector) from sync_runs r where r.connector > c.connector) from c where c.connector is not null
    )
    select connector from c where connector is not null
  `.execute(db);
  const all = [...new Set([...names, ...withRuns.map((r) => r.connector)])];
  if (all.length === 0) return new Map();
  const failed = sql.join(FAILED_RUN_STATUSES.map((s) => sql`${s}`));
  const { rows } = await sql<{ connector: string; last_success: string | null; last_finished: string | null; last_error: string | null; first_failure: string | null }>`
    select n.connector, s.id as last_success, f.id as last_finished, e.id as last_error,
      (select r.id from sync_runs r where r.connector = n.connector and r.status in (${failed}) and r.id > coalesce(s.id, 0) order by r.id limit 1) as first_failure
    from unnest(${all}::text[]) as n(connector)
    left join lateral (select r.id from sync_runs r where r.connector = n.connector and r.status = 'succeeded' order by r.id desc limit 1) s on true
    left join lateral (select r.id from sync_runs r where r.connector = n.connector and r.status not in ('running', 'skipped') order by r.id desc limit 1) f on true
    left join lateral (select r.id from sync_runs r where r.connector = n.connector and r.error is not null and r.status <> 'skipped' order by r.id desc limit 1) e on true
  `.execute(db);
  const ids = [...new Set(rows.flatMap((r) => [r.last_success, r.last_finished, r.last_error, r.first_failure]).filter((id): id is string => id !== null).map(Number))];
  const byId = new Map(ids.length === 0 ? [] : (await db.selectFrom('sync_runs').selectAll().where('id', 'in', ids).execute()).map((r) => [Number(r.id), r] as const));
  const run = (id: string | null) => (id === null ? null : (byId.get(Number(id)) ?? null));
  return new Map(
    rows.map((r) => {
      const success = run(r.last_success);
      return [r.connector, { connector: r.connector, lastSuccessAt: success?.finished_at ? new Date(success.finished_at) : null, lastFinished: run(r.last_finished), firstFailureAfterSuccess: run(r.first_failure), lastErrorRun: run(r.last_error) }];
    }),
  );
}

