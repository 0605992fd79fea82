import type { Kysely } from 'kysely';
import type { Database } from './tables.ts';

export async function getCheckpoint(db: Kysely<Database>, connector: string, stream: string): Promise<string | undefined> {
  const row = await db.selectFrom('checkpoints').select('cursor').where('connector', '=', connector).where('stream', '=', stream).executeTakeFirst();
  return row?.cursor;
}

export async function saveCheckpoint(db: Kysely<Database>, connector: string, stream: string, cursor: string): Promise<void> {
  await db
    .insertInto('checkpoints')
    .values({ connector, stream, cursor, updated_at: new Date() })
    .onConflict((oc) => oc.columns(['connector', 'stream']).doUpdateSet({ cursor, updated_at: new Date() }))
    .execute();
}

export async function listCheckpoints(db: Kysely<Database>, connector?: string): Promise<Array<{ connector: string; stream: string; cursor: string }>> {
  let q = db.selectFrom('checkpoints').select(['connector', 'stream', 'cursor']).orderBy('connector').orderBy('stream');
  if (connector) q = q.where('connector', '=', connector);
  return q.execute();
}
