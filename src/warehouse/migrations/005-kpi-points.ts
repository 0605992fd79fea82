import { sql, type Kysely } from 'kysely';

/**
 * KPI values are stored one row per point (grain, period, dimension value) with every KPI
 * of that point in two parallel arrays, instead of one row per KPI: a full recompute writes
 * a twentieth of the rows (the per-row cost, not the bytes, is what bounded it), and a
 * point's KPIs always change together. kpi_values stays as a view of the same columns as
 * before, so queries and dashboards written against it keep working.
 *
 * Values are float8: they are computed as doubles, and a double stores them exactly.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('kpi_points')
    .addColumn('grain', 'text', (c) => c.notNull())
    .addColumn('period_start', 'date', (c) => c.notNull())
    .addColumn('period_end', 'date', (c) => c.notNull())
    .addColumn('dimension', 'text', (c) => c.notNull())
    .addColumn('dimension_value', 'text', (c) => c.notNull())
    .addColumn('kpis', sql`text[]`, (c) => c.notNull())
    .addColumn('vals', sql`float8[]`, (c) => c.notNull())
    .addColumn('computed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('kpi_points_pkey', ['grain', 'period_start', 'dimension', 'dimension_value'])
    .addCheckConstraint('kpi_points_aligned', sql`cardinality(kpis) = cardinality(vals)`)
    .execute();
  await sql`
    insert into kpi_points (grain, period_start, period_end, dimension, dimension_value, kpis, vals, computed_at)
    select grain, period_start, max(period_end), dimension, dimension_value, array_agg(kpi order by kpi), array_agg(value::float8 order by kpi), max(computed_at)
    from kpi_values
    where value is not null
    group by grain, period_start, dimension, dimension_value
  `.execute(db);
  await db.schema.dropTable('kpi_values').execute();
  await sql`
    create view kpi_values as
    select v.kpi, p.grain, p.period_start, p.period_end, p.dimension, p.dimension_value, v.value, p.computed_at
    from kpi_points p cross join lateral unnest(p.kpis, p.vals) as v(kpi, value)
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop view if exists kpi_values`.execute(db);
  await db.schema
    .createTable('kpi_values')
    .addColumn('kpi', 'text', (c) => c.notNull())
    .addColumn('grain', 'text', (c) => c.notNull())
    .addColumn('period_start', 'date', (c) => c.notNull())
    .addColumn('period_end', 'date', (c) => c.notNull())
    .addColumn('dimension', 'text', (c) => c.notNull())
    .addColumn('dimension_value', 'text', (c) => c.notNull())
    .addColumn('value', 'numeric')
    .addColumn('computed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('kpi_values_pkey', ['kpi', 'grain', 'period_start', 'dimension', 'dimension_value'])
    .execute();
  // Through text: float8 prints its shortest exact form, while a direct cast to numeric keeps only 15 digits.
  await sql`
    insert into kpi_values (kpi, grain, period_start, period_end, dimension, dimension_value, value, computed_at)
    select v.kpi, p.grain, p.period_start, p.period_end, p.dimension, p.dimension_value, v.value::text::numeric, p.computed_at
    from kpi_points p cross join lateral unnest(p.kpis, p.vals) as v(kpi, value)
  `.execute(db);
  await db.schema.dropTable('kpi_points').execute();
}
