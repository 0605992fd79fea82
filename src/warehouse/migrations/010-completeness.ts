import { sql, type Kysely } from 'kysely';

/**
 * Which days are complete (see src/metrics/completeness.ts). A day is complete for a connector
 * when every stream of it has synced through that day, the day is older than the source's
 * settling delay, and no backfill of it is running; a KPI's day is complete when every
 * connector that feeds it is.
 *
 * - checkpoints.complete_through: per stream, the last day synced and settled, written with
 *   the checkpoint.
 * - connector_progress: the streams a connector has (set at the start of each sync), and the
 *   backfill it is running.
 * - kpi_sources: which connectors feed each KPI (from the config, refreshed by recompute and
 *   after each sync); a KPI no connector feeds has one row with connector ''.
 * - connector_completeness, kpi_completeness: views over those; kpi_values gains `complete`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('checkpoints').addColumn('complete_through', 'date').execute();
  await db.schema
    .createTable('connector_progress')
    .addColumn('connector', 'text', (c) => c.primaryKey())
    .addColumn('streams', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('backfill_run_id', 'bigint')
    .addColumn('backfill_from', 'date')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createTable('kpi_sources')
    .addColumn('kpi', 'text', (c) => c.notNull())
    .addColumn('connector', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('kpi_sources_pkey', ['kpi', 'connector'])
    .execute();
  // least() skips NULLs: a running backfill's first day caps what the checkpoints say.
  await sql`
    create view connector_completeness as
    select p.connector,
      case when exists (
        select 1 from unnest(p.streams) as s(stream)
        left join checkpoints c on c.connector = p.connector and c.stream = s.stream
        where c.complete_through is null
      ) or cardinality(p.streams) = 0 then null
      else least(
        (select min(c.complete_through) from checkpoints c where c.connector = p.connector and c.stream = any(p.streams)),
        case when r.id is not null then p.backfill_from - 1 end
      ) end as complete_through
    from connector_progress p
    left join sync_runs r on r.id = p.backfill_run_id and r.status = 'running'
  `.execute(db);
  // A KPI is complete through the day all its sources are; one source with nothing complete
  // makes it null. A KPI no connector feeds has one row with connector '': nothing to wait for.
  await sql`
    create view kpi_completeness as
    select s.kpi,
      case when bool_and(s.connector = '') then '9999-12-31'::date
           when bool_or(s.connector <> '' and cc.complete_through is null) then null
           else min(cc.complete_through) filter (where s.connector <> '') end as complete_through
    from kpi_sources s left join connector_completeness cc on cc.connector = s.connector
    group by s.kpi
  `.execute(db);
  await sql`drop view kpi_values`.execute(db);
  await sql`
    create view kpi_values as
    select v.kpi, p.grain, p.period_start, p.period_end, p.dimension, p.dimension_value, v.value, p.computed_at,
      coalesce(p.period_end <= case when p.dimension = 'connector' then cc.complete_through else kc.complete_through end, false) as complete
    from kpi_points p
    cross join lateral unnest(p.kpis, p.vals) as v(kpi, value)
    left join kpi_completeness kc on kc.kpi = v.kpi
    left join connector_completeness cc on p.dimension = 'connector' and cc.connector = p.dimension_value
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop view kpi_values`.execute(db);
  await sql`
    create view kpi_values as
    select v.kpi, p.grain, p.period_start, p.period_end, p.dimension, p.dimension_value, v.value, p.computed_at
    from kpi_points p cross join lateral unnest(p.kpis, p.vals) as v(kpi, value)
  `.execute(db);
  await sql`drop view kpi_completeness`.execute(db);
  await sql`drop view connector_completeness`.execute(db);
  await db.schema.dropTable('kpi_sources').execute();
  await db.schema.dropTable('connector_progress').execute();
  await db.schema.alterTable('checkpoints').dropColumn('complete_through').execute();
}
