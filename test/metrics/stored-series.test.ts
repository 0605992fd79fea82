import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { buildReport, kpiSeries, kpiWindows, recompute, storedTotalsSeries, storedTotalsWindows, toDateWindows } from '../../src/metrics/index.ts';
import { exactDecimal } from '../../src/metrics/stored-series.ts';
import { addDays } from '../../src/metrics/periods.ts';
import type { FactRow } from '../../src/warehouse/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { useWarehouse, warehouseKinds } from '../helpers/warehouse.ts';
import { ADS, CAMPAIGNS, clearWarehouse, facts, kpi, metricsConfig } from './helpers.ts';

/** 20 weeks from Monday 2026-01-05 of cent values (EUR converted at 1.08): sums of their doubles are not the exact sums. */
function dataset(): FactRow[] {
  const rows: FactRow[] = [];
  for (let d = 0; d < 140; d++) {
    const date = addDays('2026-01-05', d);
    CAMPAIGNS.forEach((s, i) => {
      const cents = (k: number) => ((d * 7919 + i * 104729 + k * 1299709) % 100000) / 100;
      rows.push(...facts(s, { [date]: { impressions: 1000 + ((d * 37 + i * 101) % 500), clicks: 10 + ((d * 7 + i * 3) % 40), spend: cents(1), conversions: (d + i) % 4, conversion_value: cents(2) } }));
    });
  }
  return rows;
}

const config = metricsConfig({
  fxRates: { EUR: 1.08 },
  kpis: [kpi('clicks_change', 'clicks - previous(clicks)'), kpi('search_cpc', 'spend / clicks', { filter: { channel: 'paid_search' } })],
});
const names = ['spend', 'conversion_value', 'cpc', 'roas', 'ctr', 'clicks_change', 'search_cpc', 'sessions'];

describe.each(warehouseKinds)('KPI totals from the stored points on %s', (kind) => {
  const wh = useWarehouse(kind, clearWarehouse);

  it('are the values the facts give, to the bit, for whole periods, periods to date and sparklines of every grain', async () => {
    await upsertFacts(wh.db, dataset());
    await recompute(wh.db, config);
    for (const grain of ['day', 'week', 'month'] as const) {
      const query = { kpi: names, grain, from: '2026-01-05', to: '2026-05-20' };
      expect(await storedTotalsSeries(wh.db, config, query)).toEqual(await kpiSeries(wh.db, config, query));
      const { current, previous } = toDateWindows('2026-05-20', grain);
      const windows = { kpi: names, windows: [previous, current] };
      expect(await storedTotalsWindows(wh.db, config, windows)).toEqual(await kpiWindows(wh.db, config, windows));
    }
    // Adding the stored day doubles, as the stored week points do, would not give those values.
    const { rows } = await sql<{ period_start: string; value: number }>`select period_start, value from kpi_values where kpi = 'spend' and grain = 'week' and dimension = 'all' order by period_start`.execute(wh.db);
    const fromFacts = await kpiSeries(wh.db, config, { kpi: 'spend', grain: 'week', from: '2026-01-05', to: '2026-05-24' });
    expect(rows.filter((r, i) => r.value !== fromFacts[i]!.value).length).toBeGreaterThan(0);
  });

  it('are read from the points, not the facts, while the points are current, and from the facts once KPI work is owed', async () => {
    await upsertFacts(wh.db, dataset());
    await recompute(wh.db, config);
    const query = { kpi: ['spend', 'search_cpc'], grain: 'week' as const, from: '2026-03-02', to: '2026-03-08' };
    const before = await kpiSeries(wh.db, config, query);
    // A change no trigger sees leaves the points current: they still say what recompute computed.
    await sql`alter table metric_facts disable trigger user`.execute(wh.db);
    await sql`update metric_facts set value = value + 100 where date = '2026-03-04' and metric = 'spend'`.execute(wh.db);
    await sql`alter table metric_facts enable trigger user`.execute(wh.db);
    const stale = await storedTotalsSeries(wh.db, config, query);
    expect(stale.find((p) => p.kpi === 'spend')!.value).toBe(before.find((p) => p.kpi === 'spend')!.value);
    // The filtered KPI has no stored sums of its own: always from the facts.
    expect(stale.find((p) => p.kpi === 'search_cpc')!.value).not.toBe(before.find((p) => p.kpi === 'search_cpc')!.value);
    // A change the triggers see makes the day owed: the totals come from the facts until recompute catches up.
    await sql`update metric_facts set value = value + 1 where date = '2026-03-05' and metric = 'clicks'`.execute(wh.db);
    const owed = await storedTotalsSeries(wh.db, config, query);
    expect(owed).toEqual(await kpiSeries(wh.db, config, query));
    expect(owed.find((p) => p.kpi === 'spend')!.value).not.toBe(before.find((p) => p.kpi === 'spend')!.value);
    await recompute(wh.db, config, { from: '2026-03-04', to: '2026-03-05' });
    expect(await storedTotalsSeries(wh.db, config, query)).toEqual(owed);
    // Truncated facts leave no day state behind: the points still stored are older than the facts.
    await sql`truncate metric_facts`.execute(wh.db);
    const empty = await storedTotalsSeries(wh.db, config, query);
    expect(empty.map((p) => p.value)).toEqual([null, null]);
  });

  it('are the facts\' values where a day sum has more than 15 significant digits, though its double prints with fewer', async () => {
    const config = metricsConfig({ kpis: [kpi('total_spend', 'spend', { unit: 'currency' })] });
    // Monday's spend sums to 9007199254740000.5, whose double prints as 9007199254740000; Tuesday's is 0.5.
    await upsertFacts(wh.db, [...facts(ADS, { '2026-03-02': { spend: 9007199254740000 }, '2026-03-09': { spend: 7 } }), ...facts({ ...ADS, account: 'other' }, { '2026-03-02': { spend: 0.5 }, '2026-03-03': { spend: 0.5 } })]);
    await recompute(wh.db, config);
    // An incremental recompute that takes Monday from its stored points still knows its sums are not exact.
    await recompute(wh.db, config, { from: '2026-03-03', to: '2026-03-03' });
    const reports = { grain: 'week', period: 'last', asOf: '2026-03-12', history: 2 } as const;
    const full = { ...config, connectors: [], goals: [], okrs: [] };
    const fromFacts = await buildReport(wh.db, full, reports);
    expect(fromFacts.kpis.find((l) => l.kpi === 'total_spend')!.value).toBe(9007199254740001);
    expect(await buildReport(wh.db, full, { ...reports, storedPoints: true })).toEqual(fromFacts);
    // The exact days are still read from their points: a change no trigger sees does not show.
    await sql`alter table metric_facts disable trigger user`.execute(wh.db);
    await sql`update metric_facts set value = 8 where date = '2026-03-09'`.execute(wh.db);
    await sql`alter table metric_facts enable trigger user`.execute(wh.db);
    const week = { kpi: ['total_spend'], windows: [{ start: '2026-03-09', end: '2026-03-15' }] };
    expect((await storedTotalsWindows(wh.db, config, week))[0]!.values).toEqual([7]);
  });

  it('are the facts\' values where a day sum is not a number, or not a finite double', async () => {
    const config = metricsConfig({ kpis: [kpi('total_spend', 'spend', { unit: 'currency' })] });
    await upsertFacts(wh.db, facts(ADS, { '2026-03-02': { spend: 5, clicks: 1 }, '2026-03-03': { spend: 7, clicks: 1 } }));
    // Written by hand: numeric has a NaN, which sums to NaN, which no stored point can hold.
    await sql`update metric_facts set value = 'NaN' where date = '2026-03-03' and metric = 'spend'`.execute(wh.db);
    await recompute(wh.db, config);
    const week = { kpi: ['total_spend', 'cpc'], windows: [{ start: '2026-03-02', end: '2026-03-08' }] };
    expect(await storedTotalsWindows(wh.db, config, week)).toEqual(await kpiWindows(wh.db, config, week));
    // Nor one past the largest double: 2e308 is no stored point either.
    await sql`update metric_facts set value = 1e308 where date = '2026-03-03' and metric = 'spend'`.execute(wh.db);
    await sql`insert into metric_facts (date, connector, account, campaign, channel, metric, value, currency) values ('2026-03-03', 'x', 'y', '', '', 'spend', 1e308, 'USD')`.execute(wh.db);
    await recompute(wh.db, config);
    expect(await storedTotalsWindows(wh.db, config, week)).toEqual(await kpiWindows(wh.db, config, week));
  });
});

describe('exactDecimal', () => {
  it('gives back the decimal a double was read from when it has at most 15 significant digits, and nothing otherwise', () => {
    expect(exactDecimal(0.3)).toEqual({ m: 3n, scale: 1 });
    expect(exactDecimal(-1234.5)).toEqual({ m: -12345n, scale: 1 });
    expect(exactDecimal(1e21)).toEqual({ m: 10n ** 21n, scale: 0 });
    expect(exactDecimal(1.5e-7)).toEqual({ m: 15n, scale: 8 });
    expect(exactDecimal(0.1 + 0.2)).toBeNull();
    expect(exactDecimal(Number.NaN)).toBeNull();
  });
});
