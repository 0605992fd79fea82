import { sql, type Kysely } from 'kysely';

/**
 * Days whose new answer from the source would have deleted too much of what is stored (see
 * src/connectors/shared/delete-guard.ts): what the source answered, so that the same answer
 * on a later read can be recognised and applied.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('held_days')
    .addColumn('connector', 'text', (c) => c.notNull())
    .addColumn('account', 'text', (c) => c.notNull())
    .addColumn('date', 'date', (c) => c.notNull())
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('stored_rows', 'bigint', (c) => c.notNull())
    .addColumn('answer_rows', 'bigint', (c) => c.notNull())
    .addColumn('sync_run_id', 'bigint')
    .addColumn('held_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('held_days_pkey', ['connector', 'account', 'date'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('held_days').ifExists().execute();
}
