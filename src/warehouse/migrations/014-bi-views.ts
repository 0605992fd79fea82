import { sql, type Kysely } from 'kysely';

/**
 * Views for BI tools (Grafana, Metabase, Looker Studio), prefixed `bi_`, and the indexes by
 * (connector, id) that `kpi status` reads each connector's latest runs and quarantined records on.
 *
 * The views are prefixed `bi_`. Their names and
 * columns are an API, documented in the README (*BI views*): a later migration may add
 * columns, never rename or drop one. They read the tables the pipeline writes and two small
 * tables of the configuration, which only the file holds otherwise:
 *
 * - kpi_catalogue: every KPI of the catalogue (built-in, base metric, config) with its label,
 *   unit, direction and display format, in catalogue order;
 * - okr_key_results: each OKR's objective and its key results (goal, weight).
 *
 * Both are replaced whole whenever a process loads the configuration for its KPIs (kpi start
 * and each reload, kpi recompute, and the evaluate step after every sync), by
 * src/metrics/bi-catalogue.ts.
 *
 * Numbers stored as numeric (goals, OKRs) are shown as double precision, the type KPI values
 * have, so every client reads them as numbers.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('kpi_catalogue')
    .addColumn('kpi', 'text', (c) => c.primaryKey())
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('unit', 'text', (c) => c.notNull())
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('format', 'text', (c) => c.notNull())
    .addColumn('currency', 'text')
    .addColumn('description', 'text')
    .addColumn('formula', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createTable('okr_key_results')
    .addColumn('okr', 'text', (c) => c.notNull())
    .addColumn('objective', 'text', (c) => c.notNull())
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('goal', 'text', (c) => c.notNull())
    .addColumn('weight', 'double precision', (c) => c.notNull())
    .addPrimaryKeyConstraint('okr_key_results_pkey', ['okr', 'goal'])
    .execute();

  // A connector's latest runs and quarantined records (kpi status, the console) read the newest
  // rows of one connector: without these, each read scans the connector's whole history.
  await db.schema.createIndex('sync_runs_connector_id').on('sync_runs').columns(['connector', 'id']).execute();
  await db.schema.createIndex('quarantine_connector_id').on('quarantine').columns(['connector', 'id']).execute();

  await sql`
    create view bi_kpi_catalogue as
    select kpi, position, label, unit, direction, format, currency, description, formula, source, updated_at
    from kpi_catalogue
  `.execute(db);

  await sql`
    create view bi_kpi_values as
    select v.kpi, c.label, c.unit, v.grain, v.period_start, v.period_end, v.dimension, v.dimension_value,
      v.value::double precision as value, v.complete, v.computed_at
    from kpi_values v left join kpi_catalogue c on c.kpi = v.kpi
  `.execute(db);

  await sql`
    create view bi_goals as
    select g.goal, g.kpi, c.label as kpi_label, g.criterion, g.as_of,
      g.actual::double precision as actual, g.baseline::double precision as baseline, g.target::double precision as target,
      g.progress::double precision as progress, g.expected::double precision as expected, g.forecast::double precision as forecast,
      g.status, g.status in ('on_track', 'achieved') as on_track,
      g.as_of = max(g.as_of) over (partition by g.goal) as latest,
      g.evaluated_at
    from goal_snapshots g left join kpi_catalogue c on c.kpi = g.kpi
  `.execute(db);

  // An OKR's objective comes from the configuration; one removed from it keeps its snapshots, objective null.
  await sql`
    create view bi_okrs as
    select o.okr, k.objective, o.as_of, o.progress::double precision as progress, o.status,
      o.as_of = max(o.as_of) over (partition by o.okr) as latest, o.evaluated_at
    from okr_snapshots o
    left join (select distinct okr, objective from okr_key_results) k on k.okr = o.okr
  `.execute(db);

  await sql`
    create view bi_okr_key_results as
    select k.okr, k.objective, k.position, k.goal, k.weight, g.kpi, g.as_of,
      g.progress::double precision as progress, g.status
    from okr_key_results k
    left join lateral (
      select s.kpi, s.as_of, s.progress, s.status from goal_snapshots s where s.goal = k.goal order by s.as_of desc limit 1
    ) g on true
  `.execute(db);

  await sql`
    create view bi_alert_states as
    select rule, instance, labels::text as labels, state, state_since as since, firing_since,
      last_value::double precision as last_value, last_summary as summary, last_evaluated_at
    from alert_instances
  `.execute(db);

  await sql`
    create view bi_alert_history as
    select id, rule, instance, from_state, to_state, reason, value::double precision as value, at
    from alert_transitions
  `.execute(db);

  await sql`
    create view bi_connector_runs as
    select id, connector, trigger, status, started_at, finished_at,
      extract(epoch from finished_at - started_at)::double precision as duration_seconds,
      window_from, window_to, rows_read, rows_written, rows_deleted, rows_rejected as rows_quarantined,
      error_kind, error
    from sync_runs
  `.execute(db);

  // The read-only role deploy/postgres/initdb creates for Grafana and other BI tools reads these views only.
  await sql`
    do $$ begin
      if exists (select 1 from pg_roles where rolname = 'kpi_bi') then
        grant select on bi_kpi_catalogue, bi_kpi_values, bi_goals, bi_okrs, bi_okr_key_results, bi_alert_states, bi_alert_history, bi_connector_runs to kpi_bi;
      end if;
    end $$
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Dropping a view drops its grants with it.
  for (const view of ['bi_connector_runs', 'bi_alert_history', 'bi_alert_states', 'bi_okr_key_results', 'bi_okrs', 'bi_goals', 'bi_kpi_values', 'bi_kpi_catalogue']) {
    await sql`drop view ${sql.id(view)}`.execute(db);
  }
  await db.schema.dropIndex('quarantine_connector_id').execute();
  await db.schema.dropIndex('sync_runs_connector_id').execute();
  await db.schema.dropTable('okr_key_results').execute();
  await db.schema.dropTable('kpi_catalogue').execute();
}
