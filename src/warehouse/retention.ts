import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { Database } from './tables.ts';

/**
 * How long history is kept, in milliseconds (the shape of the config's `retention`). Facts,
 * KPI values, checkpoints and alert states are never pruned.
 */
export interface RetentionPolicy {
  syncRuns: number;
  quarantine: number;
  /** Alert transitions, delivered or dropped outbox rows, sent digests, expired silences. */
  alertHistory: number;
}

export interface PruneResult {
  syncRuns: number;
  quarantine: number;
  alertTransitions: number;
  alertOutbox: number;
  digestSends: number;
  alertSilences: number;
}

/** Deletes a table's rows that match and says how many went. */
async function deleteWhere(trx: Transaction<Database>, table: keyof Database, where: RawBuilder<unknown>): Promise<number> {
  const { rows } = await sql<{ n: number }>`with gone as (delete from ${sql.table(table)} where ${where} returning 1) select count(*)::int as n from gone`.execute(trx);
  return Number(rows[0]?.n ?? 0);
}

/**
 * Deletes history older than the policy, in one transaction (rolled back when `dryRun`, so
 * the counts say what would go). What the pipeline still reads is kept whatever its age: a
 * running sync, each connector's last run and last successful run (stale-data alerts and
 * `kpi runs` read them), and outbox rows not yet delivered. Safe to run in several replicas
 * at once: a row deleted by one is simply not found by the other.
 */
export async function pruneHistory(db: Kysely<Database>, policy: RetentionPolicy, options: { now?: Date; dryRun?: boolean } = {}): Promise<PruneResult> {
  const now = (options.now ?? new Date()).getTime();
  const before = (ms: number) => new Date(now - ms);
  const runsBefore = before(policy.syncRuns);
  const quarantineBefore = before(policy.quarantine);
  const alertsBefore = before(policy.alertHistory);
  let result: PruneResult | undefined;
  const rollback = new Error('dry run');
  try {
    await db.transaction().execute(async (trx) => {
      result = {
        syncRuns: await deleteWhere(
          trx,
          'sync_runs',
          sql`status <> 'running' and coalesce(finished_at, started_at) < ${runsBefore}
            and id <> all(array(select max(id) from sync_runs group by connector))
            and id <> all(array(select max(id) from sync_runs where status = 'succeeded' group by connector))`,
        ),
        quarantine: await deleteWhere(trx, 'quarantine', sql`created_at < ${quarantineBefore}`),
        alertTransitions: await deleteWhere(trx, 'alert_transitions', sql`at < ${alertsBefore}`),
        // A pending row is still to be sent (held by a silence, backing off): never lost to age.
        alertOutbox: await deleteWhere(trx, 'alert_outbox', sql`status <> 'pending' and coalesce(delivered_at, created_at) < ${alertsBefore}`),
        // By the period it reported on: a digest is only ever sent for the period just ended.
        digestSends: await deleteWhere(trx, 'digest_sends', sql`status <> 'sending' and period_start < ${alertsBefore.toISOString().slice(0, 10)}::date`),
        alertSilences: await deleteWhere(trx, 'alert_silences', sql`ends_at < ${alertsBefore}`),
      };
      if (options.dryRun) throw rollback;
    });
  } catch (err) {
    if (err !== rollback) throw err;
  }
  return result!;
}
