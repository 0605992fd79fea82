import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.ts';
import { deliverOutbox, evaluateAlerts } from '../../src/alerts/index.ts';
import type { SlackMessage } from '../../src/notify/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { captureLogs } from '../helpers/logs.ts';
import { testPostgres, useWarehouse, warehouseKinds } from '../helpers/warehouse.ts';
import { inUnitTier } from '../helpers/tier.ts';
import { loadInhibitors } from '../../src/alerts/inhibition.ts';
import { quietLogger, reply, startHttp, type HttpServer } from '../notify/helpers.ts';
import { addRuns, at, clearAlerts, configFrom, days, stateOf } from './helpers.ts';

const T = at('2026-03-10T06:00:00Z');
const plus = (ms: number) => new Date(T.getTime() + ms);
const HOUR = 3_600_000;
const iso = (d: Date) => d.toISOString();

function configFor(url: string, groupWait = '0') {
  return configFrom(`
reporting: { timezone: UTC }
connectors:
  - { name: shop, type: csv, path: ./shop.csv, account: shop, date: { column: date }, metrics: { revenue: revenue } }
  - { name: ads, type: csv, path: ./ads.csv, account: ads, date: { column: date }, metrics: { spend: spend } }
channels:
  slack: { type: slack, url: "${url}", minIntervalMs: 0, maxRetries: 0 }
alerting: { groupWait: ${groupWait}, evaluationInterval: 10s }
alerts:
  - name: revenue-low
    series: { kpi: revenue, grain: day }
    condition: { kind: threshold, op: below, threshold: 100 }
    partialData: true
    channels: [slack]
  - name: revenue-drop
    series: { kpi: revenue, grain: day }
    condition: { kind: change, op: drop, threshold: 20 }
    partialData: true
    channels: [slack]
  - name: revenue-watch
    series: { kpi: revenue, grain: day }
    condition: { kind: threshold, op: below, threshold: 45 }
    partialData: true
    inhibit: false
    channels: [slack]
  - name: spend-high
    series: { kpi: spend, grain: day }
    condition: { kind: threshold, op: above, threshold: 100 }
    partialData: true
    channels: [slack]
  - name: shop-sync
    title: Shop sync failing
    condition: { kind: sync_failure, connectors: [shop], failures: 2 }
    severity: critical
    channels: [slack]
`);
}

const revenue = (db: Parameters<typeof upsertFacts>[0], values: Record<string, number>) =>
  upsertFacts(db, days({ connector: 'shop', account: 'shop', campaign: '', channel: 'shop' }, Object.fromEntries(Object.entries(values).map(([d, v]) => [d, { revenue: v }]))));

describe.each(warehouseKinds)('inhibition: a failing source keeps the alerts on its data quiet, on %s', (kind) => {
  const wh = useWarehouse(kind, clearAlerts);
  let slack: HttpServer;
  beforeAll(async () => {
    slack = await startHttp((res) => reply(res, 200, 'ok'));
  });
  afterAll(async () => {
    await slack.close();
  });
  beforeEach(() => {
    slack.requests.length = 0;
  });
  const texts = () => slack.requests.map((r) => (JSON.parse(r.body) as SlackMessage).text);

  it('sends nothing for the inhibited alerts while the sync fails, names them in the failure message, and resumes after', async () => {
    const config = configFor(`${slack.base}/services/T/B/inhibit`);
    const tick = async (now: Date) => {
      await evaluateAlerts(wh.db, config, { now, log: quietLogger });
      await deliverOutbox(wh.db, config, { now, log: quietLogger });
    };

    // Before: revenue 50 on the 9th fires revenue-low; 60 → 50 is a 16.7% drop, under 20%.
    await revenue(wh.db, { '2026-03-08': 60, '2026-03-09': 50 });
    await tick(plus(-HOUR));
    expect(texts()).toEqual(['[FIRING] revenue-low (warning): Revenue USD 50.00 is below USD 100.00 on 2026-03-09']);
    slack.requests.length = 0;

    // The shop's syncs fail twice, and its numbers go wrong: 40 (a 33% drop, spend unrelated).
    await addRuns(wh.db, [
      { connector: 'shop', status: 'failed', started: iso(plus(-50 * 60_000)), error: 'HTTP 500 from shop' },
      { connector: 'shop', status: 'failed', started: iso(plus(-20 * 60_000)), error: 'HTTP 500 from shop' },
    ]);
    await revenue(wh.db, { '2026-03-09': 40 });
    await upsertFacts(wh.db, days({ connector: 'ads', account: 'ads' }, { '2026-03-09': { spend: 500 } }));
    await tick(T);

    // One message for the shop, naming the alerts it keeps quiet; the opted-out rule and the
    // rule on another source's data are not inhibited.
    expect(texts()).toEqual([
      '[FIRING] Shop sync failing (critical): shop: the last 2 syncs failed; last error: HTTP 500 from shop. Quiet because of this: revenue-low, revenue-drop',
      '[FIRING] revenue-watch (warning): Revenue USD 40.00 is below USD 45.00 on 2026-03-09',
      '[FIRING] spend-high (warning): Spend USD 500.00 is above USD 100.00 on 2026-03-09',
    ]);
    expect(JSON.parse(slack.requests[0]!.body)).toEqual({
      text: '[FIRING] Shop sync failing (critical): shop: the last 2 syncs failed; last error: HTTP 500 from shop. Quiet because of this: revenue-low, revenue-drop',
      blocks: [{ type: 'header', text: { type: 'plain_text', text: '[FIRING] Shop sync failing (critical)' } }],
      attachments: [
        {
          color: '#d92d20',
          blocks: [
            { type: 'section', text: { type: 'mrkdwn', text: 'shop: the last 2 syncs failed; last error: HTTP 500 from shop. Quiet because of this: revenue-low, revenue-drop' } },
            { type: 'context', elements: [{ type: 'mrkdwn', text: 'kind: *sync_failure*  ·  severity: *critical*  ·  alertname: *shop-sync*  ·  connector: *shop*' }] },
            { type: 'section', text: { type: 'mrkdwn', text: '*shop failed syncs in a row*' }, fields: [{ type: 'mrkdwn', text: '*Value*\n2' }, { type: 'mrkdwn', text: '*Threshold*\n2' }] },
            { type: 'context', elements: [{ type: 'mrkdwn', text: 'Started 2026-03-10 06:00 UTC (UTC)  ·  severity *critical*' }] },
          ],
        },
      ],
    });
    expect(await stateOf(wh.db, 'revenue-low')).toBe('inhibited');
    expect(await stateOf(wh.db, 'revenue-drop')).toBe('inhibited');
    const low = await wh.db.selectFrom('alert_instances').select(['reason', 'episode', 'firing_since']).where('rule', '=', 'revenue-low').executeTakeFirstOrThrow();
    expect(low.reason).toBe('inhibited while a source fails (shop-sync fires for shop): Revenue USD 40.00 is below USD 100.00 on 2026-03-09');
    // Its episode stays open: it never stopped firing as far as anyone was told.
    expect(low.firing_since).toEqual(plus(-HOUR));
    slack.requests.length = 0;

    // Still failing; the numbers bounce back: no resolved for the quiet ones (the opted-out one resolves).
    await revenue(wh.db, { '2026-03-09': 150 });
    await tick(plus(HOUR));
    expect(texts()).toEqual(['[RESOLVED] revenue-watch: Revenue USD 150.00 is not below USD 45.00 on 2026-03-09']);
    expect(await stateOf(wh.db, 'revenue-low')).toBe('inhibited');
    slack.requests.length = 0;

    // The sync works again: the shop resolves and revenue-low is judged again, and resolves once.
    await addRuns(wh.db, [{ connector: 'shop', status: 'succeeded', started: iso(plus(2 * HOUR - 60_000)) }]);
    await tick(plus(2 * HOUR));
    expect(texts()).toEqual([
      '[RESOLVED] Shop sync failing: shop: 0 failed syncs in a row (alert at 2)',
      '[RESOLVED] revenue-low: Revenue USD 150.00 is not below USD 100.00 on 2026-03-09',
    ]);
    expect(await stateOf(wh.db, 'revenue-low')).toBe('resolved');
    expect(await stateOf(wh.db, 'revenue-drop')).toBe('ok');
    const transitions = await wh.db.selectFrom('alert_transitions').select(['from_state', 'to_state']).where('rule', '=', 'revenue-low').orderBy('seq').execute();
    expect(transitions.map((t) => `${t.from_state}→${t.to_state}`)).toEqual(['ok→firing', 'firing→inhibited', 'inhibited→resolved']);
  });

  it('holds a notification queued just before its source failed until the source is back', async () => {
    const config = configFor(`${slack.base}/services/T/B/held`, '30s');
    await revenue(wh.db, { '2026-03-08': 60, '2026-03-09': 50 });
    await evaluateAlerts(wh.db, config, { now: T, log: quietLogger });
    // Within the group wait the shop's syncs fail; the next tick inhibits revenue-low.
    await addRuns(wh.db, [
      { connector: 'shop', status: 'failed', started: iso(plus(1_000)) },
      { connector: 'shop', status: 'failed', started: iso(plus(2_000)) },
    ]);
    await evaluateAlerts(wh.db, config, { now: plus(10_000), log: quietLogger });
    expect(await deliverOutbox(wh.db, config, { now: plus(40_000), log: quietLogger })).toMatchObject({ held: 1, sent: 1 });
    expect(texts()).toEqual(['[FIRING] Shop sync failing (critical): shop: the last 2 syncs failed. Quiet because of this: revenue-low, revenue-drop']);
    const held = await wh.db.selectFrom('alert_outbox').select(['status', 'held_by', 'last_error', 'attempts']).where('rule', '=', 'revenue-low').executeTakeFirstOrThrow();
    expect(held).toEqual({
      status: 'pending',
      held_by: 'inhibited',
      last_error: 'held: inhibited while a source fails (shop-sync fires for shop): Revenue USD 50.00 is below USD 100.00 on 2026-03-09',
      attempts: 0,
    });

    // Back: revenue-low is still below, so its held notification goes out, once.
    await addRuns(wh.db, [{ connector: 'shop', status: 'succeeded', started: iso(plus(HOUR)) }]);
    await evaluateAlerts(wh.db, config, { now: plus(HOUR + 10_000), log: quietLogger });
    await deliverOutbox(wh.db, config, { now: plus(HOUR + 60_000), log: quietLogger });
    await deliverOutbox(wh.db, config, { now: plus(2 * HOUR), log: quietLogger });
    expect(texts().slice(1)).toEqual(['[FIRING] revenue-low (warning): Revenue USD 50.00 is below USD 100.00 on 2026-03-09', '[RESOLVED] Shop sync failing: shop: 0 failed syncs in a row (alert at 2)']);
  });

  it.skipIf(inUnitTier || kind !== 'postgres')('a lookup of the failing sources that fails is logged and inhibits nothing', async () => {
    const config = configFor(`${slack.base}/services/T/B/lookup`);
    // A real database error: the pool of a closed warehouse.
    const gone = await testPostgres();
    await gone.close();
    const { lines, logger } = captureLogs();
    expect(await loadInhibitors(gone.db, config, logger)).toEqual(new Map());
    expect(lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.msg === 'could not read which sources are failing; evaluating alerts without inhibition')).toMatchObject([{ level: 40 }]);
  });
});

describe('inhibition in the configuration', () => {
  function problems(yaml: string): string[] {
    try {
      configFrom(yaml);
    } catch (err) {
      if (err instanceof ConfigError) return err.problems.map((p) => `${p.line ?? '?'} ${p.path}: ${p.message}`);
      throw err;
    }
    throw new Error('expected a ConfigError');
  }

  it('names what is wrong with inhibit and inhibitedBy, and where', () => {
    expect(
      problems(`
channels:
  slack: { type: slack, url: "https://hooks.slack.com/services/T/B/x" }
alerts:
  - name: shop-sync
    condition: { kind: sync_failure }
    channels: [slack]
  - name: stale
    condition: { kind: freshness }
    inhibit: false
    channels: [slack]
  - name: ctr-low
    series: { kpi: ctr }
    condition: { kind: threshold, op: below, threshold: 0.02 }
    inhibitedBy: [shop-synk, ctr-both]
    channels: [slack]
  - name: ctr-both
    series: { kpi: ctr }
    condition: { kind: threshold, op: below, threshold: 0.02 }
    inhibit: false
    inhibitedBy: [shop-sync]
    channels: [slack]
`),
    ).toEqual([
      "10 alerts[1].inhibit: only threshold, change, anomaly and goal rules are inhibited; remove it from this freshness rule",
      '21 alerts[3].inhibitedBy: inhibit: false turns inhibition off; remove one of them',
    ]);
  });

  it('checks that inhibitedBy names sync_failure or freshness rules', () => {
    expect(
      problems(`
channels:
  slack: { type: slack, url: "https://hooks.slack.com/services/T/B/x" }
alerts:
  - name: shop-sync
    condition: { kind: sync_failure }
    channels: [slack]
  - name: ctr-low
    series: { kpi: ctr }
    condition: { kind: threshold, op: below, threshold: 0.02 }
    inhibitedBy: [shop-synk, ctr-other]
    channels: [slack]
  - name: ctr-other
    series: { kpi: ctr }
    condition: { kind: threshold, op: above, threshold: 0.5 }
    channels: [slack]
`),
    ).toEqual([
      "11 alerts[1].inhibitedBy[0]: unknown alert rule 'shop-synk': inhibitedBy names sync_failure or freshness rules (did you mean 'shop-sync'?)",
      "11 alerts[1].inhibitedBy[1]: 'ctr-other' is a threshold rule; only sync_failure and freshness rules inhibit others",
    ]);
  });
});
