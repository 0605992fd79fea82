import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GoalConfig, OkrConfig } from '../../src/config/index.ts';
import { assessGoals, goalHistory, loadCompleteness, recordGoals, storedGoals, type GoalResult, type GoalsConfig } from '../../src/metrics/index.ts';
import { addDays } from '../../src/metrics/periods.ts';
import type { FactRow, Warehouse } from '../../src/warehouse/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { testWarehouse, warehouseKinds } from '../helpers/warehouse.ts';
import { ADS, clearWarehouse, facts, metricsConfig, SHOP } from './helpers.ts';

/**
 * March 2026. Revenue: 100 a day on the 1st-10th, 20 a day on the 11th-25th, 400 a day on
 * the 26th-31st (3,700 in all). CTR on day k (1st-20th): k clicks per 100 impressions.
 */
function dataset(): FactRow[] {
  const rows: FactRow[] = [];
  for (let k = 1; k <= 31; k++) {
    const date = addDays('2026-03-01', k - 1);
    rows.push(...facts(SHOP, { [date]: { revenue: k <= 10 ? 100 : k <= 25 ? 20 : 400 } }));
    if (k <= 20) rows.push(...facts(ADS, { [date]: { impressions: 1000, clicks: 10 * k } }));
  }
  return rows;
}

const goal = (g: Partial<GoalConfig> & Pick<GoalConfig, 'name' | 'kpi' | 'target' | 'start' | 'deadline'>): GoalConfig => ({ grain: 'month', criterion: 'reach', ...g });

const goals: GoalConfig[] = [
  goal({ name: 'revenue_march', kpi: 'revenue', target: 3100, start: '2026-03-01', deadline: '2026-03-31', grain: 'day' }),
  goal({ name: 'revenue_stretch', kpi: 'revenue', target: 5000, start: '2026-03-01', deadline: '2026-03-31' }),
  goal({ name: 'ctr_reach', kpi: 'ctr', target: 0.2, baseline: 0.01, start: '2026-03-01', deadline: '2026-03-20', grain: 'day' }),
  goal({ name: 'ctr_floor', kpi: 'ctr', criterion: 'stay_above', target: 0.036, start: '2026-03-02', deadline: '2026-03-15', grain: 'week' }),
  goal({ name: 'ctr_ceiling', kpi: 'ctr', criterion: 'stay_below', target: 0.06, start: '2026-03-02', deadline: '2026-03-15', grain: 'week' }),
  goal({ name: 'leads_march', kpi: 'leads', target: 100, start: '2026-03-01', deadline: '2026-03-31' }),
  goal({ name: 'ctr_from_last_week', kpi: 'ctr', target: 0.2, start: '2026-03-09', deadline: '2026-03-29', grain: 'week', filter: { channel: 'paid_search' } }),
];

const okrs: OkrConfig[] = [
  {
    name: 'growth',
    objective: 'Grow revenue without losing click quality',
    keyResults: [
      { goal: 'revenue_march', weight: 2 },
      { goal: 'ctr_floor', weight: 1 },
    ],
  },
];

const config: GoalsConfig = { ...metricsConfig(), connectors: [], goals, okrs };

describe.each(warehouseKinds)('goals and OKRs on %s', (kind) => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await testWarehouse(kind);
    await clearWarehouse(wh.db);
    await upsertFacts(wh.db, dataset());
  });
  afterAll(async () => {
    await wh.close();
  });

  const at = async (asOf: string) => {
    const result = await assessGoals(wh.db, config, asOf);
    return Object.fromEntries(result.goals.map((g) => [g.goal, g])) as Record<string, GoalResult>;
  };

  it('tracks a running total against linear pace: on track, at risk, off track, achieved', async () => {
    const d10 = (await at('2026-03-10')).revenue_march!;
    expect(d10).toMatchObject({ actual: 1000, baseline: 0, status: 'on_track' });
    expect(d10.progress).toBeCloseTo(1000 / 3100, 12);
    expect(d10.expected).toBeCloseTo(10 / 31, 12);
    // The last six days ran at 100 a day, and 21 days are left.
    expect(d10.forecast).toBeCloseTo(1000 + 21 * 100, 9);

    const d15 = (await at('2026-03-15')).revenue_march!;
    expect(d15).toMatchObject({ actual: 1100, status: 'at_risk' });
    expect(d15.expected - d15.progress!).toBeCloseTo(15 / 31 - 1100 / 3100, 12); // 0.129: past the 0.05 tolerance, inside the 0.20 band

    const d20 = (await at('2026-03-20')).revenue_march!;
    expect(d20).toMatchObject({ actual: 1200, status: 'off_track' });
    expect(d20.expected - d20.progress!).toBeCloseTo(20 / 31 - 1200 / 3100, 12); // 0.258

    expect((await at('2026-03-31')).revenue_march).toMatchObject({ actual: 3700, status: 'achieved' });
  });

  it('says missed after the deadline, counting only up to the deadline', async () => {
    const after = await at('2026-04-02');
    expect(after.revenue_stretch).toMatchObject({ actual: 3700, status: 'missed', expected: 1, forecast: 3700 });
    expect(after.revenue_stretch!.progress).toBeCloseTo(3700 / 5000, 12);
    expect(after.revenue_march).toMatchObject({ actual: 3700, status: 'achieved' });
  });

  it('counts no value as no progress', async () => {
    // No leads at all: 10/31 of the time gone and nothing to show for it.
    expect((await at('2026-03-10')).leads_march).toMatchObject({ actual: null, progress: null, forecast: null, status: 'off_track' });
  });

  it('expects nothing before the start', async () => {
    expect((await at('2026-02-20')).revenue_march).toMatchObject({ actual: null, progress: null, expected: 0, status: 'on_track' });
  });

  it('measures a ratio over the whole span so far and forecasts it from the trend', async () => {
    const g = (await at('2026-03-10')).ctr_reach!;
    const actual = (10 * (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10)) / 10_000;
    expect(g.actual).toBeCloseTo(actual, 12);
    expect(g.progress).toBeCloseTo((actual - 0.01) / (0.2 - 0.01), 12);
    expect(g.expected).toBeCloseTo(10 / 20, 12);
    expect(g.status).toBe('off_track');
    // Daily CTR rises by 0.01 a day: on the 20th it is 0.20.
    expect(g.forecast).toBeCloseTo(0.2, 9);
  });

  it('takes the baseline of a ratio from the period before the start', async () => {
    const g = (await at('2026-03-10')).ctr_from_last_week!;
    // The week of 2026-03-02: days 2..8.
    const baseline = (10 * (2 + 3 + 4 + 5 + 6 + 7 + 8)) / 7000;
    expect(g.baseline).toBeCloseTo(baseline, 12);
    expect(g.actual).toBeCloseTo((90 + 100) / 2000, 12);
    expect(g.progress).toBeCloseTo(((90 + 100) / 2000 - baseline) / (0.2 - baseline), 12);
  });

  it('judges stay_above and stay_below goals on their latest whole grain period, and waits before the first', async () => {
    // Before the first whole week since the start (2026-03-02): nothing to judge yet.
    expect((await at('2026-03-04')).ctr_floor).toMatchObject({ actual: null, progress: null, status: 'waiting' });
    expect((await at('2026-03-07')).ctr_ceiling).toMatchObject({ actual: null, status: 'waiting' });

    // The week of 2026-03-02 (days 2..8) is whole once the 8th is in: 350 clicks per 7,000 impressions.
    const d9 = await at('2026-03-09');
    expect(d9.ctr_floor!.actual).toBeCloseTo(350 / 7000, 12);
    expect(d9.ctr_floor!.progress).toBeCloseTo(350 / 7000 / 0.036, 12);
    expect(d9.ctr_floor).toMatchObject({ expected: 1, status: 'on_track' });
    expect(d9.ctr_ceiling!.progress).toBeCloseTo(0.06 / (350 / 7000), 12);
    expect(d9.ctr_ceiling).toMatchObject({ status: 'on_track' });
    // The week still running (days 9 and 10 at 0.095) does not count on the 10th.
    expect((await at('2026-03-10')).ctr_ceiling!.actual).toBeCloseTo(350 / 7000, 12);

    // The week of 2026-03-09 (days 9..15) is whole on its last day: 840 per 7,000 = 0.12.
    const d15 = await at('2026-03-15');
    expect(d15.ctr_ceiling!.actual).toBeCloseTo(840 / 7000, 12);
    expect(d15.ctr_ceiling).toMatchObject({ status: 'off_track' });
    expect(d15.ctr_floor).toMatchObject({ status: 'on_track' });

    // After the deadline: every week from the start must have held.
    const after = await at('2026-03-16');
    expect(after.ctr_floor).toMatchObject({ status: 'achieved' }); // weeks at 0.05 and 0.12
    expect(after.ctr_ceiling).toMatchObject({ status: 'missed' }); // 0.12 is above 0.06
  });

  it('rolls OKRs up: weighted capped progress, worst status', async () => {
    const d10 = await assessGoals(wh.db, config, '2026-03-10');
    expect(d10.okrs).toHaveLength(1);
    const okr = d10.okrs[0]!;
    // ctr_floor is at 0.095 / 0.036 = 2.6, capped to 1.
    expect(okr.progress).toBeCloseTo((2 * (1000 / 3100) + 1 * 1) / 3, 12);
    expect(okr.status).toBe('on_track');
    expect(okr.keyResults.map((kr) => [kr.goal, kr.weight, kr.status])).toEqual([
      ['revenue_march', 2, 'on_track'],
      ['ctr_floor', 1, 'on_track'],
    ]);

    const d15 = await assessGoals(wh.db, config, '2026-03-15');
    expect(d15.okrs[0]!.progress).toBeCloseTo((2 * (1100 / 3100) + 1) / 3, 12);
    expect(d15.okrs[0]!.status).toBe('at_risk');
  });

  it('records snapshots, one per goal and as-of date', async () => {
    await recordGoals(wh.db, config, '2026-03-10');
    await recordGoals(wh.db, config, '2026-03-10');
    const result = await recordGoals(wh.db, config, '2026-03-15');
    expect(result.asOf).toBe('2026-03-15');
    const rows = await wh.db.selectFrom('goal_snapshots').select(['goal', 'as_of', 'status', 'actual', 'target']).orderBy('as_of').orderBy('goal').execute();
    expect(rows).toHaveLength(2 * goals.length);
    expect(rows.find((r) => r.goal === 'revenue_march' && r.as_of === '2026-03-15')).toEqual({ goal: 'revenue_march', as_of: '2026-03-15', status: 'at_risk', actual: 1100, target: 3100 });
    const okrRows = await wh.db.selectFrom('okr_snapshots').select(['okr', 'as_of', 'status']).orderBy('as_of').execute();
    expect(okrRows).toEqual([
      { okr: 'growth', as_of: '2026-03-10', status: 'on_track' },
      { okr: 'growth', as_of: '2026-03-15', status: 'at_risk' },
    ]);
  });

  it('reads back the assessment an evaluation stored as the assessment itself; none for a day not evaluated or a goal changed since', async () => {
    const stored = await recordGoals(wh.db, config, '2026-03-15');
    const completeness = await loadCompleteness(wh.db, config);
    expect(await storedGoals(wh.db, config, '2026-03-15', completeness)).toEqual(stored);
    expect(await storedGoals(wh.db, config, '2026-03-16', completeness)).toBeNull();
    const retargeted = { ...config, goals: config.goals.map((g) => (g.name === 'revenue_march' ? { ...g, target: 3200 } : g)) };
    expect(await storedGoals(wh.db, retargeted, '2026-03-15', completeness)).toBeNull();
    // A deadline moved, or money converted anew, since the evaluation: the stored progress is not what the goal now says.
    const extended = { ...config, goals: config.goals.map((g) => (g.name === 'revenue_march' ? { ...g, deadline: '2026-04-30' } : g)) };
    expect((await assessGoals(wh.db, extended, '2026-03-15')).goals[0]!.expected).not.toBe(stored.goals[0]!.expected);
    expect(await storedGoals(wh.db, extended, '2026-03-15', completeness)).toBeNull();
    const converted = { ...config, reporting: { ...config.reporting, fxRates: { EUR: 1.2 } } };
    expect(await storedGoals(wh.db, converted, '2026-03-15', completeness)).toBeNull();
    const history = await goalHistory(wh.db, ['revenue_march'], '2026-03-15');
    expect(history.at(-1)).toEqual({ goal: 'revenue_march', asOf: '2026-03-15', actual: 1100, progress: stored.goals[0]!.progress, expected: stored.goals[0]!.expected, forecast: stored.goals[0]!.forecast, status: 'at_risk' });
    expect(history.every((h) => h.asOf <= '2026-03-15')).toBe(true);
  });

  it('takes an instant as its date in the reporting time zone', async () => {
    const tokyo: GoalsConfig = { ...config, reporting: { ...config.reporting, timezone: 'Asia/Tokyo' } };
    // 20:00 UTC on the 9th is already the 10th in Tokyo.
    const result = await assessGoals(wh.db, tokyo, new Date('2026-03-09T20:00:00Z'));
    expect(result.asOf).toBe('2026-03-10');
  });
});
