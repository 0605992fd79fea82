import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateAlerts, listTransitions } from '../../src/alerts/index.ts';
import { deliverOutbox } from '../../src/alerts/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { useWarehouse, warehouseKinds } from '../helpers/warehouse.ts';
import { addRuns, at, clearAlerts, configFrom, days, instances, outbox, RecordingChannel, stateOf } from './helpers.ts';
import { inUnitTier } from '../helpers/tier.ts';

const CHANNELS = `
channels:
  slack: { type: slack, url: "http://127.0.0.1:9/hook" }
`;

/** Paid search CTR per day (1000 impressions): 3%, 1.5%, 1.5%, 2.2%, 2.6%, 2.7%; email stays at 5%. */
const ctrDays = [
  ...days({ channel: 'paid_search' }, {
    '2026-03-02': { impressions: 1000, clicks: 30 },
    '2026-03-03': { impressions: 1000, clicks: 15 },
    '2026-03-04': { impressions: 1000, clicks: 15 },
    '2026-03-05': { impressions: 1000, clicks: 22 },
    '2026-03-06': { impressions: 1000, clicks: 26 },
    '2026-03-07': { impressions: 1000, clicks: 27 },
  }),
  ...days({ channel: 'email', connector: 'mailchimp', campaign: 'news' }, {
    '2026-03-02': { impressions: 1000, clicks: 50 },
    '2026-03-03': { impressions: 1000, clicks: 50 },
    '2026-03-04': { impressions: 1000, clicks: 50 },
    '2026-03-05': { impressions: 1000, clicks: 50 },
    '2026-03-06': { impressions: 1000, clicks: 50 },
    '2026-03-07': { impressions: 1000, clicks: 50 },
  }),
];

/** The morning after `date`: a day rule with period last looks at `date`. */
const morningAfter = (date: string) => new Date(Date.parse(`${date}T06:00:00Z`) + 86_400_000);

describe.each(warehouseKinds)('a threshold rule per channel, stepped day by day, on %s', (kind) => {
  const wh = useWarehouse(kind);
  const config = configFrom(`${CHANNELS}
alerts:
  - name: ctr_low
    title: CTR too low
    series: { kpi: ctr, grain: day, dimension: channel }
    condition: { kind: threshold, op: below, threshold: 0.02, recovery: 0.025 }
    for: 2
    severity: critical
    labels: { team: growth }
    channels: [slack]
    repeatInterval: 20h
`);
  beforeAll(async () => {
    await upsertFacts(wh.db, ctrDays);
  });

  it('goes ok → pending → firing → (firing, hysteresis) → resolved, with one outbox row per notification', async () => {
    const ps = 'channel=paid_search';
    const steps: Array<[string, string]> = [
      ['2026-03-02', 'ok'],
      ['2026-03-03', 'pending'],
      ['2026-03-04', 'firing'],
      // 2.2% is above the 2% threshold but below the 2.5% recovery: it keeps firing.
      ['2026-03-05', 'firing'],
      ['2026-03-06', 'resolved'],
      ['2026-03-07', 'resolved'],
    ];
    for (const [date, expected] of steps) {
      await evaluateAlerts(wh.db, config, { now: morningAfter(date) });
      expect([date, await stateOf(wh.db, 'ctr_low', ps)]).toEqual([date, expected]);
      expect(await stateOf(wh.db, 'ctr_low', 'channel=email')).toBe('ok');
    }

    const transitions = await listTransitions(wh.db, { rule: 'ctr_low' });
    expect(transitions.map((t) => [t.instance, t.from, t.to])).toEqual([
      [ps, 'ok', 'pending'],
      [ps, 'pending', 'firing'],
      [ps, 'firing', 'resolved'],
    ]);
    expect(transitions[0]!.reason).toBe('Click-through rate (Paid search) 1.5% is below 2.0% on 2026-03-03 (1 of 2)');
    expect(transitions[2]!.reason).toBe('Click-through rate (Paid search) 2.6% is not below 2.0% on 2026-03-06');
    expect(transitions.map((t) => t.seq)).toEqual([1, 2, 3]);

    const rows = await outbox(wh.db);
    expect(rows.map((r) => [r.event, r.ordinal, r.episode, r.channel, r.status])).toEqual([
      ['firing', 0, 2, 'slack', 'pending'],
      // 20 h repeat interval: the next morning's evaluation is a day later.
      ['repeat', 1, 2, 'slack', 'pending'],
      ['resolved', 0, 2, 'slack', 'pending'],
    ]);
    const firing = rows[0]!.payload as Record<string, unknown>;
    expect(firing).toMatchObject({
      status: 'firing',
      ruleName: 'CTR too low',
      severity: 'critical',
      summary: 'Click-through rate (Paid search) 1.5% is below 2.0% on 2026-03-04',
      labels: { alertname: 'ctr_low', severity: 'critical', kind: 'threshold', team: 'growth', channel: 'paid_search' },
      instance: { series: 'Click-through rate, Paid search', value: 0.015, threshold: 0.02, unit: 'percent', report: 'kpi report --grain day --as-of 2026-03-05' },
      startsAt: '2026-03-05T06:00:00.000Z',
    });
    expect(rows[2]!.payload).toMatchObject({ status: 'resolved', startsAt: '2026-03-05T06:00:00.000Z', endsAt: '2026-03-07T06:00:00.000Z' });
    // Group wait: due 30 s after it was written.
    expect(rows[0]!.due_at.getTime() - rows[0]!.created_at.getTime()).toBe(30_000);
  });

  it('delivers what was queued: the unsent firing and its reminder as one message, then the resolved one', async () => {
    const slack = new RecordingChannel('slack');
    const result = await deliverOutbox(wh.db, config, { now: new Date(morningAfter('2026-03-07').getTime() + 60_000), owner: 'test', channels: { slack } });
    expect(result).toMatchObject({ sent: 3, messages: 2, failed: 0 });
    expect(slack.sent.map((n) => [n.status, n.instances.length, n.summary])).toEqual([
      ['firing', 1, 'Click-through rate (Paid search) 2.2% is not below 2.0% but not back to 2.5% yet on 2026-03-05'],
      ['resolved', 1, 'Click-through rate (Paid search) 2.6% is not below 2.0% on 2026-03-06'],
    ]);
  });

  it('evaluates a tick once: again at the same time, or a second later, changes nothing', async () => {
    const before = await instances(wh.db, 'ctr_low');
    const again = await evaluateAlerts(wh.db, config, { now: morningAfter('2026-03-07') });
    const later = await evaluateAlerts(wh.db, config, { now: new Date(morningAfter('2026-03-07').getTime() + 1000) });
    expect(again).toMatchObject({ transitions: [], outboxIds: [], skipped: 2 });
    expect(later).toMatchObject({ transitions: [], outboxIds: [], skipped: 2 });
    expect(await instances(wh.db, 'ctr_low')).toEqual(before);
  });
});

describe.skipIf(inUnitTier)('rule kinds on postgres', () => {
  const wh = useWarehouse('postgres', clearAlerts);

  it('does not double-count `for` when one tick is evaluated twice', async () => {
    await upsertFacts(wh.db, ctrDays);
    const config = configFrom(`${CHANNELS}
alerts:
  - name: ctr_low
    series: { kpi: ctr, grain: day, filter: { channel: paid_search } }
    condition: { kind: threshold, op: below, threshold: 0.02 }
    for: 3
    channels: [slack]
`);
    const now = morningAfter('2026-03-03');
    await evaluateAlerts(wh.db, config, { now });
    await evaluateAlerts(wh.db, config, { now });
    await evaluateAlerts(wh.db, config, { now: new Date(now.getTime() + 59_000) });
    const [row] = await instances(wh.db, 'ctr_low');
    expect(row).toMatchObject({ state: 'pending', breaches: 1, instance: '' });
    // The next tick counts: 2 of 3.
    await evaluateAlerts(wh.db, config, { now: new Date(now.getTime() + 60_000) });
    expect((await instances(wh.db, 'ctr_low'))[0]).toMatchObject({ state: 'pending', breaches: 2 });
  });

  it('change: fires on a month-to-date drop in percent, and on an absolute rise, with the previous value', async () => {
    // Sessions: February 1–10 1000 a day; March 1–10 700 a day: -30% month to date.
    const feb: Record<string, Record<string, number>> = {};
    const mar: Record<string, Record<string, number>> = {};
    for (let d = 1; d <= 10; d++) {
      feb[`2026-02-${String(d).padStart(2, '0')}`] = { sessions: 1000 };
      mar[`2026-03-${String(d).padStart(2, '0')}`] = { sessions: 700 };
    }
    // Later February days must not count in a to-date comparison.
    feb['2026-02-20'] = { sessions: 50_000 };
    await upsertFacts(wh.db, days({ connector: 'ga4', channel: 'organic' }, { ...feb, ...mar }));
    const config = configFrom(`${CHANNELS}
alerts:
  - name: sessions_drop
    series: { kpi: sessions, grain: month }
    condition: { kind: change, op: drop, by: percent, threshold: 25, toDate: true }
    channels: [slack]
  - name: sessions_small_drop
    series: { kpi: sessions, grain: month }
    condition: { kind: change, op: drop, threshold: 40, toDate: true }
    channels: [slack]
  - name: sessions_jump
    series: { kpi: sessions, grain: day }
    condition: { kind: change, op: rise, by: absolute, threshold: 100, against: 7 }
    channels: [slack]
`);
    const r = await evaluateAlerts(wh.db, config, { now: at('2026-03-10T12:00:00Z') });
    expect(await stateOf(wh.db, 'sessions_drop')).toBe('firing');
    expect(await stateOf(wh.db, 'sessions_small_drop')).toBe('ok');
    const row = (await outbox(wh.db)).find((o) => o.rule === 'sessions_drop')!;
    expect(row.payload).toMatchObject({
      summary: 'Sessions 7,000 in 2026-03 so far, −30.0% against 10,000 the month before (limit −25%)',
      instance: { value: 7000, previous: 10000, changePct: -30 },
    });
    expect(r.outboxIds).toEqual([row.id]);

    // Day grain, a week back: 2026-03-09 (700) against 2026-03-02 (700): no change.
    expect(await stateOf(wh.db, 'sessions_jump')).toBe('ok');
    await upsertFacts(wh.db, days({ connector: 'ga4', channel: 'organic' }, { '2026-03-11': { sessions: 900 }, '2026-03-04': { sessions: 750 } }));
    await evaluateAlerts(wh.db, config, { now: at('2026-03-12T12:00:00Z') });
    expect(await stateOf(wh.db, 'sessions_jump')).toBe('firing');
  });

  it('goal pace: fires for each goal that turns at risk, not for one on track', async () => {
    // Clicks by day in March: 10 a day for the first 10 days = 100 of 1000 (10%), with a third of March gone.
    const march: Record<string, Record<string, number>> = {};
    for (let d = 1; d <= 10; d++) march[`2026-03-${String(d).padStart(2, '0')}`] = { clicks: 10, impressions: 100 };
    await upsertFacts(wh.db, days({}, march));
    const config = configFrom(`${CHANNELS}
goals:
  - { name: clicks_march, kpi: clicks, target: 1000, start: "2026-03-01", deadline: "2026-03-31" }
  - { name: clicks_easy, kpi: clicks, target: 120, start: "2026-03-01", deadline: "2026-03-31" }
alerts:
  - name: goals_pace
    condition: { kind: goal }
    channels: [slack]
`);
    await evaluateAlerts(wh.db, config, { now: at('2026-03-10T12:00:00Z') });
    const rows = await instances(wh.db, 'goals_pace');
    expect(rows.map((r) => [r.instance, r.state])).toEqual([
      ['goal=clicks_easy', 'ok'],
      ['goal=clicks_march', 'firing'],
    ]);
    expect(rows[1]!.reason).toMatch(/^Goal clicks_march \(Clicks\) is off track: 10\.0% of the way to the target, 32\.3% expected by 2026-03-10$/);
  });

  it('anomaly: fires outside the median ± 3 MAD band of the same weekday, only with enough delta and volume', async () => {
    // Eight Mondays of sessions around 1000, then a Monday at 600.
    const history = [1000, 1030, 980, 1010, 990, 1020, 970, 1005];
    const values: Record<string, Record<string, number>> = {};
    history.forEach((v, k) => {
      const monday = new Date(Date.parse('2026-03-30T00:00:00Z') - 7 * (k + 1) * 86_400_000).toISOString().slice(0, 10);
      values[monday] = { sessions: v, engaged_sessions: v / 2 };
      // Other weekdays are very different and must not count.
      const tuesday = new Date(Date.parse(monday) + 86_400_000).toISOString().slice(0, 10);
      values[tuesday] = { sessions: 5 };
    });
    values['2026-03-30'] = { sessions: 600, engaged_sessions: 300 };
    await upsertFacts(wh.db, days({ connector: 'ga4', channel: 'organic' }, values));
    const config = configFrom(`${CHANNELS}
alerts:
  - name: sessions_anomaly
    series: { kpi: sessions, grain: day }
    condition: { kind: anomaly, lookback: 8, sensitivity: 3, minDelta: 100, minDeltaPct: 20 }
    channels: [slack]
  - name: sessions_anomaly_big_delta
    series: { kpi: sessions, grain: day }
    condition: { kind: anomaly, minDeltaPct: 50 }
    channels: [slack]
  - name: sessions_anomaly_volume
    series: { kpi: sessions, grain: day }
    condition: { kind: anomaly, minVolume: { kpi: engaged_sessions, value: 400 } }
    channels: [slack]
  - name: sessions_anomaly_up
    series: { kpi: sessions, grain: day }
    condition: { kind: anomaly, direction: up }
    channels: [slack]
`);
    await evaluateAlerts(wh.db, config, { now: at('2026-03-31T08:00:00Z') });
    expect(await stateOf(wh.db, 'sessions_anomaly')).toBe('firing');
    expect(await stateOf(wh.db, 'sessions_anomaly_big_delta')).toBe('ok');
    expect(await stateOf(wh.db, 'sessions_anomaly_volume')).toBe('ok');
    expect(await stateOf(wh.db, 'sessions_anomaly_up')).toBe('ok');
    const [row] = (await outbox(wh.db)).filter((o) => o.rule === 'sessions_anomaly');
    // Median 1002.5; |x - m|: 2.5 27.5 22.5 7.5 12.5 17.5 32.5 2.5 → MAD 15; sigma 22.239; band 935.78..1069.22.
    expect(row!.payload).toMatchObject({ summary: 'Sessions 600 on 2026-03-30 is below its usual range 936–1,069 (median 1,003 of the same weekday over 8 weeks)' });
    const usual = (row!.payload as { instance: { usual: { lower: number; upper: number }; previous: number } }).instance;
    expect(usual.usual.lower).toBeCloseTo(1002.5 - 3 * 1.4826 * 15, 6);
    expect(usual.usual.upper).toBeCloseTo(1002.5 + 3 * 1.4826 * 15, 6);
    expect(usual.previous).toBe(1002.5);
    const volume = await instances(wh.db, 'sessions_anomaly_volume');
    expect(volume[0]!.reason).toContain('ignored: engaged_sessions 300 is under the minimum volume 400');
  });

  it('anomaly: a day series has instances for the values with data on the weekdays it compares', async () => {
    const values: Record<string, Record<string, number>> = {};
    const tuesdays: Record<string, Record<string, number>> = {};
    for (let k = 0; k <= 4; k++) {
      const monday = new Date(Date.parse('2026-03-30T00:00:00Z') - 7 * k * 86_400_000).toISOString().slice(0, 10);
      values[monday] = { sessions: 1000 + k };
      tuesdays[new Date(Date.parse(monday) + 86_400_000).toISOString().slice(0, 10)] = { sessions: 50 };
    }
    await upsertFacts(wh.db, [...days({ connector: 'ga4', campaign: 'mondays' }, values), ...days({ connector: 'ga4', campaign: 'tuesdays' }, tuesdays)]);
    const config = configFrom(`${CHANNELS}
alerts:
  - name: a
    series: { kpi: sessions, dimension: campaign }
    condition: { kind: anomaly, lookback: 4 }
    channels: [slack]
`);
    await evaluateAlerts(wh.db, config, { now: at('2026-03-31T08:00:00Z') });
    // Tuesdays' campaign has no Monday to judge or to miss.
    expect((await instances(wh.db, 'a')).map((r) => [r.instance, r.state])).toEqual([['campaign=mondays', 'ok']]);
  });

  it('anomaly: needs enough history before it judges', async () => {
    await upsertFacts(wh.db, days({ connector: 'ga4' }, { '2026-03-23': { sessions: 1000 }, '2026-03-16': { sessions: 1000 }, '2026-03-30': { sessions: 10 } }));
    const config = configFrom(`${CHANNELS}
alerts:
  - name: a
    series: { kpi: sessions }
    condition: { kind: anomaly }
    channels: [slack]
`);
    await evaluateAlerts(wh.db, config, { now: at('2026-03-31T08:00:00Z') });
    const [row] = await instances(wh.db, 'a');
    expect(row).toMatchObject({ state: 'ok', reason: 'Sessions 10 on 2026-03-30: 2 of 4 earlier values needed to judge it' });
  });

  it('freshness: fires when a connector has no successful sync within its SLA, resolves on the next one', async () => {
    const config = configFrom(`${CHANNELS}
connectors:
  - { name: shop, type: csv, path: ./shop.csv, freshnessHours: 6, date: { column: date }, metrics: { orders: orders } }
  - { name: news, type: csv, path: ./news.csv, date: { column: date }, metrics: { orders: orders } }
alerts:
  - name: stale
    condition: { kind: freshness }
    channels: [slack]
`);
    await addRuns(wh.db, [
      { connector: 'shop', status: 'succeeded', started: '2026-03-10T00:00:00Z', finished: '2026-03-10T00:05:00Z' },
      { connector: 'shop', status: 'failed', started: '2026-03-10T03:00:00Z', error: 'boom' },
      { connector: 'news', status: 'succeeded', started: '2026-03-10T00:00:00Z', finished: '2026-03-10T00:05:00Z' },
    ]);
    await evaluateAlerts(wh.db, config, { now: at('2026-03-10T06:00:00Z') });
    expect([await stateOf(wh.db, 'stale', 'connector=shop'), await stateOf(wh.db, 'stale', 'connector=news')]).toEqual(['ok', 'ok']);
    await evaluateAlerts(wh.db, config, { now: at('2026-03-10T06:10:00Z') });
    expect(await stateOf(wh.db, 'stale', 'connector=shop')).toBe('firing');
    expect(await stateOf(wh.db, 'stale', 'connector=news')).toBe('ok');
    const [row] = await outbox(wh.db);
    expect(row!.payload).toMatchObject({ summary: 'shop: last successful sync 6.1 h ago (2026-03-10 00:05 UTC (UTC)); allowed 6 h', labels: { connector: 'shop' } });

    await addRuns(wh.db, [{ connector: 'shop', status: 'succeeded', started: '2026-03-10T06:15:00Z', finished: '2026-03-10T06:20:00Z' }]);
    await evaluateAlerts(wh.db, config, { now: at('2026-03-10T06:30:00Z') });
    expect(await stateOf(wh.db, 'stale', 'connector=shop')).toBe('resolved');
  });

  it('sync failure: fires after N failed runs in a row, not when a success breaks the streak', async () => {
    const config = configFrom(`${CHANNELS}
connectors:
  - { name: shop, type: csv, path: ./shop.csv, date: { column: date }, metrics: { orders: orders } }
alerts:
  - name: sync_failing
    condition: { kind: sync_failure, failures: 3 }
    channels: [slack]
`);
    await addRuns(wh.db, [
      { connector: 'shop', status: 'failed', started: '2026-03-10T00:00:00Z', error: 'one' },
      { connector: 'shop', status: 'succeeded', started: '2026-03-10T01:00:00Z' },
      { connector: 'shop', status: 'failed', started: '2026-03-10T02:00:00Z', error: 'two' },
      { connector: 'shop', status: 'abandoned', started: '2026-03-10T03:00:00Z', error: 'worker stopped' },
      { connector: 'shop', status: 'running', started: '2026-03-10T04:00:00Z' },
    ]);
    await evaluateAlerts(wh.db, config, { now: at('2026-03-10T04:10:00Z') });
    expect((await instances(wh.db, 'sync_failing'))[0]).toMatchObject({ state: 'ok', last_value: 2 });
    await addRuns(wh.db, [{ connector: 'shop', status: 'failed', started: '2026-03-10T04:00:01Z', error: 'HTTP 503 from source\nretry later' }]);
    await evaluateAlerts(wh.db, config, { now: at('2026-03-10T05:00:00Z') });
    const [row] = await instances(wh.db, 'sync_failing');
    expect(row).toMatchObject({ state: 'firing', last_value: 3 });
    expect(row!.last_summary).toBe('shop: the last 3 syncs failed; last error: HTTP 503 from source retry later');
  });

  it('quarantine rate: fires above the limit over the window, ignores too few rows, resolves below recovery', async () => {
    const config = configFrom(`${CHANNELS}
connectors:
  - { name: shop, type: csv, path: ./shop.csv, date: { column: date }, metrics: { orders: orders } }
  - { name: tiny, type: csv, path: ./tiny.csv, date: { column: date }, metrics: { orders: orders } }
alerts:
  - name: quarantine
    condition: { kind: quarantine_rate, limit: 0.05, recovery: 0.02, window: 24h, minRows: 100 }
    channels: [slack]
`);
    await addRuns(wh.db, [
      { connector: 'shop', status: 'succeeded', started: '2026-03-09T01:00:00Z', read: 10_000, rejected: 5_000 },
      { connector: 'shop', status: 'succeeded', started: '2026-03-10T01:00:00Z', read: 1000, rejected: 40 },
      { connector: 'shop', status: 'succeeded', started: '2026-03-10T02:00:00Z', read: 1000, rejected: 80 },
      { connector: 'tiny', status: 'succeeded', started: '2026-03-10T02:00:00Z', read: 10, rejected: 9 },
    ]);
    await evaluateAlerts(wh.db, config, { now: at('2026-03-10T12:00:00Z') });
    expect(await stateOf(wh.db, 'quarantine', 'connector=shop')).toBe('firing');
    expect(await stateOf(wh.db, 'quarantine', 'connector=tiny')).toBe('ok');
    expect((await outbox(wh.db))[0]!.payload).toMatchObject({ summary: 'shop: 120 of 2000 records quarantined in the last 24 h (6.0%; limit 5.0%)' });
    // 3% is under the limit but over the recovery rate: still firing.
    await addRuns(wh.db, [{ connector: 'shop', status: 'succeeded', started: '2026-03-10T13:00:00Z', read: 2000, rejected: 0 }]);
    await evaluateAlerts(wh.db, config, { now: at('2026-03-10T14:00:00Z') });
    expect(await stateOf(wh.db, 'quarantine', 'connector=shop')).toBe('firing');
    await addRuns(wh.db, [{ connector: 'shop', status: 'succeeded', started: '2026-03-10T15:00:00Z', read: 4000, rejected: 0 }]);
    await evaluateAlerts(wh.db, config, { now: at('2026-03-10T16:00:00Z') });
    expect(await stateOf(wh.db, 'quarantine', 'connector=shop')).toBe('resolved');
  });
});
