import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { basisOf, isCurrent, loadDayStates, markDaysQuery } from '../../src/metrics/day-state.ts';
import { recompute } from '../../src/metrics/index.ts';
import { addDays } from '../../src/metrics/periods.ts';
import { replaceSlice, type FactRow } from '../../src/warehouse/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { useWarehouse, warehouseKinds } from '../helpers/warehouse.ts';
import { CAMPAIGNS, clearWarehouse, facts, kpi, kpiRows, metricsConfig } from './helpers.ts';

const sources = CAMPAIGNS;

/** 2026-03-20 .. 2026-04-20, with values whose sums are not exact in binary (cents, thirds). */
function dataset(): FactRow[] {
  const rows: FactRow[] = [];
  for (let d = 0; d <= 31; d++) {
    const date = addDays('2026-03-20', d);
    sources.forEach((s, i) => {
      rows.push(...facts(s, { [date]: { impressions: 1000 + ((d * 37 + i * 101) % 500), clicks: 10 + ((d * 7 + i * 3) % 40), spend: 0.1 * (d + 1) + i / 3, conversions: (d + i) % 4 } }));
    });
  }
  return rows;
}

// No KPI with a filter, so weeks and months may take unchanged days from their stored points.
const config = metricsConfig({ fxRates: { EUR: 1.08 }, kpis: [kpi('clicks_change', 'clicks - previous(clicks)')] });

async function fullRecomputeRows(db: Parameters<typeof kpiRows>[0], cfg = config) {
  await sql`truncate kpi_points`.execute(db);
  await recompute(db, cfg);
  return kpiRows(db);
}

describe.each(warehouseKinds)('day states on %s', (kind) => {
  const wh = useWarehouse(kind, clearWarehouse);
  const states = async (from = '2000-01-01', to = '2100-01-01') => Object.fromEntries([...(await loadDayStates(wh.db, from, to))].map(([d, s]) => [d, s.factsVersion]));

  it('every write to the facts moves the version of the days it touched, whoever writes', async () => {
    await upsertFacts(wh.db, [...facts(sources[0]!, { '2026-03-01': { clicks: 1 }, '2026-03-02': { clicks: 2 } })]);
    expect(await states()).toEqual({ '2026-03-01': 1, '2026-03-02': 1 });
    // Unchanged rows are not written, so nothing moves.
    await upsertFacts(wh.db, [...facts(sources[0]!, { '2026-03-01': { clicks: 1 } })]);
    expect(await states()).toEqual({ '2026-03-01': 1, '2026-03-02': 1 });
    await upsertFacts(wh.db, [...facts(sources[0]!, { '2026-03-01': { clicks: 5 } })]);
    expect(await states()).toEqual({ '2026-03-01': 2, '2026-03-02': 1 });
    // A restated day that lost a row.
    await replaceSlice(wh.db, { connector: 'gads', account: 'us', dates: ['2026-03-02'] }, []);
    expect(await states()).toEqual({ '2026-03-01': 2, '2026-03-02': 2 });
    await sql`update metric_facts set value = value + 1 where date = '2026-03-01'`.execute(wh.db);
    await sql`delete from metric_facts where date = '2026-03-01'`.execute(wh.db);
    expect(await states()).toEqual({ '2026-03-01': 4, '2026-03-02': 2 });
    await sql`truncate metric_facts`.execute(wh.db);
    expect(await states()).toEqual({});
  });

  it('points computed from facts that were written meanwhile are not taken as current', async () => {
    await upsertFacts(wh.db, facts(sources[0]!, { '2026-03-01': { clicks: 1 } }));
    const basis = basisOf(config.reporting);
    const seen = await loadDayStates(wh.db, '2026-03-01', '2026-03-02');
    // A sync commits between the recompute's read of the versions and its write of the points.
    await upsertFacts(wh.db, facts(sources[0]!, { '2026-03-01': { clicks: 2 }, '2026-03-02': { clicks: 3 } }));
    await markDaysQuery('2026-03-01', '2026-03-02', seen, basis).execute(wh.db);
    const after = await loadDayStates(wh.db, '2026-03-01', '2026-03-02');
    expect(isCurrent(after.get('2026-03-01'), basis)).toBe(false);
    expect(isCurrent(after.get('2026-03-02'), basis)).toBe(false);
    // Marked from versions read after the write, they are.
    await markDaysQuery('2026-03-01', '2026-03-02', after, basis).execute(wh.db);
    const now = await loadDayStates(wh.db, '2026-03-01', '2026-03-02');
    expect(isCurrent(now.get('2026-03-01'), basis)).toBe(true);
    expect(isCurrent(now.get('2026-03-01'), basisOf({ ...config.reporting, fxRates: { EUR: 1.1 } }))).toBe(false);
  });

  it('an incremental recompute sums only the changed day and still leaves exactly what a full one does', async () => {
    await upsertFacts(wh.db, dataset());
    const first = await recompute(wh.db, config);
    expect(first.daysFromPoints).toBe(0);

    const day = '2026-04-08';
    await upsertFacts(wh.db, facts(sources[2]!, { [day]: { clicks: 777, spend: 9.99 } }));
    const incremental = await recompute(wh.db, config, { from: day, to: day });
    // April's other days (and the day after, which clicks_change reads back from) come from their points.
    expect(incremental).toMatchObject({ daysFromFacts: 1 });
    expect(incremental.daysFromPoints).toBeGreaterThanOrEqual(20);
    const afterIncremental = await kpiRows(wh.db);
    const month = afterIncremental.find((r) => r.kpi === 'clicks' && r.grain === 'month' && r.period_start === '2026-04-01' && r.dimension === 'campaign' && r.dimension_value === 'c');
    const expectedClicks = Array.from({ length: 20 }, (_, k) => k + 12).reduce((sum, d) => sum + (d === 19 ? 777 : 10 + ((d * 7 + 2 * 3) % 40)), 0);
    expect(month?.value).toBe(expectedClicks);
    expect(afterIncremental).toEqual(await fullRecomputeRows(wh.db));
  });

  it('a day whose facts changed behind recompute\'s back is summed from its facts, not its stale points', async () => {
    await upsertFacts(wh.db, dataset());
    await recompute(wh.db, config);
    await sql`update metric_facts set value = value * 3 where date = '2026-04-02'`.execute(wh.db);
    const incremental = await recompute(wh.db, config, { from: '2026-04-15', to: '2026-04-15' });
    expect(incremental.daysFromFacts).toBe(2);
    const rows = await kpiRows(wh.db);
    const monthOf = (rs: typeof rows) => rs.filter((r) => r.grain === 'month' && r.period_start === '2026-04-01');
    expect(monthOf(rows)).toEqual(monthOf(await fullRecomputeRows(wh.db)));
  });

  it('new exchange rates: no stored day is taken, and the touched month is what a full recompute gives', async () => {
    await upsertFacts(wh.db, dataset());
    await recompute(wh.db, config);
    const newRates = metricsConfig({ fxRates: { EUR: 1.2 }, kpis: [kpi('clicks_change', 'clicks - previous(clicks)')] });
    const incremental = await recompute(wh.db, newRates, { from: '2026-04-15', to: '2026-04-15' });
    expect(incremental.daysFromPoints).toBe(0);
    const rows = await kpiRows(wh.db);
    const monthOf = (rs: typeof rows) => rs.filter((r) => r.grain === 'month' && r.period_start === '2026-04-01');
    expect(monthOf(rows).find((r) => r.kpi === 'spend' && r.dimension === 'all')?.value).toBeCloseTo(
      dataset()
        .filter((r) => r.metric === 'spend' && r.date >= '2026-04-01')
        .reduce((sum, r) => sum + r.value * (r.currency === 'EUR' ? 1.2 : 1), 0),
      9,
    );
    expect(monthOf(rows)).toEqual(monthOf(await fullRecomputeRows(wh.db, newRates)));
  });
});
