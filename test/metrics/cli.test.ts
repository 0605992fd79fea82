import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.ts';
import { openWarehouse, type FactRow, type WarehouseKind } from '../../src/warehouse/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { migratedPglite, testPostgres, warehouseKinds } from '../helpers/warehouse.ts';
import { ADS, facts } from './helpers.ts';

/** Two Mondays: the week of 2026-03-02 and the week of 2026-03-09. */
const weekly: FactRow[] = facts(ADS, {
  '2026-03-02': { impressions: 4000, clicks: 80, spend: 160, conversions: 4 },
  '2026-03-09': { impressions: 5000, clicks: 125, spend: 200, conversions: 5 },
});

const CONFIG = `
dataDir: ./data
northStar: clicks
kpis:
  - name: cost_per_1k_clicks
    label: Cost per 1k clicks
    formula: spend / clicks * 1000
    unit: currency
    direction: lower
goals:
  - name: clicks_march
    kpi: clicks
    target: 500
    start: "2026-03-01"
    deadline: "2026-03-31"
    grain: week
okrs:
  - name: reach
    objective: More clicks
    keyResults: [{ goal: clicks_march }]
`;

/*
 * Worked out by hand. Last week (2026-03-09..15) against the week before:
 * clicks 125 vs 80 (+56.25%), CTR 125/5000 = 2.50% vs 80/4000 = 2.00% (+0.50 pp), CPC 1.60 vs
 * 2.00 (-20%), CPM 40 vs 40, ads conversion rate 5/125 = 4% vs 4/80 = 5% (-1.00 pp), CPA 40 vs 40,
 * cost per 1k clicks 1,600 vs 2,000 (-20%).
 * Goal: 205 clicks by the 17th of 500 (41%), 17/31 = 55% of the time gone: 0.138 behind, at
 * risk. Forecast: the weekly trend through 80 and 125 gives 170, 215 and 260 for the next
 * three weeks; 5/7 of the first, all of the second and 2/7 of the third fall before the
 * deadline: 205 + 170*5/7 + 215 + 260*2/7 = 615.71.
 */
const EXPECTED_REPORT = `KPI report, week 2026-03-09..2026-03-15 against 2026-03-02..2026-03-08 (as of 2026-03-17, USD)

North Star: Clicks 125 (previous 80, +56.25%)

┌───────────────────────┬──────────────┬──────────────┬──────────┐
│ KPI                   │        value │     previous │   change │
│ Cost per 1k clicks    │ 1,600.00 USD │ 2,000.00 USD │  -20.00% │
│ Click-through rate    │        2.50% │        2.00% │ +0.50 pp │
│ Cost per click        │     1.60 USD │     2.00 USD │  -20.00% │
│ Cost per mille        │    40.00 USD │    40.00 USD │    0.00% │
│ Conversion rate (ads) │        4.00% │        5.00% │ -1.00 pp │
│ Cost per acquisition  │    40.00 USD │    40.00 USD │    0.00% │
└───────────────────────┴──────────────┴──────────────┴──────────┘

Goals
  clicks_march: Clicks reach 500 from 2026-03-01 to 2026-03-31
    [########------------] 41% (expected 55%)  at risk  actual 205, forecast 615.71

OKRs
  reach: More clicks
    [########------------] 41%  at risk
      - clicks_march (weight 1): 41% at risk
`;

interface Setup {
  dir: string;
  env: NodeJS.ProcessEnv;
  cleanup(): Promise<void>;
}

async function setUp(kind: WarehouseKind, rows: FactRow[]): Promise<Setup> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kpi-cli-'));
  writeFileSync(path.join(dir, 'kpi.yaml'), CONFIG);
  if (kind === 'postgres') {
    const wh = await testPostgres();
    await upsertFacts(wh.db, rows);
    return {
      dir,
      env: { DATABASE_URL: wh.url },
      async cleanup() {
        await wh.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const wh = await openWarehouse({ dataDir: path.join(dir, 'data'), loadDataDir: migratedPglite() });
  await upsertFacts(wh.db, rows);
  await wh.close();
  return { dir, env: {}, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
}

async function run(setup: Setup, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env: setup.env, cwd: setup.dir });
  return { code, stdout, stderr };
}

describe.each(warehouseKinds)('kpi recompute and kpi report on %s', (kind) => {
  let setup: Setup;
  beforeAll(async () => {
    setup = await setUp(kind, weekly);
  });
  afterAll(async () => {
    await setup.cleanup();
  });

  it('prints the North Star, KPIs against the previous period, goals and OKRs', async () => {
    const res = await run(setup, ['report', '--config', 'kpi.yaml', '--as-of', '2026-03-17']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(EXPECTED_REPORT);
  });

  it('prints the same as JSON, and compares the month to date', async () => {
    const res = await run(setup, ['report', '-c', 'kpi.yaml', '--as-of', '2026-03-09', '--grain', 'month', '--period', 'current', '--json']);
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout);
    expect(report).toMatchObject({
      asOf: '2026-03-09',
      grain: 'month',
      period: 'current',
      current: { start: '2026-03-01', end: '2026-03-09' },
      previous: { start: '2026-02-01', end: '2026-02-09' },
      northStar: { kpi: 'clicks', value: 205, previous: null, change: null },
    });
    expect(report.kpis.map((k: { kpi: string }) => k.kpi)).toEqual(['cost_per_1k_clicks', 'ctr', 'cpc', 'cpm', 'click_conversion_rate', 'cpa']);
    expect(report.goals[0]).toMatchObject({ goal: 'clicks_march', actual: 205, status: 'on_track' });
  });

  it('recomputes everything, or the periods a range touches, and says what it did', async () => {
    const full = await run(setup, ['recompute', '--config', 'kpi.yaml']);
    expect(full.code).toBe(0);
    expect(full.stdout).toMatch(/^recomputed every fact \(2026-03-02\.\.2026-03-09\)\n/);
    expect(full.stdout).toMatch(/│ week +│ 2 +│ 2026-03-02 │ 2026-03-09 │/);
    expect(full.stdout).toMatch(/\nsummed the facts of 90 days\nwrote [\d,]+ KPI values, replacing 0, in \d/);

    const part = await run(setup, ['recompute', '--config', 'kpi.yaml', '--from', '2026-03-09', '--to', '2026-03-09']);
    expect(part.code).toBe(0);
    expect(part.stdout).toMatch(/^recomputed the periods touching 2026-03-09\.\.2026-03-09\n/);
    expect(part.stdout).toMatch(/│ month +│ 1 +│ 2026-03-01 │ 2026-03-01 │/);
    // The facts of the changed day are summed again; March's other days with facts come from their stored day points.
    expect(part.stdout).toContain('\nsummed the facts of 1 day, 7 days from their stored day points\n');
  });

  it('exits 2 on bad arguments', async () => {
    expect((await run(setup, ['report', '--config', 'kpi.yaml', '--grain', 'year'])).code).toBe(2);
    expect((await run(setup, ['report', '--config', 'kpi.yaml', '--as-of', '2026-13-01'])).code).toBe(2);
    const toOnly = await run(setup, ['recompute', '--config', 'kpi.yaml', '--to', '2026-03-09']);
    expect(toOnly).toMatchObject({ code: 2, stderr: '--to needs --from\n' });
  });

  it('exits 3 on a configuration problem, naming it', async () => {
    writeFileSync(path.join(setup.dir, 'bad.yaml'), 'goals:\n  - name: g\n    kpi: clickz\n    target: 1\n    start: "2026-03-01"\n    deadline: "2026-03-31"\n');
    const res = await run(setup, ['report', '--config', 'bad.yaml']);
    expect(res.code).toBe(3);
    expect(res.stderr).toContain("bad.yaml:3:10 goals[0].kpi: unknown KPI 'clickz'");
    expect(res.stdout).toBe('');
  });
});

describe.each(warehouseKinds)('kpi recompute with a currency it cannot convert on %s', (kind) => {
  let setup: Setup;
  beforeAll(async () => {
    setup = await setUp(kind, [...weekly, ...facts({ ...ADS, account: 'uk', currency: 'GBP' }, { '2026-03-03': { spend: 10 } })]);
  });
  afterAll(async () => {
    await setup.cleanup();
  });

  it('refuses with exit code 3 and says which currency needs a rate', async () => {
    const res = await run(setup, ['recompute', '--config', 'kpi.yaml']);
    expect(res.code).toBe(3);
    expect(res.stderr).toBe(
      "configuration error:\nreporting.fxRates: no exchange rate for GBP, which 1 money fact (e.g. from connector 'gads') carry; add `GBP: <USD per 1 GBP>` under reporting.fxRates\n",
    );
  });
});
