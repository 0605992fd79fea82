/**
 * Which days are complete, on both warehouses: a connector is complete through a day when
 * every stream of it has synced through that day, the day is over and settled, and no
 * backfill of it is running; a KPI when every connector feeding it is. Alert rules wait for
 * complete data, fire on the last complete period, and a rule may opt in to partial data.
 */
import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { createAlertsEngine } from '../../src/alerts/index.ts';
import { parseConfig, type Config } from '../../src/config/index.ts';
import { configChecks } from '../../src/config-checks.ts';
import { runSync, type AnyConnector } from '../../src/connectors/index.ts';
import { addDays, daysOf, type DateRange } from '../../src/core/dates.ts';
import { TransientError } from '../../src/core/errors.ts';
import { ALL_COMPLETE, loadCompleteness, recompute, refreshKpiSources } from '../../src/metrics/index.ts';
import { finishRun, recordSyncStart, startRun, type Database } from '../../src/warehouse/index.ts';
import { capturedLogger } from '../reliability/helpers.ts';
import { useWarehouse, warehouseKinds } from '../helpers/warehouse.ts';

const NOW = new Date('2026-03-10T12:00:00Z');
const TODAY = '2026-03-10';

/** Clicks and impressions per (stream, day): stream b has twice stream a's numbers. */
const clicksOf = (stream: string, day: string) => (stream === 'b' ? 2 : 1) * (10 + Number(day.slice(8)));
const impressionsOf = (stream: string, day: string) => (stream === 'b' ? 2 : 1) * 1000;

/** An ads source with two accounts; an account listed in `down` fails every request. */
function adsSource(down: Set<string>, timeZone = 'UTC'): AnyConnector {
  const record = z.object({ day: z.string(), clicks: z.number(), impressions: z.number() });
  return {
    type: 'google_ads',
    defaultLookbackDays: () => 2,
    streams: () => ['a', 'b'],
    open: () => ({
      describe: async () => ({ currency: 'EUR', timeZone }),
      recordSchema: record,
      async *read(stream: string, window: DateRange) {
        if (down.has(stream)) throw new TransientError(`account ${stream} is not answering`);
        for (const day of daysOf(window)) yield [{ day, clicks: clicksOf(stream, day), impressions: impressionsOf(stream, day) }];
      },
      normalize: (r: z.infer<typeof record>) => [
        { date: r.day, campaign: 'brand', channel: 'paid_search', metric: 'clicks', value: r.clicks, currency: null },
        { date: r.day, campaign: 'brand', channel: 'paid_search', metric: 'impressions', value: r.impressions, currency: null },
      ],
    }),
  };
}

const clear = async (db: Kysely<Database>) => {
  await sql`truncate metric_facts, checkpoints, sync_runs, quarantine, held_days, connector_progress, kpi_sources, kpi_points, alert_instances, alert_transitions, alert_outbox`.execute(db);
  await sql`delete from kpi_days`.execute(db);
};

function configOf(extra = '', reporting = ''): Config {
  return parseConfig(
    `reporting: { currency: EUR${reporting} }
channels:
  ops: { type: slack, url: "https://hooks.slack.com/services/T0/B0/completeness", minIntervalMs: 0 }
alerting: { groupWait: 0 }
alerts:
  - { name: ctr-low, series: { kpi: ctr, grain: day }, condition: { kind: threshold, op: below, threshold: 0.05 }, channels: [ops] }
  - { name: ctr-low-partial, series: { kpi: ctr, grain: day, period: current }, condition: { kind: threshold, op: below, threshold: 0.05 }, channels: [ops], partialData: true }
connectors:
  - { name: ads, type: google_ads, customerIds: ["1234567890"], developerToken: dev-token-value, auth: { type: oauth, clientId: client-id-value, clientSecret: client-secret-value, refreshToken: refresh-token-value }, startDate: 2026-03-01, schedule: "0 * * * *" }
${extra}`,
    'kpi.yaml',
    { env: {}, checks: configChecks },
  );
}

describe.each(warehouseKinds)('completeness on %s', (kind) => {
  const wh = useWarehouse(kind, clear);
  const { log } = capturedLogger('warn');
  const down = new Set<string>();
  afterEach(() => down.clear());
  const sync = (config: Config, window?: DateRange) =>
    runSync({ db: wh.db, connector: adsSource(down), config: config.connectors[0]!, log, now: () => NOW, ...(window ? { window } : {}) });

  it('a connector is complete through the last settled day every one of its accounts has synced; a KPI through the day all its sources are', async () => {
    const config = configOf();
    down.add('b');
    expect((await sync(config)).run.status).toBe('failed');
    let c = await loadCompleteness(wh.db, config);
    // Account a synced through today, account b not at all: nothing of ads is complete.
    expect(c.connectors.get('ads')).toBeNull();
    expect(c.through('ctr')).toBeNull();
    expect(c.sourcesOf('ctr')).toEqual(['ads']);
    // A KPI no configured connector feeds has nothing to wait for.
    expect(c.through('orders')).toBe(ALL_COMPLETE);

    down.clear();
    expect((await sync(config)).run.status).toBe('succeeded');
    c = await loadCompleteness(wh.db, config);
    // Today is not over: complete through yesterday.
    expect(c.connectors.get('ads')).toBe('2026-03-09');
    expect(c.through('ctr')).toBe('2026-03-09');

    // The kpi_values view says the same, period by period.
    await recompute(wh.db, config);
    await refreshKpiSources(wh.db, config);
    const rows = await wh.db.selectFrom('kpi_values').select(['period_start', 'complete']).where('kpi', '=', 'ctr').where('grain', '=', 'day').where('dimension', '=', 'all').orderBy('period_start').execute();
    expect(rows.map((r) => `${r.period_start} ${r.complete}`)).toEqual([...daysOf({ from: '2026-03-01', to: '2026-03-09' }).map((d) => `${d} true`), '2026-03-10 false']);
    const weeks = await wh.db.selectFrom('kpi_values').select(['period_start', 'complete']).where('kpi', '=', 'clicks').where('grain', '=', 'week').where('dimension', '=', 'all').orderBy('period_start').execute();
    expect(weeks.map((r) => `${r.period_start} ${r.complete}`)).toEqual(['2026-02-23 true', '2026-03-02 true', '2026-03-09 false']);
    const orders = await wh.db.selectFrom('kpi_sources').select(['kpi', 'connector']).where('kpi', 'in', ['ctr', 'orders']).orderBy('kpi').execute();
    expect(orders).toEqual([
      { kpi: 'ctr', connector: 'ads' },
      { kpi: 'orders', connector: '' },
    ]);
  });

  it('a running backfill makes its days incomplete until it ends; a source that settles late is complete days later', async () => {
    const config = configOf();
    await sync(config);
    const runId = await startRun(wh.db, { connector: 'ads', trigger: 'backfill', window: { from: '2026-03-05', to: '2026-03-06' } });
    await recordSyncStart(wh.db, 'ads', ['a', 'b'], { runId, from: '2026-03-05' });
    expect((await loadCompleteness(wh.db, config)).through('ctr')).toBe('2026-03-04');
    await finishRun(wh.db, runId, { status: 'succeeded' });
    expect((await loadCompleteness(wh.db, config)).through('ctr')).toBe('2026-03-09');

    // GA4's numbers settle a day late by default; settlingDays sets it per connector.
    const slow = configOf().connectors[0]!;
    await runSync({ db: wh.db, connector: adsSource(down), config: { ...slow, settlingDays: 3 } as typeof slow, log, now: () => NOW });
    expect((await loadCompleteness(wh.db, config)).through('ctr')).toBe('2026-03-06');
  });

  it('alert rules wait while their data is incomplete, send nothing, then judge the last complete day; a rule may opt in to partial data', async () => {
    const config = configOf();
    const alerts = createAlertsEngine({ log });
    down.add('b');
    await sync(config);
    await recompute(wh.db, config);
    // ctr is 1% every day, below the 5% threshold: only the rule that reads partial data may say so yet.
    let { outboxIds } = await alerts.evaluateAlerts(wh.db, config, NOW);
    const instances = await wh.db.selectFrom('alert_instances').select(['rule', 'state', 'reason']).orderBy('rule').execute();
    expect(instances).toEqual([{ rule: 'ctr-low-partial', state: 'firing', reason: `Click-through rate 2.0% is below 5.0% on ${TODAY}` }]);
    expect(outboxIds).toHaveLength(1);

    // Account b in: the rule judges yesterday, the last complete day, at its real value.
    down.clear();
    await sync(config);
    await recompute(wh.db, config);
    ({ outboxIds } = await alerts.evaluateAlerts(wh.db, config, new Date(NOW.getTime() + 60_000)));
    const fired = await wh.db.selectFrom('alert_instances').select(['state', 'reason', 'last_value']).where('rule', '=', 'ctr-low').executeTakeFirstOrThrow();
    const yesterday = addDays(TODAY, -1);
    const ctr = (clicksOf('a', yesterday) + clicksOf('b', yesterday)) / (impressionsOf('a', yesterday) + impressionsOf('b', yesterday));
    expect(fired).toEqual({ state: 'firing', reason: `Click-through rate 1.9% is below 5.0% on ${yesterday}`, last_value: ctr });
    expect(outboxIds).toHaveLength(1);
  });

  it('a rule whose sources fall behind again keeps its state and says it is waiting, without resolving or repeating', async () => {
    const config = configOf();
    const alerts = createAlertsEngine({ log });
    await sync(config);
    await recompute(wh.db, config);
    await alerts.evaluateAlerts(wh.db, config, NOW);
    expect(await wh.db.selectFrom('alert_instances').select('state').where('rule', '=', 'ctr-low').executeTakeFirstOrThrow()).toEqual({ state: 'firing' });
    // A backfill starts: the days it rewrites are incomplete, and so is the last complete day the rule read.
    const runId = await startRun(wh.db, { connector: 'ads', trigger: 'backfill', window: { from: '2026-03-01', to: '2026-03-09' } });
    await recordSyncStart(wh.db, 'ads', ['a', 'b'], { runId, from: '2026-03-01' });
    await alerts.evaluateAlerts(wh.db, config, new Date(NOW.getTime() + 5 * 3_600_000));
    // Past its 4 h repeat interval, yet no repeat: nothing is judged on incomplete data.
    expect(await wh.db.selectFrom('alert_outbox').select('event').where('rule', '=', 'ctr-low').execute()).toEqual([{ event: 'firing' }]);
    const waiting = await wh.db.selectFrom('alert_instances').select(['state', 'reason']).where('rule', '=', 'ctr-low').executeTakeFirstOrThrow();
    expect(waiting).toEqual({ state: 'firing', reason: 'Click-through rate: waiting for complete data (ads is complete through 2026-02-28)' });
    await finishRun(wh.db, runId, { status: 'succeeded' });
  });

  it('a source in a zone behind the reporting zone is on time, not behind: the rule judges its last finished day, however far east the reporting zone', async () => {
    // 12:00 UTC: 01:00 on 03-11 in Auckland, 05:00 on 03-10 in Los Angeles, whose account's
    // 03-10 is not over. Complete through 03-09 is all the source can be; the rule must judge it.
    const config = configOf('', ', timezone: Pacific/Auckland');
    const alerts = createAlertsEngine({ log });
    await runSync({ db: wh.db, connector: adsSource(down, 'America/Los_Angeles'), config: config.connectors[0]!, log, now: () => NOW });
    await recompute(wh.db, config);
    expect((await loadCompleteness(wh.db, config)).through('ctr')).toBe('2026-03-09');
    await alerts.evaluateAlerts(wh.db, config, NOW);
    const fired = await wh.db.selectFrom('alert_instances').select(['state', 'reason']).where('rule', '=', 'ctr-low').executeTakeFirst();
    expect(fired).toEqual({ state: 'firing', reason: 'Click-through rate 1.9% is below 5.0% on 2026-03-09' });
  });
});
