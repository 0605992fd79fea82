import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('metric_facts')
    .addColumn('date', 'date', (c) => c.notNull())
    .addColumn('connector', 'text', (c) => c.notNull())
    .addColumn('account', 'text', (c) => c.notNull())
    .addColumn('campaign', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('channel', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('metric', 'text', (c) => c.notNull())
    .addColumn('value', 'numeric', (c) => c.notNull())
    .addColumn('currency', 'text')
    .addColumn('sync_run_id', 'bigint')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // Key order serves the write path: a sync replaces (connector, account, date) slices.
    .addPrimaryKeyConstraint('metric_facts_pkey', ['connector', 'account', 'date', 'campaign', 'channel', 'metric'])
    .execute();
  // Recompute reads by date range across connectors.
  await db.schema.createIndex('metric_facts_date_metric').on('metric_facts').columns(['date', 'metric']).execute();

  await db.schema
    .createTable('sync_runs')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('connector', 'text', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('job_id', 'text')
    .addColumn('window_from', 'date')
    .addColumn('window_to', 'date')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('heartbeat_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('finished_at', 'timestamptz')
    .addColumn('rows_read', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('rows_written', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('rows_deleted', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('rows_rejected', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('touched_from', 'date')
    .addColumn('touched_to', 'date')
    .addColumn('error_kind', 'text')
    .addColumn('error', 'text')
    .addColumn('flags', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
  await db.schema.createIndex('sync_runs_connector_started').on('sync_runs').columns(['connector', 'started_at']).execute();

  await db.schema
    .createTable('checkpoints')
    .addColumn('connector', 'text', (c) => c.notNull())
    .addColumn('stream', 'text', (c) => c.notNull())
    .addColumn('cursor', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('checkpoints_pkey', ['connector', 'stream'])
    .execute();

  await db.schema
    .createTable('quarantine')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('sync_run_id', 'bigint')
    .addColumn('connector', 'text', (c) => c.notNull())
    .addColumn('stream', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('record', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('quarantine_run').on('quarantine').column('sync_run_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['quarantine', 'checkpoints', 'sync_runs', 'metric_facts']) await db.schema.dropTable(table).ifExists().execute();
}
