import type { Kysely } from 'kysely';
import { redactSecrets } from '../secrets.ts';
import type { Database } from './tables.ts';

export interface QuarantinedRecord {
  connector: string;
  stream: string;
  reason: string;
  record: unknown;
}

const MAX_RECORD_CHARS = 20_000;

/** Keeps bad records with the reason they were refused, so nothing is silently dropped. */
export async function quarantine(db: Kysely<Database>, syncRunId: number | null, records: QuarantinedRecord[]): Promise<void> {
  if (records.length === 0) return;
  await db
    .insertInto('quarantine')
    .values(
      records.map((r) => {
        let json = redactSecrets(JSON.stringify(r.record ?? null) ?? 'null');
        if (json.length > MAX_RECORD_CHARS) json = JSON.stringify({ truncated: json.slice(0, MAX_RECORD_CHARS) });
        return { sync_run_id: syncRunId, connector: r.connector, stream: r.stream, reason: redactSecrets(r.reason).slice(0, 2000), record: json };
      }),
    )
    .execute();
}

export async function listQuarantine(db: Kysely<Database>, options: { connector?: string; syncRunId?: number; limit?: number } = {}) {
  let q = db.selectFrom('quarantine').selectAll().orderBy('id', 'desc').limit(options.limit ?? 100);
  if (options.connector) q = q.where('connector', '=', options.connector);
  if (options.syncRunId !== undefined) q = q.where('sync_run_id', '=', options.syncRunId);
  return q.execute();
}
