import { sql, type Kysely } from 'kysely';
import { storableJson } from './storable.ts';
import type { Database } from './tables.ts';

export async function getCheckpoint(db: Kysely<Database>, connector: string, stream: string): Promise<string | undefined> {
  const row = await db.selectFrom('checkpoints').select('cursor').where('connector', '=', connector).where('stream', '=', stream).executeTakeFirst();
  return row?.cursor;
}

/** `completeThrough`: the last day of the stream that is synced and settled (src/metrics/completeness.ts). */
export async function saveCheckpoint(db: Kysely<Database>, connector: string, stream: string, cursor: string, completeThrough: string | null = null): Promise<void> {
  await db
    .insertInto('checkpoints')
    .values({ connector, stream, cursor, complete_through: completeThrough, updated_at: new Date() })
    .onConflict((oc) => oc.columns(['connector', 'stream']).doUpdateSet({ cursor, complete_through: completeThrough, updated_at: new Date() }))
    .execute();
}

/**
 * A stream read whole and found complete through `day` without moving its cursor (a file
 * source whose files are unchanged, or re-read up to the same last date).
 */
export async function markStreamComplete(db: Kysely<Database>, connector: string, stream: string, day: string): Promise<void> {
  await db
    .insertInto('checkpoints')
    .values({ connector, stream, cursor: day, complete_through: day, updated_at: new Date() })
    .onConflict((oc) => oc.columns(['connector', 'stream']).doUpdateSet({ complete_through: day, updated_at: new Date() }))
    .execute();
}

/** What the stream's reader kept at its last successful sync; undefined when nothing. */
export async function getStreamState(db: Kysely<Database>, connector: string, stream: string): Promise<unknown> {
  const row = await db.selectFrom('checkpoints').select('state').where('connector', '=', connector).where('stream', '=', stream).executeTakeFirst();
  return row?.state ?? undefined;
}

/**
 * Replaces the stream's state, on its checkpoint row. Called in the transaction of a day that
 * holds or creates that row; when someone deleted the row meanwhile (a reset), nothing is
 * stored and the stream is read whole next time, as a reset means.
 */
export async function saveStreamState(db: Kysely<Database>, connector: string, stream: string, state: unknown): Promise<void> {
  await db
    .updateTable('checkpoints')
    .set({ state: sql<string>`${storableJson(state, Number.MAX_SAFE_INTEGER)}::jsonb`, updated_at: new Date() })
    .where('connector', '=', connector)
    .where('stream', '=', stream)
    .execute();
}

/** The currency and time zone a stream's source last reported (see saveStreamInfo); undefined when never. */
export async function getStreamInfo(db: Kysely<Database>, connector: string, stream: string): Promise<unknown> {
  const row = await db.selectFrom('checkpoints').select('info').where('connector', '=', connector).where('stream', '=', stream).executeTakeFirst();
  return row?.info ?? undefined;
}

/**
 * Keeps what the source said about the stream (its currency and time zone) on its checkpoint
 * row, so the next sync needs no request to learn them. Like saveStreamState, called in a
 * transaction that holds or creates the row.
 */
export async function saveStreamInfo(db: Kysely<Database>, connector: string, stream: string, info: unknown): Promise<void> {
  await db
    .updateTable('checkpoints')
    .set({ info: sql<string>`${storableJson(info, Number.MAX_SAFE_INTEGER)}::jsonb` })
    .where('connector', '=', connector)
    .where('stream', '=', stream)
    .execute();
}
