import { sql, type Kysely } from 'kysely';

/** Files a file-based source has loaded, so an unchanged file is skipped and a changed one replaces its rows. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('source_files')
    .addColumn('connector', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('min_date', 'date')
    .addColumn('max_date', 'date')
    .addColumn('rows', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('loaded_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('source_files_pkey', ['connector', 'path'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('source_files').ifExists().execute();
}
