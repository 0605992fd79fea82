import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.ts';
import { kpiSeries, type Grain } from '../../src/metrics/index.ts';
import { kpiAtPeriods, PeriodSums } from '../../src/metrics/period-sums.ts';
import type { FactRow, Warehouse } from '../../src/warehouse/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { testWarehouse, warehouseKinds } from '../helpers/warehouse.ts';
import { ADS, clearWarehouse, facts, kpi, metricsConfig } from './helpers.ts';

/** Counts the statements that read metric_facts. */
class FactReads implements KyselyPlugin {
  count = 0;

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    if (args.node.kind === 'RawNode' && args.node.sqlFragments.join('').includes('from metric_facts')) this.count++;
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

const day = (n: number) => new Date(Date.UTC(2026, 1, 2) + n * 86_400_000).toISOString().slice(0, 10);

/** Four weeks from Monday 2026-02-02 over three campaigns; 'late' starts in the third week, 'social' runs on Tuesdays only. */
function someFacts(): FactRow[] {
  const rows: FactRow[] = [];
  for (let n = 0; n < 28; n++) {
    rows.push(...facts(ADS, { [day(n)]: { impressions: 1000 + n * 37, clicks: 20 + ((n * 7) % 11), spend: 50 + n, conversions: n % 4 } }));
    if (n >= 14) rows.push(...facts({ ...ADS, campaign: 'late' }, { [day(n)]: { impressions: 500, clicks: 5 + (n % 3), spend: 10 } }));
    if (n % 7 === 1) rows.push(...facts({ ...ADS, campaign: 'social', channel: 'paid_social' }, { [day(n)]: { impressions: 800, clicks: 12 + n } }));
  }
  return rows;
}

const config = metricsConfig({
  kpis: [kpi('clicks_change', 'clicks - previous(clicks)'), kpi('search_clicks_share', 'clicks / coalesce(impressions, 1)', { filter: { channel: 'paid_search' } })],
});
const KPIS = ['ctr', 'cpa', 'clicks_change', 'search_clicks_share'];

describe.each(warehouseKinds)('KPI values at chosen periods on %s', (kind) => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await testWarehouse(kind);
  });
  afterAll(async () => {
    await wh.close();
  });
  beforeEach(async () => {
    await clearWarehouse(wh.db);
    await upsertFacts(wh.db, someFacts());
  });

  it.each<[Grain, string[]]>([
    ['day', [day(1), day(8), day(15), day(22)]],
    ['day', [day(27)]],
    ['week', [day(0), day(21)]],
  ])('gives the values kpiSeries gives at those periods (%s %j)', async (grain, periods) => {
    for (const dimension of ['all', 'campaign'] as const) {
      const series = await kpiSeries(wh.db, config, { kpi: KPIS, grain, dimension, from: day(0), to: day(27) });
      const got = await kpiAtPeriods(wh.db, config, { kpi: KPIS, grain, dimension, periods });
      expect(got.length).toBeGreaterThan(0);
      for (const row of got) {
        const expected = periods.map((p) => series.find((s) => s.kpi === row.kpi && s.dimensionValue === row.dimensionValue && s.periodStart === p)?.value ?? null);
        expect(row.values, `${row.kpi} ${row.dimensionValue}`).toEqual(expected);
      }
    }
  });

  it('has the dimension values with data in the chosen periods, and no others', async () => {
    const mondays = [day(0), day(7), day(14), day(21)];
    const got = await kpiAtPeriods(wh.db, config, { kpi: 'clicks', grain: 'day', dimension: 'campaign', periods: mondays });
    // 'social' has clicks on Tuesdays only.
    expect(got.map((r) => r.dimensionValue)).toEqual(['brand', 'late']);
    expect(got[1]!.values).toEqual([null, null, 5 + (14 % 3), 5 + (21 % 3)]);
  });

  it('reads the queries announced on the same periods once, with the metrics of all of them', async () => {
    const reads = new FactReads();
    const db = wh.db.withPlugin(reads);
    const sums = new PeriodSums(db, config);
    const days = [day(3), day(10), day(17)];
    const queries = [
      { kpi: 'ctr', grain: 'day' as const, dimension: 'campaign' as const, periods: days },
      { kpi: 'spend', grain: 'day' as const, dimension: 'campaign' as const, periods: days },
      { kpi: 'clicks', grain: 'day' as const, dimension: 'campaign' as const, periods: [day(17)] },
    ];
    for (const q of queries) sums.expect(q);
    sums.prefetch();
    const shared = [];
    for (const q of queries) shared.push(await sums.values(q));
    // The last one reads a period of its own.
    expect(reads.count).toBe(2);
    for (const [i, q] of queries.entries()) expect(shared[i]).toEqual(await kpiAtPeriods(wh.db, config, q));
    // A query that was not announced still gets its sums: conversions are read then, spend is there already.
    reads.count = 0;
    const cpa = { kpi: 'cpa', grain: 'day' as const, dimension: 'campaign' as const, periods: days };
    expect(await sums.values(cpa)).toEqual(await kpiAtPeriods(wh.db, config, cpa));
    expect(reads.count).toBe(1);
  });

  it('fails only the query whose own sums cannot be converted when a shared read meets a currency without a rate', async () => {
    await upsertFacts(wh.db, facts({ ...ADS, campaign: 'euro', currency: 'EUR' }, { [day(3)]: { spend: 20, clicks: 4, impressions: 100 } }));
    const sums = new PeriodSums(wh.db, config);
    const ctr = { kpi: 'ctr', grain: 'day' as const, dimension: 'campaign' as const, periods: [day(3)] };
    const spend = { kpi: 'spend', grain: 'day' as const, dimension: 'campaign' as const, periods: [day(3)] };
    sums.expect(ctr);
    sums.expect(spend);
    // Read ahead, as an evaluation does: the failure waits for the queries that need the sums.
    sums.prefetch();
    expect((await sums.values(ctr)).map((r) => [r.dimensionValue, r.values[0]])).toEqual([
      ['brand', (20 + 21 % 11) / (1000 + 3 * 37)],
      ['euro', 4 / 100],
    ]);
    await expect(sums.values(spend)).rejects.toThrow(ConfigError);
    await expect(sums.values(spend)).rejects.toThrow(/no exchange rate for EUR/);
  });

  it('refuses a date that does not start a period of the grain', async () => {
    await expect(kpiAtPeriods(wh.db, config, { kpi: 'ctr', grain: 'week', periods: [day(1)] })).rejects.toThrow(RangeError);
  });
});
