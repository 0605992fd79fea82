/**
 * The bi_ views (migration 014) on both warehouses: a seeded warehouse (test/bi/seed.ts) read
 * through each view, against values worked out by hand and against `kpi report --json`.
 */
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinKpis } from '../../src/metrics/index.ts';
import { openWarehouse, type Database, type Warehouse, type WarehouseKind } from '../../src/warehouse/index.ts';
import { runCli } from '../helpers/cli.ts';
import { migratedPglite, testPostgres, warehouseKinds } from '../helpers/warehouse.ts';
import { biProject, FIRST_TICK, SECOND_TICK, seedBi, type BiSeed } from './seed.ts';

type Row = Record<string, unknown>;
const VIEWS = ['bi_kpi_catalogue', 'bi_kpi_values', 'bi_goals', 'bi_okrs', 'bi_okr_key_results', 'bi_alert_states', 'bi_alert_history', 'bi_connector_runs'] as const;

async function rowsOf(db: Kysely<Database>, query: string): Promise<Row[]> {
  return (await sql.raw<Row>(query).execute(db)).rows;
}

describe.each(warehouseKinds)('the BI views on %s', (kind: WarehouseKind) => {
  let wh: Warehouse;
  let seed: BiSeed;
  let env: NodeJS.ProcessEnv = {};
  const views = new Map<string, Row[]>();
  let report: { kpis: Array<{ kpi: string; label: string; value: number; unit: string }>; northStar: { value: number }; goals: Row[]; okrs: Row[] };

  beforeAll(async () => {
    const dir = biProject();
    if (kind === 'postgres') {
      const pg = await testPostgres();
      wh = pg;
      env = { DATABASE_URL: pg.url };
    } else {
      // The CLI opens the data folder itself, so the seeded database lives in the project's.
      wh = await openWarehouse({ dataDir: path.join(dir, 'data'), loadDataDir: migratedPglite() });
    }
    seed = await seedBi(wh, dir);
    for (const v of VIEWS) views.set(v, await rowsOf(wh.db, `select * from ${v} order by ${v === 'bi_kpi_catalogue' ? 'position' : '1, 2'}`));
    if (kind === 'pglite') await wh.close();
    const res = await runCli(['report', '-c', 'kpi.yaml', '--as-of', '2026-03-17', '--json'], { env, cwd: seed.dir });
    expect(res.stderr).toBe('');
    report = JSON.parse(res.stdout);
  }, 120_000);

  afterAll(async () => {
    if (kind === 'postgres') await wh.close();
    seed.cleanup();
  });

  it('bi_kpi_catalogue: every KPI of the catalogue in its order, with label, unit, direction and display format', () => {
    const rows = views.get('bi_kpi_catalogue')!;
    // Base metrics, then the built-in KPIs, then the config's own.
    expect(rows.length).toBeGreaterThan(builtinKpis.length);
    expect(rows.map((r) => r.position)).toEqual(rows.map((_, i) => i));
    const byKpi = new Map(rows.map((r) => [r.kpi, r]));
    expect(byKpi.get('cost_per_1k_clicks')).toMatchObject({ label: 'Cost per 1k clicks', unit: 'currency', direction: 'lower', format: 'currencyUSD', currency: 'USD', formula: 'spend / clicks * 1000', source: 'config', position: rows.length - 1 });
    expect(byKpi.get('ctr')).toMatchObject({ label: 'Click-through rate', unit: 'percent', direction: 'higher', format: 'percentunit', currency: null, formula: 'clicks / impressions', source: 'builtin' });
    expect(byKpi.get('clicks')).toMatchObject({ label: 'Clicks', unit: 'count', format: 'short', source: 'metric' });
    expect(byKpi.get('roas')).toMatchObject({ unit: 'ratio', format: 'none' });
  });

  it('bi_kpi_values: each value with its label, grain, dimension and complete flag, equal to kpi report --json', () => {
    const rows = views.get('bi_kpi_values')!;
    const at = (kpi: string, grain: string, start: string, dimension = 'all', value = '') => rows.filter((r) => r.kpi === kpi && r.grain === grain && r.period_start === start && r.dimension === dimension && r.dimension_value === value);
    // By hand: 125 clicks of 5,000 impressions for 200 USD in the week of 2026-03-09; 80 of 4,000 for 160 the week before.
    expect(at('clicks', 'week', '2026-03-09')).toEqual([expect.objectContaining({ label: 'Clicks', unit: 'count', period_end: '2026-03-15', value: 125, complete: true })]);
    expect(at('ctr', 'week', '2026-03-09')[0]).toMatchObject({ value: 0.025, complete: true });
    expect(at('cost_per_1k_clicks', 'week', '2026-03-02')[0]).toMatchObject({ label: 'Cost per 1k clicks', unit: 'currency', value: 2000 });
    expect(at('clicks', 'month', '2026-03-01')[0]).toMatchObject({ period_end: '2026-03-31', value: 205 });
    expect(at('clicks', 'day', '2026-03-09', 'campaign', 'brand')[0]).toMatchObject({ value: 125 });
    expect(at('clicks', 'week', '2026-03-09', 'connector', 'gads')[0]).toMatchObject({ value: 125 });
    expect(at('clicks', 'week', '2026-03-09', 'channel', 'paid_search')[0]).toMatchObject({ value: 125 });
    // What kpi report shows for the last week is what the view holds for it.
    expect(report.northStar.value).toBe(125);
    for (const k of report.kpis) {
      const [row] = at(k.kpi, 'week', '2026-03-09');
      expect(row, k.kpi).toMatchObject({ label: k.label, value: k.value });
    }
  });

  it('bi_goals: every stored assessment with progress, expected pace, forecast and whether it is on track; the latest marked', () => {
    const rows = views.get('bi_goals')!;
    // 205 of 500 clicks (41%); by 2026-03-10 10 of March's 31 days had gone, by 2026-03-17 17.
    expect(rows).toEqual([
      expect.objectContaining({ goal: 'clicks_march', kpi: 'clicks', kpi_label: 'Clicks', criterion: 'reach', as_of: '2026-03-10', actual: 205, baseline: 0, target: 500, progress: 0.41, expected: 10 / 31, status: 'on_track', on_track: true, latest: false }),
      expect.objectContaining({ goal: 'clicks_march', as_of: '2026-03-17', actual: 205, progress: 0.41, expected: 17 / 31, status: 'at_risk', on_track: false, latest: true }),
    ]);
    // The forecast: 205 + 170*5/7 + 215 + 260*2/7 (test/metrics/cli.test.ts), as kpi report says.
    expect(rows[1]!.forecast).toBeCloseTo(615.71, 2);
    const [goal] = report.goals;
    expect(goal).toMatchObject({ goal: 'clicks_march', actual: rows[1]!.actual, progress: rows[1]!.progress, expected: rows[1]!.expected, forecast: rows[1]!.forecast, status: rows[1]!.status });
  });

  it('bi_okrs and bi_okr_key_results: the objective, its progress and status, each key result with its weight and latest assessment', () => {
    expect(views.get('bi_okrs')).toEqual([
      expect.objectContaining({ okr: 'reach', objective: 'More clicks', as_of: '2026-03-10', progress: 0.41, status: 'on_track', latest: false }),
      expect.objectContaining({ okr: 'reach', objective: 'More clicks', as_of: '2026-03-17', progress: 0.41, status: 'at_risk', latest: true }),
    ]);
    expect(views.get('bi_okr_key_results')).toEqual([{ okr: 'reach', objective: 'More clicks', position: 0, goal: 'clicks_march', weight: 2, kpi: 'clicks', as_of: '2026-03-17', progress: 0.41, status: 'at_risk' }]);
    expect(report.okrs[0]).toMatchObject({ okr: 'reach', objective: 'More clicks', progress: 0.41, status: 'at_risk', keyResults: [{ goal: 'clicks_march', weight: 2, progress: 0.41, status: 'at_risk' }] });
  });

  it('bi_alert_states and bi_alert_history: the series resolved since the second tick, after firing at the first', () => {
    expect(views.get('bi_alert_states')).toEqual([
      expect.objectContaining({ rule: 'clicks-low', instance: '', state: 'resolved', since: SECOND_TICK, firing_since: null, last_value: 125, summary: 'Clicks 125 is not below 100 in the week of 2026-03-09' }),
    ]);
    expect(JSON.parse(views.get('bi_alert_states')![0]!.labels as string)).toMatchObject({ alertname: 'clicks-low', kind: 'threshold' });
    expect(views.get('bi_alert_history')!.map(({ id: _, ...r }) => r)).toEqual([
      { rule: 'clicks-low', instance: '', from_state: 'ok', to_state: 'firing', reason: 'Clicks 80 is below 100 in the week of 2026-03-02', value: 80, at: FIRST_TICK },
      { rule: 'clicks-low', instance: '', from_state: 'firing', to_state: 'resolved', reason: 'Clicks 125 is not below 100 in the week of 2026-03-09', value: 125, at: SECOND_TICK },
    ]);
  });

  it('bi_connector_runs: each run with its counters (rejected rows as quarantined), duration and error', () => {
    const rows = views.get('bi_connector_runs')!;
    expect(rows.map(({ started_at: _s, finished_at: _f, duration_seconds: _d, ...r }) => r)).toEqual([
      { id: seed.runIds.succeeded, connector: 'gads', trigger: 'schedule', status: 'succeeded', window_from: null, window_to: null, rows_read: 10, rows_written: 8, rows_deleted: 1, rows_quarantined: 2, error_kind: null, error: null },
      { id: seed.runIds.failed, connector: 'gads', trigger: 'manual', status: 'failed', window_from: '2026-03-01', window_to: '2026-03-09', rows_read: 3, rows_written: 0, rows_deleted: 0, rows_quarantined: 0, error_kind: 'transient', error: 'HTTP 503 from the source\nsecond line' },
    ]);
    for (const r of rows) expect(r.duration_seconds).toBeCloseTo(((r.finished_at as Date).getTime() - (r.started_at as Date).getTime()) / 1000, 3);
  });
});
