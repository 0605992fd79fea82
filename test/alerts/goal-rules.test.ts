import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { evaluateAlerts } from '../../src/alerts/index.ts';
import { createPipelineHandlers, metricsEngine, type MetricsEngine } from '../../src/app.ts';
import { assessGoals } from '../../src/metrics/index.ts';
import type { Database } from '../../src/warehouse/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { captureLogs } from '../helpers/logs.ts';
import { useWarehouse, warehouseKinds } from '../helpers/warehouse.ts';
import { at, clearAlerts, configFrom, days, instances } from './helpers.ts';

const config = configFrom(`
channels:
  slack: { type: slack, url: "http://127.0.0.1:9/hook" }
goals:
  - { name: clicks_march, kpi: clicks, target: 1000, start: "2026-03-01", deadline: "2026-03-31" }
  - { name: clicks_easy, kpi: clicks, target: 120, start: "2026-03-01", deadline: "2026-03-31" }
alerts:
  - name: goals_pace
    condition: { kind: goal }
    channels: [slack]
  - name: easy_only
    condition: { kind: goal, goals: [clicks_easy], statuses: [at_risk] }
    channels: [slack]
`);

/** 10 clicks a day on 1..10 March: 100 clicks, 10% of clicks_march with 32% of March gone (off track), 83% of clicks_easy (on track). */
const tenDays = (clicks = 10) => {
  const march: Record<string, Record<string, number>> = {};
  for (let d = 1; d <= 10; d++) march[`2026-03-${String(d).padStart(2, '0')}`] = { clicks, impressions: 100 };
  return days({}, march);
};
/** What a sync landing late adds: enough clicks on 10 March to put clicks_march on track. */
const lateClicks = days({ campaign: 'late' }, { '2026-03-10': { clicks: 300 } });

const NOW = at('2026-03-10T12:00:00Z');

async function snapshots(db: Kysely<Database>) {
  const rows = await db.selectFrom('goal_snapshots').select(['goal', 'as_of', 'status', 'progress']).orderBy('goal').execute();
  return rows.map((r) => [r.goal, r.as_of, r.status, r.progress]);
}

async function goalInstances(db: Kysely<Database>) {
  const rows = [...(await instances(db, 'easy_only')), ...(await instances(db, 'goals_pace'))];
  return rows.map((r) => [r.rule, r.instance, r.state, r.last_value]);
}

describe.each(warehouseKinds)('goal rules and the evaluate step, on %s', (kind) => {
  const wh = useWarehouse(kind, async (db) => {
    await clearAlerts(db);
    await sql`truncate goal_snapshots, okr_snapshots`.execute(db);
  });
  const { logger: log } = captureLogs();

  it('the evaluate step assesses the goals once: what it stores is what the goal rules judge, even with facts landing in between', async () => {
    await upsertFacts(wh.db, tenDays());
    const recorded: Date[] = [];
    const metrics: MetricsEngine = {
      ...metricsEngine,
      recordGoals: async (db, cfg, asOf) => {
        recorded.push(asOf);
        const assessment = await metricsEngine.recordGoals(db, cfg, asOf);
        // A sync commits between the goal snapshot and the rules: the rules still judge the snapshot.
        await upsertFacts(db, lateClicks);
        return assessment;
      },
    };
    const handlers = createPipelineHandlers({ config, db: wh.db, log, metrics });
    const { outboxIds } = await handlers.evaluate(NOW);

    expect(recorded).toEqual([NOW]);
    expect(await snapshots(wh.db)).toEqual([
      ['clicks_easy', '2026-03-10', 'on_track', 100 / 120],
      ['clicks_march', '2026-03-10', 'off_track', 0.1],
    ]);
    expect(await goalInstances(wh.db)).toEqual([
      ['easy_only', 'goal=clicks_easy', 'ok', 100 / 120],
      ['goals_pace', 'goal=clicks_easy', 'ok', 100 / 120],
      ['goals_pace', 'goal=clicks_march', 'firing', 0.1],
    ]);
    expect(outboxIds).toHaveLength(1);
    const march = (await instances(wh.db, 'goals_pace'))[1]!;
    expect(march.reason).toBe('Goal clicks_march (Clicks) is off track: 10.0% of the way to the target, 32.3% expected by 2026-03-10');
  });

  it('without an assessment of this tick and these goals (the alert loop, a caller\'s mistake) the rules assess the goals themselves', async () => {
    await upsertFacts(wh.db, tenDays());
    const yesterday = await assessGoals(wh.db, config, '2026-03-09');
    const marchOnly = await assessGoals(wh.db, { ...config, goals: config.goals.filter((g) => g.name === 'clicks_march') }, '2026-03-10');
    await upsertFacts(wh.db, lateClicks);
    for (const goals of [undefined, yesterday, marchOnly]) {
      await sql`truncate alert_instances, alert_transitions, alert_outbox`.execute(wh.db);
      await evaluateAlerts(wh.db, config, { now: NOW, ...(goals ? { goals } : {}) });
      expect(await goalInstances(wh.db)).toEqual([
        ['easy_only', 'goal=clicks_easy', 'ok', 400 / 120],
        ['goals_pace', 'goal=clicks_easy', 'ok', 400 / 120],
        ['goals_pace', 'goal=clicks_march', 'ok', 0.4],
      ]);
    }
    expect(await snapshots(wh.db)).toEqual([]);
  });
});
