import { sql, type Kysely } from 'kysely';

/**
 * Several scheduled reports, each sent once per period and channel: digest_sends is keyed by
 * the report's name too. Rows from before are the old `digest:` section's, which is now the
 * report named `digest`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('digest_sends').addColumn('report', 'text', (c) => c.notNull().defaultTo('digest')).execute();
  // Every row from now on names its report; the default only carried the old rows over.
  await sql`alter table digest_sends alter column report drop default`.execute(db);
  await db.schema.alterTable('digest_sends').dropConstraint('digest_sends_pkey').execute();
  await db.schema.alterTable('digest_sends').addPrimaryKeyConstraint('digest_sends_pkey', ['report', 'grain', 'period_start', 'channel']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // The old key cannot hold two reports' rows for one period and channel: only the digest's stay.
  await sql`delete from digest_sends where report <> 'digest'`.execute(db);
  await db.schema.alterTable('digest_sends').dropConstraint('digest_sends_pkey').execute();
  await db.schema.alterTable('digest_sends').dropColumn('report').execute();
  await db.schema.alterTable('digest_sends').addPrimaryKeyConstraint('digest_sends_pkey', ['grain', 'period_start', 'channel']).execute();
}
