import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.ts';
import { builtinKpis, compareToDate, kpiSeries, kpiValue, recompute, type SeriesPoint } from '../../src/metrics/index.ts';
import type { Warehouse } from '../../src/warehouse/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { testWarehouse, warehouseKinds } from '../helpers/warehouse.ts';
import { ADS, catalogueFacts, clearWarehouse, facts, GA4, kpi, kpiRows, metricsConfig } from './helpers.ts';

/** Worked out by hand from catalogueFacts: the week of 2026-03-02 holds both days. */
const expectedWeek: Record<string, number> = {
  ctr: 80 / 4000,
  cpc: 160 / 80,
  cpm: (160 / 4000) * 1000,
  conversion_rate: 15 / 500,
  click_conversion_rate: 6 / 80,
  cpa: 160 / 6,
  cac: 160 / 4,
  roas: 500 / 160,
  roi: (1500 - 160) / 160,
  aov: 1500 / 12,
  revenue_per_user: 1500 / 400,
  purchase_frequency: 12 / 8,
  clv: 1500 / 8,
  bounce_rate: 1 - 270 / 500,
  engagement_rate: 270 / 500,
  open_rate: 480 / 1440,
  click_rate: 87 / 1440,
  click_to_open_rate: 87 / 480,
  unsubscribe_rate: 7 / 1440,
  email_bounce_rate: 60 / 1500,
  lead_conversion_rate: 15 / 50,
  lead_to_customer_rate: 4 / 50,
  organic_ctr: 100 / 3000,
  avg_search_position: 10000 / 3000,
};

const valuesOf = (points: SeriesPoint[]) => Object.fromEntries(points.map((p) => [p.kpi, p.value]));

describe.each(warehouseKinds)('KPI values on %s', (kind) => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await testWarehouse(kind);
  });
  afterAll(async () => {
    await wh.close();
  });

  it('computes every built-in KPI as a ratio of the period sums', async () => {
    await clearWarehouse(wh.db);
    await upsertFacts(wh.db, catalogueFacts);
    expect(Object.keys(expectedWeek).sort()).toEqual(builtinKpis.map((k) => k.name).sort());
    const points = await kpiSeries(wh.db, metricsConfig(), { kpi: Object.keys(expectedWeek), grain: 'week', from: '2026-03-02', to: '2026-03-08' });
    expect(points).toHaveLength(Object.keys(expectedWeek).length);
    const got = valuesOf(points);
    for (const [name, value] of Object.entries(expectedWeek)) expect(got[name], name).toBeCloseTo(value, 12);
    expect(points[0]).toMatchObject({ periodStart: '2026-03-02', periodEnd: '2026-03-08', dimension: 'all', dimensionValue: '', partial: false });
  });

  it('takes the ratio of sums, not the average of the daily ratios', async () => {
    const days = await kpiSeries(wh.db, metricsConfig(), { kpi: ['ctr', 'avg_search_position'], grain: 'day', from: '2026-03-02', to: '2026-03-03' });
    expect(days.map((p) => [p.kpi, p.periodStart, p.value])).toEqual([
      ['ctr', '2026-03-02', 50 / 1000],
      ['ctr', '2026-03-03', 30 / 3000],
      ['avg_search_position', '2026-03-02', 8000 / 2000],
      ['avg_search_position', '2026-03-03', 2000 / 1000],
    ]);
    const week = valuesOf(await kpiSeries(wh.db, metricsConfig(), { kpi: ['ctr', 'avg_search_position'], grain: 'week', from: '2026-03-02', to: '2026-03-08' }));
    expect(week.ctr).toBeCloseTo(0.02, 12);
    expect(week.ctr).not.toBeCloseTo((0.05 + 0.01) / 2, 6);
    expect(week.avg_search_position).toBeCloseTo(10 / 3, 12);
    expect(week.avg_search_position).not.toBeCloseTo((4 + 2) / 2, 6);
  });

  it('uses each base metric as a KPI (its sum)', async () => {
    const got = valuesOf(await kpiSeries(wh.db, metricsConfig(), { kpi: ['spend', 'clicks', 'revenue', 'email_sent'], grain: 'month', from: '2026-03-01', to: '2026-03-31' }));
    expect(got).toEqual({ spend: 160, clicks: 80, revenue: 1500, email_sent: 1500 });
  });

  it('writes the same values through recompute', async () => {
    await recompute(wh.db, metricsConfig());
    const rows = (await kpiRows(wh.db)).filter((r) => r.grain === 'week' && r.dimension === 'all' && r.kpi in expectedWeek);
    expect(rows).toHaveLength(Object.keys(expectedWeek).length);
    for (const r of rows) {
      expect(r.value, r.kpi).toBeCloseTo(expectedWeek[r.kpi]!, 12);
      expect(r).toMatchObject({ period_start: '2026-03-02', period_end: '2026-03-08', dimension_value: '' });
    }
  });

  it('falls back to transactions for AOV where no orders are reported', async () => {
    const byConnector = await kpiSeries(wh.db, metricsConfig(), { kpi: 'aov', grain: 'week', dimension: 'connector', from: '2026-03-02', to: '2026-03-08' });
    expect(byConnector.map((p) => [p.dimensionValue, p.value])).toEqual([
      ['ga4', 1500 / 10],
      ['shop', null],
    ]);
  });

  it('splits by connector, channel and campaign', async () => {
    const config = metricsConfig();
    const channel = await kpiSeries(wh.db, config, { kpi: ['clicks', 'sessions'], grain: 'week', dimension: 'channel', from: '2026-03-02', to: '2026-03-08' });
    expect(channel.map((p) => [p.kpi, p.dimensionValue, p.value])).toEqual([
      ['clicks', 'direct', null],
      ['clicks', 'paid_search', 80],
      ['sessions', 'direct', 500],
      ['sessions', 'paid_search', null],
    ]);
    const campaign = await kpiSeries(wh.db, config, { kpi: 'open_rate', grain: 'day', dimension: 'campaign', from: '2026-03-02', to: '2026-03-03' });
    expect(campaign.map((p) => [p.dimensionValue, p.periodStart, p.value])).toEqual([
      ['newsletter', '2026-03-02', 380 / 950],
      ['newsletter', '2026-03-03', 100 / 490],
    ]);
  });

  it('applies a query filter on top of the KPI, with lists meaning any of them', async () => {
    const config = metricsConfig();
    const value = (name: string, filter: Record<string, string | string[]>) => kpiValue(wh.db, config, { kpi: name, from: '2026-03-02', to: '2026-03-03', filter });
    expect(await value('spend', { connector: 'gads' })).toBe(160);
    expect(await value('sessions', { channel: ['email', 'direct'] })).toBe(500);
    expect(await value('spend', { connector: 'nobody' })).toBeNull();
    // A filter applies to every metric of the formula: ROI with only the ad connector has no revenue.
    expect(await value('roi', { connector: 'gads' })).toBeNull();
    expect(await value('ctr', { campaign: 'brand', account: 'acc' })).toBeCloseTo(80 / 4000, 12);
  });

  it('evaluates config KPIs: overrides, references to other KPIs, fixed filters seen through each other', async () => {
    const config = metricsConfig({
      kpis: [
        kpi('ctr', 'clicks / impressions * 100', { unit: 'percent' }),
        kpi('cpc_doubled', 'cpc * 2'),
        kpi('paid_clicks', 'clicks', { filter: { channel: 'paid_search' } }),
        kpi('paid_click_share', 'paid_clicks / (clicks + email_unique_clicks)'),
        // The intersection of paid_social and paid_search is empty: no value, not the unfiltered one.
        kpi('social_paid_clicks', 'paid_clicks', { filter: { channel: 'paid_social' } }),
        kpi('email_clicks_via_filter', 'paid_click_share', { filter: { channel: 'email' } }),
      ],
    });
    const got = valuesOf(
      await kpiSeries(wh.db, config, {
        kpi: ['ctr', 'cpc_doubled', 'paid_clicks', 'paid_click_share', 'social_paid_clicks', 'email_clicks_via_filter'],
        grain: 'week',
        from: '2026-03-02',
        to: '2026-03-08',
      }),
    );
    expect(got.ctr).toBeCloseTo((80 / 4000) * 100, 12);
    expect(got.cpc_doubled).toBe((160 / 80) * 2);
    expect(got.paid_clicks).toBe(80);
    expect(got.paid_click_share).toBeCloseTo(80 / (80 + 87), 12);
    expect(got.social_paid_clicks).toBeNull();
    // Under channel=email, paid_clicks (channel=paid_search) matches no fact at all, so the share has no value.
    expect(got.email_clicks_via_filter).toBeNull();
  });

  it('looks back a period with previous()', async () => {
    const config = metricsConfig({ kpis: [kpi('clicks_change', 'clicks - previous(clicks)')] });
    const points = await kpiSeries(wh.db, config, { kpi: 'clicks_change', grain: 'day', from: '2026-03-02', to: '2026-03-04' });
    expect(points.map((p) => p.value)).toEqual([null, 30 - 50, null]);
  });

  it('gives a KPI a value only where a metric it reads has data, whatever is computed alongside', async () => {
    const config = metricsConfig({ kpis: [kpi('conversions_or_zero', 'coalesce(conversions, 0)')] });
    const query = { grain: 'week' as const, dimension: 'connector' as const, from: '2026-03-02', to: '2026-03-08' };
    const alone = await kpiSeries(wh.db, config, { ...query, kpi: 'conversions_or_zero' });
    expect(alone.map((p) => [p.dimensionValue, p.value])).toEqual([['gads', 6]]);
    const together = await kpiSeries(wh.db, config, { ...query, kpi: ['conversions_or_zero', 'sessions'] });
    expect(together.filter((p) => p.kpi === 'conversions_or_zero').map((p) => [p.dimensionValue, p.value])).toEqual([
      ['ga4', null],
      ['gads', 6],
    ]);
  });

  it('counts only the days up to `to` in the last period and marks it partial', async () => {
    const points = await kpiSeries(wh.db, metricsConfig(), { kpi: 'clicks', grain: 'month', from: '2026-03-01', to: '2026-03-02' });
    expect(points).toEqual([{ kpi: 'clicks', periodStart: '2026-03-01', periodEnd: '2026-03-31', dimension: 'all', dimensionValue: '', dimensionLabel: '', value: 50, partial: true }]);
  });

  it('has no value for a zero denominator, and recompute stores no row for it', async () => {
    await clearWarehouse(wh.db);
    await upsertFacts(wh.db, facts(ADS, { '2026-03-04': { impressions: 500, clicks: 0, spend: 10 } }));
    const got = valuesOf(await kpiSeries(wh.db, metricsConfig(), { kpi: ['cpc', 'ctr', 'cpa', 'spend'], grain: 'day', from: '2026-03-04', to: '2026-03-04' }));
    expect(got).toEqual({ cpc: null, ctr: 0, cpa: null, spend: 10 });
    await recompute(wh.db, metricsConfig());
    const day = (await kpiRows(wh.db)).filter((r) => r.grain === 'day' && r.dimension === 'all');
    expect(day.map((r) => [r.kpi, r.value])).toEqual([
      ['clicks', 0],
      ['cpm', (10 / 500) * 1000],
      ['ctr', 0],
      ['impressions', 500],
      ['spend', 10],
    ]);
  });

  it('converts money to the reporting currency with fxRates, and leaves other metrics alone', async () => {
    await clearWarehouse(wh.db);
    await upsertFacts(wh.db, [
      ...facts({ ...ADS, account: 'us', currency: 'USD' }, { '2026-03-02': { spend: 100, clicks: 10 } }),
      ...facts({ ...ADS, account: 'eu', currency: 'EUR' }, { '2026-03-02': { spend: 100, clicks: 10 } }),
      // No currency: taken to be in the reporting currency already.
      ...facts({ ...ADS, account: 'none', currency: null }, { '2026-03-02': { spend: 50 } }),
    ]);
    const usd = metricsConfig({ fxRates: { EUR: 1.1 } });
    const got = valuesOf(await kpiSeries(wh.db, usd, { kpi: ['spend', 'clicks', 'cpc'], grain: 'day', from: '2026-03-02', to: '2026-03-02' }));
    expect(got.spend).toBeCloseTo(100 + 100 * 1.1 + 50, 12);
    expect(got.clicks).toBe(20);
    expect(got.cpc).toBeCloseTo((100 + 110 + 50) / 20, 12);

    const eur = metricsConfig({ currency: 'EUR', fxRates: { USD: 0.9 } });
    expect(await kpiValue(wh.db, eur, { kpi: 'spend', from: '2026-03-02', to: '2026-03-02' })).toBeCloseTo(100 * 0.9 + 100 + 50, 12);

    await recompute(wh.db, usd);
    const stored = (await kpiRows(wh.db)).find((r) => r.kpi === 'spend' && r.grain === 'day' && r.dimension === 'all');
    expect(stored?.value).toBeCloseTo(260, 12);
  });

  it('refuses a currency that has no rate, naming it, and recompute writes nothing', async () => {
    await upsertFacts(wh.db, facts({ ...GA4, currency: 'GBP' }, { '2026-03-05': { revenue: 70 } }));
    const config = metricsConfig({ fxRates: { EUR: 1.1 } });
    const before = await kpiRows(wh.db);
    const series = kpiSeries(wh.db, config, { kpi: 'roi', grain: 'week', from: '2026-03-02', to: '2026-03-08' });
    await expect(series).rejects.toBeInstanceOf(ConfigError);
    await expect(series).rejects.toThrow(/no exchange rate for GBP.*connector 'ga4'.*reporting\.fxRates/);

    const run = recompute(wh.db, config);
    await expect(run).rejects.toBeInstanceOf(ConfigError);
    await expect(run).rejects.toThrow(/no exchange rate for GBP, which 1 money fact \(e\.g\. from connector 'ga4'\) carry/);
    expect(await kpiRows(wh.db)).toEqual(before);

    // A KPI that reads no money is not held up by it.
    expect(await kpiValue(wh.db, config, { kpi: 'clicks', from: '2026-03-02', to: '2026-03-08' })).toBe(20);
  });

  it('compares the period to date with the same days of the previous period', async () => {
    await clearWarehouse(wh.db);
    await upsertFacts(
      wh.db,
      facts(ADS, {
        '2026-02-01': { clicks: 10, impressions: 100 },
        '2026-02-02': { clicks: 10, impressions: 100 },
        '2026-02-20': { clicks: 99, impressions: 100 },
        '2026-03-01': { clicks: 30, impressions: 200 },
        '2026-03-02': { clicks: 20, impressions: 200 },
        '2026-03-03': { clicks: 50, impressions: 50 },
      }),
    );
    const [row] = await compareToDate(wh.db, metricsConfig(), { kpi: 'ctr', grain: 'month', asOf: '2026-03-02' });
    expect(row).toEqual({
      kpi: 'ctr',
      dimension: 'all',
      dimensionValue: '',
      dimensionLabel: '',
      current: { start: '2026-03-01', end: '2026-03-02', value: 50 / 400 },
      previous: { start: '2026-02-01', end: '2026-02-02', value: 20 / 200 },
      change: (50 / 400 - 20 / 200) / (20 / 200),
    });
    const byChannel = await compareToDate(wh.db, metricsConfig(), { kpi: 'clicks', grain: 'month', asOf: '2026-03-02', dimension: 'channel' });
    expect(byChannel.map((r) => [r.dimensionValue, r.current.value, r.previous.value, r.change])).toEqual([['paid_search', 50, 20, 1.5]]);
  });
});
