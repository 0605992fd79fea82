import type { Kysely } from 'kysely';

/**
 * When a notification or a digest send failed for good (so failures can be listed and
 * alerted on), and when a digest whose send failed is tried again: digests are retried with
 * backoff like notifications, instead of waiting for next week's schedule.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('alert_outbox').addColumn('failed_at', 'timestamptz').execute();
  await db.schema.alterTable('digest_sends').addColumn('not_before', 'timestamptz').execute();
  await db.schema.alterTable('digest_sends').addColumn('failed_at', 'timestamptz').execute();
  // The failure rule and `kpi alerts list` look for recent failures; there are few of them.
  await db.schema.createIndex('alert_outbox_failed').on('alert_outbox').column('failed_at').where('failed_at', 'is not', null).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('alert_outbox_failed').ifExists().execute();
  await db.schema.alterTable('digest_sends').dropColumn('failed_at').execute();
  await db.schema.alterTable('digest_sends').dropColumn('not_before').execute();
  await db.schema.alterTable('alert_outbox').dropColumn('failed_at').execute();
}
