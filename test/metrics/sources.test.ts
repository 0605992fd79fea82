/**
 * Which connectors count for a base metric: GA4 and the shop both write revenue, and a KPI
 * that summed both counted every order twice. `metrics: { revenue: { from: [...] } }` makes
 * KPIs, their completeness and kpi_sources follow the choice; `kpi validate` warns while a
 * business metric written by two connectors has none.
 */
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../src/config/index.ts';
import { configChecks, configWarnings } from '../../src/config-checks.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { kpiSeries, loadCompleteness, owedRanges, recompute, refreshKpiSources } from '../../src/metrics/index.ts';
import type { Database } from '../../src/warehouse/index.ts';
import { runCli, tempProject } from '../helpers/cli.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { useWarehouse, warehouseKinds } from '../helpers/warehouse.ts';
import { facts } from './helpers.ts';

const CONNECTORS = `connectors:
  - name: ga4-shop
    type: ga4
    propertyIds: ["123456789"]
    auth: { type: oauth, clientId: client-id-value, clientSecret: client-secret-value, refreshToken: refresh-token-value }
  - name: google-ads
    type: google_ads
    customerIds: ["1234567890"]
    developerToken: dev-token-value
    auth: { type: oauth, clientId: client-id-value, clientSecret: client-secret-value, refreshToken: refresh-token-value }
  - name: shop-orders
    type: http_json
    url: https://shop.example.com/orders.json
    auth: { type: none }
    pagination: { type: none }
    recordsPath: orders
    fields:
      date: created_at
      metrics:
        orders: { count: true }
        revenue: { sum: total_price }
`;

function configOf(extra = ''): Config {
  return parseConfig(`reporting: { currency: EUR }\n${CONNECTORS}${extra}`, 'kpi.yaml', { env: {}, checks: configChecks, warnings: configWarnings });
}

/** How the loader names a file in messages: relative to the process's folder. */
const shownFile = (dir: string) => path.relative(process.cwd(), path.join(dir, 'kpi.yaml'));

const CHOSEN = 'metrics:\n  revenue: { from: [shop-orders] }\n';

/** Monday and Tuesday of one week: GA4's tracked revenue, the shop's orders, the ads' spend. */
const FACTS = [
  ...facts({ connector: 'ga4-shop', account: '123456789', campaign: '', channel: 'direct', currency: 'EUR' }, { '2026-03-02': { revenue: 900 }, '2026-03-03': { revenue: 700 } }),
  ...facts({ connector: 'shop-orders', account: 'shop', campaign: '', channel: '', currency: 'EUR' }, { '2026-03-02': { revenue: 1000, orders: 10 }, '2026-03-03': { revenue: 600, orders: 5 } }),
  ...facts({ connector: 'google-ads', account: '1234567890', campaign: 'brand', channel: 'paid_search', currency: 'EUR' }, { '2026-03-02': { spend: 100 }, '2026-03-03': { spend: 60 } }),
];

const clear = async (db: Kysely<Database>) => {
  await sql`truncate metric_facts, kpi_points, kpi_sources`.execute(db);
  await sql`delete from kpi_days`.execute(db);
};

async function stored(db: Kysely<Database>, kpi: string, grain: string, dimension = 'all') {
  const rows = await db.selectFrom('kpi_values').select(['period_start', 'dimension_value', 'value']).where('kpi', '=', kpi).where('grain', '=', grain).where('dimension', '=', dimension).orderBy('period_start').orderBy('dimension_value').execute();
  return rows.map((r) => ({ period: r.period_start, value: r.dimension_value ? `${r.dimension_value}: ${r.value}` : r.value }));
}

describe.each(warehouseKinds)('metric sources on %s', (kind) => {
  const wh = useWarehouse(kind, clear);

  it('counts revenue from the chosen connector only, in stored KPI values and in series read from the facts', async () => {
    await upsertFacts(wh.db, FACTS);
    const config = configOf(CHOSEN);
    await recompute(wh.db, config);
    // Shop only: 1000 + 600. GA4's 900 + 700 stay in metric_facts, counted by no KPI.
    expect(await stored(wh.db, 'revenue', 'week')).toEqual([{ period: '2026-03-02', value: 1600 }]);
    expect(await stored(wh.db, 'revenue', 'day')).toEqual([
      { period: '2026-03-02', value: 1000 },
      { period: '2026-03-03', value: 600 },
    ]);
    // roi = (revenue - spend) / spend = (1600 - 160) / 160; aov = 1600 / 15 orders.
    expect(await stored(wh.db, 'roi', 'week')).toEqual([{ period: '2026-03-02', value: 9 }]);
    expect(await stored(wh.db, 'aov', 'week')).toEqual([{ period: '2026-03-02', value: 1600 / 15 }]);
    // By connector: GA4's revenue is no KPI's, so it has no revenue point of its own.
    expect(await stored(wh.db, 'revenue', 'week', 'connector')).toEqual([{ period: '2026-03-02', value: 'shop-orders: 1600' }]);
    const series = await kpiSeries(wh.db, config, { kpi: ['revenue', 'roi'], grain: 'week', from: '2026-03-02', to: '2026-03-08' });
    expect(series.map((p) => [p.kpi, p.value])).toEqual([
      ['revenue', 1600],
      ['roi', 9],
    ]);
    await sql`truncate metric_facts`.execute(wh.db);
  });

  it('sums every writer without a choice (what the warning is about), and a choice made later makes every stored day owed', async () => {
    await upsertFacts(wh.db, FACTS);
    const unchosen = configOf();
    await recompute(wh.db, unchosen);
    expect(await stored(wh.db, 'revenue', 'week')).toEqual([{ period: '2026-03-02', value: 3200 }]);
    expect(await owedRanges(wh.db, unchosen)).toEqual([]);
    const chosen = configOf(CHOSEN);
    // The stored day points summed GA4 too: with the choice they are out of date.
    expect(await owedRanges(wh.db, chosen)).toEqual([{ from: '2026-03-02', to: '2026-03-03' }]);
    await recompute(wh.db, chosen, { from: '2026-03-02', to: '2026-03-03' });
    expect(await stored(wh.db, 'revenue', 'week')).toEqual([{ period: '2026-03-02', value: 1600 }]);
    expect(await owedRanges(wh.db, chosen)).toEqual([]);
  });

  it('a KPI fed only by the chosen connectors depends only on them for completeness', async () => {
    const config = configOf(CHOSEN);
    const completeness = await loadCompleteness(wh.db, config);
    expect(completeness.sourcesOf('revenue')).toEqual(['shop-orders']);
    expect(completeness.sourcesOf('aov')).toEqual(['ga4-shop', 'shop-orders']); // transactions, in coalesce(orders, transactions), are GA4's
    expect(completeness.sourcesOf('roi')).toEqual(['google-ads', 'shop-orders']);
    expect(completeness.sourcesOf('sessions')).toEqual(['ga4-shop']);
    expect((await loadCompleteness(wh.db, configOf())).sourcesOf('revenue')).toEqual(['ga4-shop', 'shop-orders']);
    await refreshKpiSources(wh.db, config);
    const rows = await wh.db.selectFrom('kpi_sources').select(['kpi', 'connector']).where('kpi', 'in', ['revenue', 'roi']).orderBy('kpi').orderBy('connector').execute();
    expect(rows).toEqual([
      { kpi: 'revenue', connector: 'shop-orders' },
      { kpi: 'roi', connector: 'google-ads' },
      { kpi: 'roi', connector: 'shop-orders' },
    ]);
  });
});

describe('the choice of connectors in the config', () => {
  it('refuses an unknown metric, an unknown connector and one that does not write the metric, each with its line', () => {
    const bad = () => configOf('metrics:\n  revenu: { from: [shop-orders] }\n  orders: { from: [shop-order] }\n  sessions: { from: [shop-orders] }\n');
    expect(bad).toThrow(ConfigError);
    expect(() => bad()).toThrow(
      [
        "kpi.yaml:24:11 metrics.revenu: unknown base metric 'revenu' (did you mean 'revenue'?): metrics chooses the connectors of a base metric such as revenue",
        "kpi.yaml:25:20 metrics.orders.from[0]: unknown connector 'shop-order': connectors are named under connectors (did you mean 'shop-orders'?)",
        "kpi.yaml:26:22 metrics.sessions.from[0]: connector 'shop-orders' does not write sessions, so counting sessions from it would count nothing",
      ].join('\n'),
    );
  });

  it('warns about nothing once a choice is made, nor about ad metrics two platforms add up', () => {
    // Meta writes clicks and spend as Google Ads does (two platforms: they add up), and leads, which nothing else writes here.
    const meta = '  - { name: meta-ads, type: meta_ads, adAccountIds: ["act_1001"], accessToken: meta-token-value }\n';
    expect(configOf(`${meta}${CHOSEN}`).warnings).toBeUndefined();
    expect(configOf(meta).warnings?.map((w) => w.path)).toEqual(['connectors[2].fields.metrics.revenue']);
  });
});

describe('kpi validate', () => {
  it('warns (exit 0) where two connectors write revenue into KPIs with no choice, naming the metric, the connectors, the KPIs and the line', async () => {
    const p = tempProject({ 'kpi.yaml': `reporting: { currency: EUR }\n${CONNECTORS}` });
    try {
      const res = await runCli(['validate', '--config', 'kpi.yaml'], { cwd: p.dir });
      expect(res).toEqual({
        code: 0,
        stdout: 'kpi.yaml: valid (3 connectors, 0 custom KPIs, 0 goals, 0 OKRs, 0 alert rules, 0 channels), 1 warning\n',
        stderr:
          `warning: ${shownFile(p.dir)}:22:18 connectors[2].fields.metrics.revenue: revenue is written by ga4-shop (ga4) and shop-orders (http_json), ` +
          'and KPIs revenue, roi, aov, revenue_per_user and clv would add them up, counting the same revenue twice; ' +
          `say which to count, e.g. metrics: { revenue: { from: [shop-orders] } }\n`,
      });
    } finally {
      p.cleanup();
    }
  });

  it('is quiet once the config says which connector counts', async () => {
    const p = tempProject({ 'kpi.yaml': `reporting: { currency: EUR }\n${CONNECTORS}${CHOSEN}` });
    try {
      expect(await runCli(['validate', '--config', 'kpi.yaml'], { cwd: p.dir })).toEqual({
        code: 0,
        stdout: 'kpi.yaml: valid (3 connectors, 0 custom KPIs, 0 goals, 0 OKRs, 0 alert rules, 0 channels)\n',
        stderr: '',
      });
    } finally {
      p.cleanup();
    }
  });

  it('passes the shipped example without a warning: it says where revenue and leads come from', async () => {
    const res = await runCli(['validate', '--config', 'config/example.yaml', '--env-from', 'config/example.env'], { cwd: new URL('../..', import.meta.url).pathname });
    expect(res).toEqual({ code: 0, stdout: 'config/example.yaml: valid (12 connectors, 2 custom KPIs, 2 goals, 1 OKR, 5 alert rules, 2 channels)\n', stderr: '' });
  });
});
