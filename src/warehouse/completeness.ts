import { sql, type Kysely } from 'kysely';
import { replaceConfigTables } from './config-tables.ts';
import type { Database, DateString, Executor } from './tables.ts';

/**
 * Bookkeeping of what is complete (the model is in src/metrics/completeness.ts): the streams a
 * connector has, the backfill it is running, which connectors feed which KPI, and reading the
 * resulting last complete day of each connector.
 */

/** At the start of a sync: the connector's streams now, and the backfill this run is, if it is one. */
export async function recordSyncStart(db: Executor, connector: string, streams: readonly string[], backfill: { runId: number; from: DateString } | null): Promise<void> {
  await db
    .insertInto('connector_progress')
    .values({ connector, streams: [...streams], backfill_run_id: backfill?.runId ?? null, backfill_from: backfill?.from ?? null, updated_at: sql<Date>`now()` })
    .onConflict((oc) =>
      oc.column('connector').doUpdateSet((eb) => ({
        streams: eb.ref('excluded.streams'),
        // A scheduled sync leaves a backfill running beside it (one sync per connector at a time
        // makes that rare) marked; the backfill clears its own mark when it ends.
        ...(backfill ? { backfill_run_id: eb.ref('excluded.backfill_run_id'), backfill_from: eb.ref('excluded.backfill_from') } : {}),
        updated_at: eb.ref('excluded.updated_at'),
      })),
    )
    .execute();
}

/** At the end of a backfill: its days count again as the checkpoints say. */
export async function recordBackfillEnd(db: Executor, connector: string, runId: number): Promise<void> {
  await db.updateTable('connector_progress').set({ backfill_run_id: null, backfill_from: null }).where('connector', '=', connector).where('backfill_run_id', '=', runId).execute();
}

/** The last complete day of each connector that has synced; null while something is missing. */
export async function connectorCompleteness(db: Executor): Promise<Map<string, DateString | null>> {
  const rows = await db.selectFrom('connector_completeness').select(['connector', 'complete_through']).execute();
  return new Map(rows.map((r) => [r.connector, r.complete_through === null ? null : String(r.complete_through)]));
}

/** Replaces which connectors feed each KPI (what the kpi_values view's `complete` reads). */
export async function replaceKpiSources(db: Kysely<Database>, sources: ReadonlyArray<{ kpi: string; connector: string }>): Promise<void> {
  await replaceConfigTables(db, { kpi_sources: sources });
}
