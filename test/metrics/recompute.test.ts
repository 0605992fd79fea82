import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recompute } from '../../src/metrics/index.ts';
import { addDays } from '../../src/metrics/periods.ts';
import { replaceSlice, type FactRow, type Warehouse } from '../../src/warehouse/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { testWarehouse, warehouseKinds } from '../helpers/warehouse.ts';
import { ADS, CAMPAIGNS, clearWarehouse, facts, kpi, kpiRows, metricsConfig } from './helpers.ts';

const sources = CAMPAIGNS;

/** 2026-03-25 .. 2026-04-08: across a month, a quarter and three week boundaries. */
function dataset(): FactRow[] {
  const rows: FactRow[] = [];
  for (let d = 0; d < 15; d++) {
    const date = addDays('2026-03-25', d);
    sources.forEach((s, i) => {
      const impressions = 1000 + ((d * 37 + i * 101) % 500);
      rows.push(
        ...facts(s, {
          [date]: { impressions, clicks: 10 + ((d * 7 + i * 3) % 40), spend: 12.5 + ((d * 13 + i) % 17) / 4, conversions: (d + i) % 4 },
        }),
      );
    });
  }
  return rows;
}

const config = metricsConfig({
  fxRates: { EUR: 1.08 },
  kpis: [kpi('clicks_change', 'clicks - previous(clicks)'), kpi('social_cpc', 'cpc', { filter: { channel: 'paid_social' } })],
});

describe.each(warehouseKinds)('recompute on %s', (kind) => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await testWarehouse(kind);
  });
  afterAll(async () => {
    await wh.close();
  });

  it('after facts of one day change, an incremental recompute leaves exactly what a full one does', async () => {
    await clearWarehouse(wh.db);
    await upsertFacts(wh.db, dataset());
    const first = await recompute(wh.db, config);
    expect(first).toMatchObject({ full: true, from: '2026-03-25', to: '2026-04-08' });
    const untouched = () =>
      wh.db.selectFrom('kpi_values').select(['kpi', 'dimension', 'dimension_value', 'computed_at']).where('grain', '=', 'day').where('period_start', '=', '2026-03-25').orderBy('kpi').orderBy('dimension').orderBy('dimension_value').execute();
    const untouchedBefore = await untouched();

    // On the last day of the quarter: a restated value, a campaign gone, a new campaign.
    const day = '2026-03-31';
    await upsertFacts(wh.db, facts(sources[0]!, { [day]: { clicks: 500 } }));
    await replaceSlice(wh.db, { connector: 'meta', account: 'eu', dates: [day] }, facts({ ...sources[2]!, campaign: 'new' }, { [day]: { impressions: 10, clicks: 5, spend: 3 } }));

    const incremental = await recompute(wh.db, config, { from: day, to: day });
    expect(incremental.full).toBe(false);
    // clicks_change looks one period back, so the period after each touched one changes too.
    expect(incremental.grains.map((g) => [g.grain, g.from, g.to, g.periods])).toEqual([
      ['day', '2026-03-31', '2026-04-01', 2],
      ['week', '2026-03-30', '2026-04-06', 2],
      ['month', '2026-03-01', '2026-04-01', 2],
      ['quarter', '2026-01-01', '2026-04-01', 2],
    ]);
    const afterIncremental = await kpiRows(wh.db);
    // Periods the change did not touch were left alone.
    expect(await untouched()).toEqual(untouchedBefore);

    await sql`truncate kpi_points`.execute(wh.db);
    await recompute(wh.db, config);
    const afterFull = await kpiRows(wh.db);
    expect(afterIncremental.length).toBeGreaterThan(1000);
    expect(afterIncremental).toEqual(afterFull);

    const campaignRows = afterFull.filter((r) => r.dimension === 'campaign' && r.kpi === 'clicks' && r.period_start === day && r.grain === 'day');
    expect(campaignRows.map((r) => [r.dimension_value, r.value])).toEqual([
      ['a', 500],
      ['b', 10 + ((6 * 7 + 3) % 40)],
      ['new', 5],
    ]);
  });

  it('gives the same rows whatever the chunk and batch size', async () => {
    const reference = await kpiRows(wh.db);
    await sql`truncate kpi_points`.execute(wh.db);
    const result = await recompute(wh.db, config, undefined, { chunkDays: 1, batchSize: 7 });
    expect(result.values).toBe(reference.length);
    expect(await kpiRows(wh.db)).toEqual(reference);
  });

  it('removes the values of periods whose facts are gone', async () => {
    await wh.db.deleteFrom('metric_facts').where('date', '=', '2026-04-08').execute();
    const result = await recompute(wh.db, config);
    expect(result.to).toBe('2026-04-07');
    const rows = await kpiRows(wh.db);
    expect(rows.filter((r) => r.period_start === '2026-04-08')).toEqual([]);
    // The week and month that held it are recomputed without it.
    const week = rows.find((r) => r.kpi === 'clicks' && r.grain === 'week' && r.period_start === '2026-04-06' && r.dimension === 'all');
    // 2026-04-06 and 2026-04-07 are d = 12 and 13.
    const clicksOn = (d: number) => sources.reduce((sum, _src, i) => sum + (10 + ((d * 7 + i * 3) % 40)), 0);
    expect(week?.value).toBe(clicksOn(12) + clicksOn(13));
  });

  it('stores each week from its configured first day, and quarters split at their boundary', async () => {
    await clearWarehouse(wh.db);
    await upsertFacts(
      wh.db,
      facts(ADS, {
        '2026-03-07': { clicks: 1 }, // Saturday
        '2026-03-08': { clicks: 2 }, // Sunday
        '2026-03-09': { clicks: 4 }, // Monday
        '2026-03-31': { clicks: 8 },
        '2026-04-01': { clicks: 16 },
      }),
    );
    const weeks = async () =>
      (await kpiRows(wh.db)).filter((r) => r.kpi === 'clicks' && r.grain === 'week' && r.dimension === 'all').map((r) => [r.period_start, r.period_end, r.value]);

    await recompute(wh.db, metricsConfig({ weekStart: 'monday' }));
    expect(await weeks()).toEqual([
      ['2026-03-02', '2026-03-08', 1 + 2],
      ['2026-03-09', '2026-03-15', 4],
      ['2026-03-30', '2026-04-05', 8 + 16],
    ]);
    await recompute(wh.db, metricsConfig({ weekStart: 'sunday' }));
    expect(await weeks()).toEqual([
      ['2026-03-01', '2026-03-07', 1],
      ['2026-03-08', '2026-03-14', 2 + 4],
      ['2026-03-29', '2026-04-04', 8 + 16],
    ]);
    const quarters = (await kpiRows(wh.db)).filter((r) => r.kpi === 'clicks' && r.grain === 'quarter' && r.dimension === 'all').map((r) => [r.period_start, r.period_end, r.value]);
    expect(quarters).toEqual([
      ['2026-01-01', '2026-03-31', 1 + 2 + 4 + 8],
      ['2026-04-01', '2026-06-30', 16],
    ]);
    const months = (await kpiRows(wh.db)).filter((r) => r.kpi === 'clicks' && r.grain === 'month' && r.dimension === 'channel').map((r) => [r.period_start, r.dimension_value, r.value]);
    expect(months).toEqual([
      ['2026-03-01', 'paid_search', 15],
      ['2026-04-01', 'paid_search', 16],
    ]);
  });

  it('stores every dimension, and a filtered KPI only where its filter has data', async () => {
    await clearWarehouse(wh.db);
    await upsertFacts(wh.db, dataset());
    await recompute(wh.db, config, { from: '2026-03-25', to: '2026-03-25' });
    const day = (await kpiRows(wh.db)).filter((r) => r.grain === 'day' && r.period_start === '2026-03-25');
    const dims = (name: string) => day.filter((r) => r.kpi === name).map((r) => `${r.dimension}:${r.dimension_value}`);
    expect(dims('clicks')).toEqual(['all:', 'campaign:a', 'campaign:b', 'campaign:c', 'channel:paid_search', 'channel:paid_social', 'connector:gads', 'connector:meta']);
    expect(dims('social_cpc')).toEqual(['all:', 'campaign:c', 'channel:paid_social', 'connector:meta']);
    const socialCpc = day.find((r) => r.kpi === 'social_cpc' && r.dimension === 'all')!.value!;
    // meta/eu on d = 0, i = 2: spend (12.5 + 2/4) EUR at 1.08, clicks 10 + 6.
    expect(socialCpc).toBeCloseTo(((12.5 + 2 / 4) * 1.08) / (10 + 6), 12);
  });

  it('empties kpi_values when a full recompute finds no facts', async () => {
    await sql`truncate metric_facts`.execute(wh.db);
    const result = await recompute(wh.db, config);
    expect(result).toMatchObject({ full: true, from: null, to: null, values: 0 });
    expect(result.deleted).toBeGreaterThan(0);
    expect(await kpiRows(wh.db)).toEqual([]);
  });

  it('rejects a range that is not two ordered dates', async () => {
    await expect(recompute(wh.db, config, { from: '2026-03-02', to: '2026-03-01' })).rejects.toThrow(/from <= to/);
    await expect(recompute(wh.db, config, { from: '2026-02-30', to: '2026-03-01' })).rejects.toThrow(RangeError);
  });
});
