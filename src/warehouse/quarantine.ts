import type { Kysely } from 'kysely';
import { errorMessage } from '../core/errors.ts';
import { redactAndCut, redactSecrets } from '../core/secrets.ts';
import { storableJson, storableText } from './storable.ts';
import type { Database } from './tables.ts';

export interface QuarantinedRecord {
  connector: string;
  stream: string;
  reason: string;
  record: unknown;
}

const MAX_RECORD_CHARS = 20_000;
const MAX_REASON_CHARS = 2_000;

function rowOf(syncRunId: number | null, r: QuarantinedRecord, record: unknown) {
  const json = storableJson(record, MAX_RECORD_CHARS, redactSecrets);
  return {
    sync_run_id: syncRunId,
    connector: storableText(r.connector),
    stream: storableText(r.stream),
    reason: storableText(redactAndCut(r.reason, MAX_REASON_CHARS)),
    record: json,
  };
}

/**
 * Keeps bad records with the reason they were refused, so nothing is silently dropped.
 * Storing them can never fail the sync that refused them: every text is made storable first,
 * and a record the database still refuses is kept as a note saying why.
 */
export async function quarantine(db: Kysely<Database>, syncRunId: number | null, records: QuarantinedRecord[]): Promise<void> {
  if (records.length === 0) return;
  try {
    await db.insertInto('quarantine').values(records.map((r) => rowOf(syncRunId, r, r.record ?? null))).execute();
    return;
  } catch {
    // One record the database refuses must not cost the others their place: one at a time.
  }
  for (const r of records) {
    try {
      await db.insertInto('quarantine').values(rowOf(syncRunId, r, r.record ?? null)).execute();
    } catch (err) {
      await db.insertInto('quarantine').values(rowOf(syncRunId, r, { unstorable: `the record itself could not be stored: ${errorMessage(err)}` })).execute();
    }
  }
}

export async function listQuarantine(db: Kysely<Database>, options: { connector?: string; syncRunId?: number; limit?: number } = {}) {
  let q = db.selectFrom('quarantine').selectAll().orderBy('id', 'desc').limit(options.limit ?? 100);
  if (options.connector) q = q.where('connector', '=', options.connector);
  if (options.syncRunId !== undefined) q = q.where('sync_run_id', '=', options.syncRunId);
  return q.execute();
}

/** How many quarantined records each connector has (those retention has not pruned yet). */
export async function quarantineCounts(db: Kysely<Database>): Promise<Map<string, number>> {
  const rows = await db.selectFrom('quarantine').select(['connector', (eb) => eb.fn.countAll<string>().as('n')]).groupBy('connector').execute();
  return new Map(rows.map((r) => [r.connector, Number(r.n)]));
}

