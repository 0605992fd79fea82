/**
 * The Grafana dashboard (deploy/grafana) and its provisioning, without Grafana: every panel's
 * SQL, its macros and variables replaced as Grafana would, runs against a seeded warehouse's
 * bi_ views on Postgres and returns what the panel shows; and docker-compose.yml mounts files
 * that exist, with a data source the dashboard names.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { inUnitTier } from '../helpers/tier.ts';
import { testPostgres, type TestPostgres } from '../helpers/warehouse.ts';
import { seedBi, type BiSeed } from '../bi/seed.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (name: string) => readFileSync(path.join(ROOT, name), 'utf8');

interface Target { refId: string; rawSql: string; format: string; datasource: { type: string; uid: string } }
interface Panel { id: number; title: string; type: string; targets: Target[]; datasource: { type: string; uid: string } }
interface Dashboard { uid: string; panels: Panel[]; templating: { list: Array<{ name: string; type: string; query: string; datasource?: { uid: string } }> } }

const dashboard = JSON.parse(read('deploy/grafana/dashboards/kpi.json')) as Dashboard;

/** The time range the queries run for: March 2026 (the seeded facts) through tomorrow (the seeded runs). */
const FROM = '2026-03-01T00:00:00Z';
const TO = new Date(Date.now() + 86_400_000).toISOString();

/**
 * What Grafana's Postgres data source sends for a panel's SQL: its macros expanded
 * (https://grafana.com/docs/grafana/latest/datasources/postgres/query-editor/#macros) and
 * the dashboard's variables ($kpi: two KPIs, quoted as a multi-value variable is; $grain: week).
 */
function interpolate(text: string): string {
  return text
    .replace(/\$__timeFilter\(([^)]*(?:\([^)]*\))?[^)]*)\)/g, (_, column: string) => `${column} BETWEEN '${FROM}' AND '${TO}'`)
    .replace(/\$__timeFrom\(\)/g, `'${FROM}'`)
    .replace(/\$__timeTo\(\)/g, `'${TO}'`)
    .replace(/\$kpi\b/g, `'clicks','cost_per_1k_clicks'`)
    .replace(/\$grain\b/g, 'week');
}

/** The relations a query reads (after FROM and JOIN). */
const relationsOf = (query: string) => [...query.matchAll(/\b(?:FROM|JOIN)\s+([a-z_][a-z0-9_]*)/gi)].map((m) => m[1]!);

describe('the Grafana dashboard reads the bi_ views only', () => {
  it('every panel and variable queries bi_ views through the provisioned data source', () => {
    const queries = [...dashboard.panels.flatMap((p) => p.targets.map((t) => t.rawSql)), ...dashboard.templating.list.filter((v) => v.type === 'query').map((v) => v.query)];
    expect(queries.length).toBe(dashboard.panels.length + 1);
    for (const q of queries) {
      expect(relationsOf(q).length, q).toBeGreaterThan(0);
      for (const r of relationsOf(q)) expect(r, q).toMatch(/^bi_/);
    }
    const provisioned = parse(read('deploy/grafana/provisioning/datasources/kpi-warehouse.yaml')) as { datasources: Array<{ uid: string; type: string; user: string; secureJsonData: { password: string } }> };
    const [source] = provisioned.datasources;
    for (const p of dashboard.panels) {
      expect(p.datasource).toEqual({ type: source!.type, uid: source!.uid });
      for (const t of p.targets) expect(t.datasource).toEqual(p.datasource);
    }
    // The read-only role, its password from the environment, never written in the file.
    expect(source!.user).toBe('kpi_bi');
    expect(source!.secureJsonData.password).toBe('$KPI_BI_DB_PASSWORD');
  });
});

describe.skipIf(inUnitTier)('every panel of the Grafana dashboard, on Postgres', () => {
  let wh: TestPostgres;
  let seed: BiSeed;
  const results = new Map<string, { columns: string[]; rows: Array<Record<string, unknown>> }>();

  beforeAll(async () => {
    wh = await testPostgres();
    seed = await seedBi(wh);
    // An OKR assessed, then removed from the config: its snapshots stay, its objective is gone.
    await wh.db.insertInto('okr_snapshots').values({ okr: 'dropped', as_of: '2026-03-17', progress: 0.1, status: 'off_track' }).execute();
    // A goal last assessed a week before the others (every evaluation assesses each goal in the config): removed since.
    await wh.db.insertInto('goal_snapshots').values({ goal: 'dropped_goal', as_of: '2026-03-10', kpi: 'clicks', criterion: 'value', actual: 80, baseline: 0, target: 1000, progress: 0.08, expected: 0.3, forecast: 300, status: 'off_track' }).execute();
    for (const p of dashboard.panels) {
      const res = await sql.raw<Record<string, unknown>>(interpolate(p.targets[0]!.rawSql)).execute(wh.db);
      results.set(p.title, { columns: Object.keys(res.rows[0] ?? {}), rows: res.rows });
    }
  }, 120_000);

  afterAll(async () => {
    seed?.cleanup();
    await wh?.close();
  });

  it('the KPI variable lists the catalogue by label', async () => {
    const variable = dashboard.templating.list.find((v) => v.name === 'kpi')!;
    const { rows } = await sql.raw<{ __value: string; __text: string }>(variable.query).execute(wh.db);
    expect(rows.find((r) => r.__value === 'cost_per_1k_clicks')).toEqual({ __value: 'cost_per_1k_clicks', __text: 'Cost per 1k clicks' });
    expect(rows.find((r) => r.__value === 'ctr')?.__text).toBe('Click-through rate');
  });

  it('KPIs over time: a time series per KPI label, one point per complete week', () => {
    const { columns, rows } = results.get('KPIs over time')!;
    expect(columns).toEqual(['time', 'metric', 'value']);
    // By hand: 80 then 125 clicks; 160/80*1000 and 200/125*1000 USD per 1k clicks.
    expect(rows.map((r) => [(r.time as Date).toISOString(), r.metric, r.value])).toEqual([
      ['2026-03-02T00:00:00.000Z', 'Clicks', 80],
      ['2026-03-02T00:00:00.000Z', 'Cost per 1k clicks', 2000],
      ['2026-03-09T00:00:00.000Z', 'Clicks', 125],
      ['2026-03-09T00:00:00.000Z', 'Cost per 1k clicks', 1600],
    ]);
  });

  it('Latest complete values: the last complete week of each KPI with its display format', () => {
    const { columns, rows } = results.get('Latest complete values')!;
    expect(columns).toEqual(['kpi', 'period_start', 'period_end', 'value', 'format', 'direction']);
    expect(rows).toEqual([
      { kpi: 'Clicks', period_start: '2026-03-09', period_end: '2026-03-15', value: 125, format: 'short', direction: 'higher' },
      { kpi: 'Cost per 1k clicks', period_start: '2026-03-09', period_end: '2026-03-15', value: 1600, format: 'currencyUSD', direction: 'lower' },
    ]);
  });

  it('Goals and OKRs: the latest assessments, of goals and OKRs still in the config', () => {
    const goals = results.get('Goals')!;
    expect(goals.columns).toEqual(['goal', 'kpi', 'status', 'on_track', 'progress', 'expected', 'actual', 'target', 'forecast', 'as_of']);
    expect(goals.rows).toEqual([{ goal: 'clicks_march', kpi: 'Clicks', status: 'at_risk', on_track: false, progress: 0.41, expected: 17 / 31, actual: 205, target: 500, forecast: expect.closeTo(615.714, 3), as_of: '2026-03-17' }]);
    const okrs = results.get('OKRs')!;
    expect(okrs.columns).toEqual(['okr', 'objective', 'status', 'progress', 'key_result', 'weight', 'key_result_status', 'key_result_progress']);
    expect(okrs.rows).toEqual([{ okr: 'reach', objective: 'More clicks', status: 'at_risk', progress: 0.41, key_result: 'clicks_march', weight: 2, key_result_status: 'at_risk', key_result_progress: 0.41 }]);
  });

  it('Alert series and history: resolved since the second tick, the two transitions newest first', () => {
    const states = results.get('Alert series')!;
    expect(states.columns).toEqual(['rule', 'instance', 'state', 'since', 'summary']);
    expect(states.rows).toEqual([{ rule: 'clicks-low', instance: '', state: 'resolved', since: new Date('2026-03-17T12:00:00Z'), summary: 'Clicks 125 is not below 100 in the week of 2026-03-09' }]);
    const history = results.get('Alert history')!;
    expect(history.columns).toEqual(['time', 'rule', 'instance', 'from_state', 'to_state', 'reason']);
    expect(history.rows.map((r) => [r.from_state, r.to_state, (r.time as Date).toISOString()])).toEqual([
      ['firing', 'resolved', '2026-03-17T12:00:00.000Z'],
      ['ok', 'firing', '2026-03-10T12:00:00.000Z'],
    ]);
  });

  it('Rows written per sync and Sync runs: the seeded runs with their counters', () => {
    const written = results.get('Rows written per sync')!;
    expect(written.columns).toEqual(['time', 'metric', 'value']);
    expect(written.rows.map((r) => [r.metric, r.value])).toEqual([['gads', 8]]);
    const runs = results.get('Sync runs')!;
    expect(runs.columns).toEqual(['started_at', 'connector', 'status', 'duration_seconds', 'rows_read', 'rows_written', 'rows_deleted', 'rows_quarantined', 'error']);
    expect(runs.rows.map(({ started_at: _s, duration_seconds: _d, ...r }) => r)).toEqual([
      { connector: 'gads', status: 'failed', rows_read: 3, rows_written: 0, rows_deleted: 0, rows_quarantined: 0, error: 'HTTP 503 from the source\nsecond line' },
      { connector: 'gads', status: 'succeeded', rows_read: 10, rows_written: 8, rows_deleted: 1, rows_quarantined: 2, error: null },
    ]);
  });
});

describe('docker-compose.yml runs Grafana with these files', () => {
  const compose = parse(read('docker-compose.yml')) as { services: Record<string, { image?: string; volumes?: string[]; environment?: Record<string, string>; depends_on?: Record<string, { condition?: string }>; healthcheck?: { test?: string[] }; profiles?: string[] }> };
  const grafana = compose.services.grafana!;
  const mounts = (volumes: string[] = []) => volumes.filter((v) => v.startsWith('./')).map((v) => { const [host, target] = v.split(':'); return { host: host!, target: target! }; });

  it('mounts provisioning and dashboards that exist, where the provisioning files point', () => {
    const m = mounts(grafana.volumes);
    expect(m.map((x) => x.target).sort()).toEqual(['/etc/grafana/dashboards', '/etc/grafana/provisioning']);
    for (const { host } of m) expect(statSync(path.join(ROOT, host)).isDirectory(), host).toBe(true);
    const provisioning = m.find((x) => x.target === '/etc/grafana/provisioning')!.host;
    expect(readdirSync(path.join(ROOT, provisioning, 'datasources'))).toContain('kpi-warehouse.yaml');
    const providers = parse(read(path.join(provisioning, 'dashboards', 'kpi-pipeline.yaml'))) as { providers: Array<{ options: { path: string } }> };
    // The provider's path inside the container is the dashboards mount, which holds kpi.json.
    const dashboards = m.find((x) => x.target === providers.providers[0]!.options.path);
    expect(dashboards).toBeDefined();
    expect(existsSync(path.join(ROOT, dashboards!.host, 'kpi.json'))).toBe(true);
  });

  it('waits for a healthy Postgres, checks its own health, and takes its passwords from .env', () => {
    expect(grafana.image).toMatch(/^grafana\/grafana-oss:\d+\.\d+\.\d+$/);
    expect(grafana.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    expect(grafana.healthcheck?.test?.join(' ')).toContain('/api/health');
    expect(grafana.profiles).toEqual(['bi']);
    expect(grafana.environment?.KPI_BI_DB_PASSWORD).toBe('${KPI_BI_DB_PASSWORD:-}');
    expect(grafana.environment?.GF_SECURITY_ADMIN_PASSWORD).toBe('${GRAFANA_ADMIN_PASSWORD:-}');
    expect(read('.env.example')).toMatch(/^GRAFANA_ADMIN_PASSWORD=$/m);
    expect(read('.env.example')).toMatch(/^KPI_BI_DB_PASSWORD=$/m);
  });

  it('creates the read-only role with the Postgres volume, from a script that exists', () => {
    const postgres = compose.services.postgres!;
    const init = mounts(postgres.volumes).find((x) => x.target === '/docker-entrypoint-initdb.d');
    expect(init).toBeDefined();
    const script = read(path.join(init!.host, '10-bi-reader.sh'));
    expect(script).toContain('create role kpi_bi login');
    expect(script).toContain('default_transaction_read_only = on');
    expect(statSync(path.join(ROOT, init!.host, '10-bi-reader.sh')).mode & 0o111).not.toBe(0);
    expect(postgres.environment?.KPI_BI_DB_PASSWORD).toBe('${KPI_BI_DB_PASSWORD:-}');
  });
});
