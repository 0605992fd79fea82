import { sql, type Kysely } from 'kysely';

/** KPI values per grain and dimension, and what goal and OKR evaluations found. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('kpi_values')
    .addColumn('kpi', 'text', (c) => c.notNull())
    .addColumn('grain', 'text', (c) => c.notNull())
    .addColumn('period_start', 'date', (c) => c.notNull())
    .addColumn('period_end', 'date', (c) => c.notNull())
    .addColumn('dimension', 'text', (c) => c.notNull())
    .addColumn('dimension_value', 'text', (c) => c.notNull())
    // Recompute writes only values that exist; the column allows NULL for writers that want to say "none".
    .addColumn('value', 'numeric')
    .addColumn('computed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // One index only, as it is the write path's cost: it serves a KPI's series (a date range
    // of one kpi and grain) and recompute's replacing of periods (kpi = any(...), grain, range).
    .addPrimaryKeyConstraint('kpi_values_pkey', ['kpi', 'grain', 'period_start', 'dimension', 'dimension_value'])
    .execute();

  await db.schema
    .createTable('goal_snapshots')
    .addColumn('goal', 'text', (c) => c.notNull())
    .addColumn('as_of', 'date', (c) => c.notNull())
    .addColumn('kpi', 'text', (c) => c.notNull())
    .addColumn('criterion', 'text', (c) => c.notNull())
    .addColumn('actual', 'numeric')
    .addColumn('baseline', 'numeric')
    .addColumn('target', 'numeric', (c) => c.notNull())
    .addColumn('progress', 'numeric')
    .addColumn('expected', 'numeric', (c) => c.notNull())
    .addColumn('forecast', 'numeric')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('evaluated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('goal_snapshots_pkey', ['goal', 'as_of'])
    .execute();

  await db.schema
    .createTable('okr_snapshots')
    .addColumn('okr', 'text', (c) => c.notNull())
    .addColumn('as_of', 'date', (c) => c.notNull())
    .addColumn('progress', 'numeric', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('evaluated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('okr_snapshots_pkey', ['okr', 'as_of'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['okr_snapshots', 'goal_snapshots', 'kpi_values']) await db.schema.dropTable(table).ifExists().execute();
}
