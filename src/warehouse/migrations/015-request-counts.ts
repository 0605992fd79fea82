import { sql, type Kysely } from 'kysely';

/**
 * What each sync asked of its source: the requests it sent (retries and token requests
 * included) and the quota the source said they used, by unit (`{"ga4_tokens": 120}`,
 * `{"meta_usage_pct": 12}`); runs from before count nothing. And per stream, the currency and
 * time zone its source last reported, so a sync does not ask for them again.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('sync_runs').addColumn('requests', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('sync_runs').addColumn('quota', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`)).execute();
  await db.schema.alterTable('checkpoints').addColumn('info', 'jsonb').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('checkpoints').dropColumn('info').execute();
  await db.schema.alterTable('sync_runs').dropColumn('quota').execute();
  await db.schema.alterTable('sync_runs').dropColumn('requests').execute();
}
