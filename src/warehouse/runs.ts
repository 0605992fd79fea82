import { sql, type Kysely } from 'kysely';
import { redactSecrets } from '../secrets.ts';
import type { Database, DateString, SyncRun, SyncRunStatus } from './tables.ts';

export interface StartRun {
  connector: string;
  trigger: string;
  jobId?: string | null;
  window?: { from: DateString; to: DateString } | null;
}

export async function startRun(db: Kysely<Database>, run: StartRun): Promise<number> {
  const row = await db
    .insertInto('sync_runs')
    .values({
      connector: run.connector,
      trigger: run.trigger,
      job_id: run.jobId ?? null,
      window_from: run.window?.from ?? null,
      window_to: run.window?.to ?? null,
      status: 'running',
      started_at: new Date(),
      heartbeat_at: new Date(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

export interface RunProgress {
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
      ...(p.flags ? { flags: sql<string>`flags || ${JSON.stringify(p.flags)}::jsonb` } : {}),
    }))
    .where('id', '=', runId)
    .execute();
}

export async function finishRun(db: Kysely<Database>, runId: number, outcome: { status: Exclude<SyncRunStatus, 'running'>; error?: unknown; errorKind?: string }): Promise<SyncRun> {
  const message = outcome.error === undefined ? null : redactSecrets(outcome.error instanceof Error ? outcome.error.message : String(outcome.error)).slice(0, 4000);
  return db
    .updateTable('sync_runs')
    .set({ status: outcome.status, finished_at: new Date(), heartbeat_at: new Date(), error: message, error_kind: outcome.errorKind ?? null })
    .where('id', '=', runId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

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

export async function getRun(db: Kysely<Database>, runId: number): Promise<SyncRun | undefined> {
  return db.selectFrom('sync_runs').selectAll().where('id', '=', runId).executeTakeFirst();
}
