import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.ts';
import type { AlertsEngine } from '../../src/app.ts';
import { createAlertsEngine, evaluateAlerts, startAlertLoop } from '../../src/alerts/index.ts';
import { deliverOutbox } from '../../src/alerts/index.ts';
import { type SlackMessage } from '../../src/notify/index.ts';
import type { Warehouse } from '../../src/warehouse/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { useWarehouse } from '../helpers/warehouse.ts';
import { fakeClock, quietLogger, reply, startHttp, type HttpServer } from '../notify/helpers.ts';
import { at, clearAlerts, configFrom, days, outbox, RecordingChannel } from './helpers.ts';

const T = at('2026-03-03T06:00:00Z');
const plus = (ms: number, base = T) => new Date(base.getTime() + ms);

function configFor(url: string, extra = '') {
  return configFrom(`
reporting: { timezone: Europe/Berlin }
channels:
  slack: { type: slack, url: "${url}", minIntervalMs: 0, maxRetries: 0 }
alerting:
  groupWait: 30s
  evaluationInterval: 10s
  maxAttempts: 3
  claimTimeout: 5m
  link: https://dash.example.com/alerts
alerts:
  - name: spend_high
    title: Spend too high
    series: { kpi: spend, grain: day, dimension: campaign }
    condition: { kind: threshold, op: above, threshold: 100 }
    severity: critical
    channels: [slack]
${extra}`);
}

async function spend(wh: Warehouse, values: Record<string, number>, date = '2026-03-02') {
  for (const [campaign, v] of Object.entries(values)) await upsertFacts(wh.db, days({ campaign }, { [date]: { spend: v } }));
}

describe('delivering the outbox to Slack', () => {
  const wh = useWarehouse('postgres', clearAlerts);
  let server: HttpServer;
  let status: (n: number) => [number, string, Record<string, string>?];
  beforeAll(async () => {
    server = await startHttp((res, n) => {
      const [code, body, headers] = status(n);
      reply(res, code, body, headers);
    });
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    server.requests.length = 0;
    status = () => [200, 'ok'];
  });

  // Channels space requests per URL process-wide; the test with a fake clock gets a URL of its own.
  const url = () => `${server.base}/services/T1/B1/secret`;

  it('waits for the group wait, then sends the instances of one rule as one Block Kit message, once', async () => {
    const config = configFor(url());
    await spend(wh, { a: 150, b: 250, c: 50 });
    const first = await evaluateAlerts(wh.db, config, { now: T });
    expect(first.outboxIds).toHaveLength(2);
    // Campaign c crosses the line 20 s later, inside the first row's group wait.
    await spend(wh, { c: 120 });
    const second = await evaluateAlerts(wh.db, config, { now: plus(20_000) });
    expect(second.outboxIds).toHaveLength(1);

    expect(await deliverOutbox(wh.db, config, { now: plus(29_000), owner: 'r1', log: quietLogger })).toMatchObject({ sent: 0, messages: 0 });
    expect(server.requests).toHaveLength(0);
    expect(await deliverOutbox(wh.db, config, { now: plus(30_000), owner: 'r1', log: quietLogger })).toMatchObject({ sent: 3, messages: 1 });
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.path).toBe('/services/T1/B1/secret');

    const body = JSON.parse(server.requests[0]!.body) as SlackMessage;
    expect(body.text).toBe('[FIRING] Spend too high (critical): 3 series firing: Spend (campaign a) USD 150.00 is above USD 100.00 on 2026-03-02; Spend (campaign b) USD 250.00 is above USD 100.00 on 2026-03-02; Spend (campaign c) USD 120.00 is above USD 100.00 on 2026-03-02');
    expect(body.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: '[FIRING] Spend too high (critical)' } });
    const att = body.attachments![0]!;
    const sections = att.blocks.filter((b) => b.type === 'section' && b.fields).map((b) => (b.type === 'section' ? b.text?.text : ''));
    const report = 'Report: `kpi report --grain day --as-of 2026-03-03`';
    expect(sections).toEqual([`*Spend, campaign a*\n${report}`, `*Spend, campaign b*\n${report}`, `*Spend, campaign c*\n${report}`]);
    const context = JSON.stringify(att.blocks.filter((b) => b.type === 'context'));
    // Labels common to all three; times in the configured zone.
    expect(context).toContain('alertname: *spend_high*');
    expect(context).not.toContain('campaign:');
    expect(context).toContain('Started 2026-03-03 07:00 GMT+1 (Europe/Berlin)');
    expect(att.blocks.at(-1)).toMatchObject({ type: 'actions', elements: [{ url: 'https://dash.example.com/alerts' }] });

    const rows = await outbox(wh.db);
    expect(rows.map((r) => [r.status, r.attempts, r.claimed_by])).toEqual([
      ['sent', 1, null],
      ['sent', 1, null],
      ['sent', 1, null],
    ]);
    expect(rows[0]!.delivered_at).toEqual(plus(30_000));
    expect(await deliverOutbox(wh.db, config, { now: plus(3_600_000), owner: 'r2', log: quietLogger })).toMatchObject({ sent: 0, messages: 0 });
    expect(server.requests).toHaveLength(1);
  });

  it('sends resolved after firing, each as its own message', async () => {
    const config = configFor(url());
    await spend(wh, { a: 150 });
    await evaluateAlerts(wh.db, config, { now: T });
    await spend(wh, { a: 10 });
    await evaluateAlerts(wh.db, config, { now: plus(10_000) });
    expect(await deliverOutbox(wh.db, config, { now: plus(60_000), log: quietLogger })).toMatchObject({ sent: 2, messages: 2 });
    const texts = server.requests.map((r) => (JSON.parse(r.body) as SlackMessage).text);
    expect(texts[0]).toMatch(/^\[FIRING\] Spend too high \(critical\): Spend \(campaign a\) USD 150\.00/);
    expect(texts[1]).toMatch(/^\[RESOLVED\] Spend too high: Spend \(campaign a\) USD 10\.00 is not above USD 100\.00/);
  });

  it('retries 429 (after Retry-After) and 5xx inside one delivery, and sends once', async () => {
    const clock = fakeClock();
    const config = configFrom(`
channels:
  slack: { type: slack, url: "${url()}-fake-clock", minIntervalMs: 0, maxRetries: 3 }
alerting: { groupWait: 0 }
alerts:
  - name: spend_high
    series: { kpi: spend, grain: day }
    condition: { kind: threshold, op: above, threshold: 100 }
    channels: [slack]
`);
    status = (n) => (n === 0 ? [429, 'rate_limited', { 'retry-after': '3' }] : n === 1 ? [503, 'unavailable'] : [200, 'ok']);
    await spend(wh, { a: 150 });
    await evaluateAlerts(wh.db, config, { now: T });
    expect(await deliverOutbox(wh.db, config, { now: T, clock, log: quietLogger })).toMatchObject({ sent: 1, messages: 1, retrying: 0 });
    expect(server.requests).toHaveLength(3);
    expect(clock.sleeps[0]).toBe(3000);
    expect(new Set(server.requests.map((r) => r.body)).size).toBe(1);
    expect((await outbox(wh.db))[0]).toMatchObject({ status: 'sent', attempts: 1 });
  });

  it('obeys a Retry-After up to alerting.maxRetryAfter, and marks the row failed when asked to wait longer', async () => {
    const withBot = configFrom(`
channels:
  slack: { type: slack, url: "${url()}-retry-after", minIntervalMs: 0, maxRetries: 0 }
  bot: { type: slack_bot, token: bottok-retry-after, channel: C1, baseUrl: "${server.base}/api", minIntervalMs: 0, maxRetries: 0 }
alerting: { groupWait: 0 }
alerts:
  - { name: spend_high, series: { kpi: spend, grain: day }, condition: { kind: threshold, op: above, threshold: 100 }, channels: [slack] }
  - { name: bot_alert, series: { kpi: spend, grain: day }, condition: { kind: threshold, op: above, threshold: 100 }, channels: [bot] }
`);
    status = (n) => (server.requests[n]!.path.startsWith('/api/') ? [429, '{"ok":false,"error":"ratelimited"}', { 'retry-after': '31536000' }] : [429, 'rate_limited', { 'retry-after': '300' }]);
    await spend(wh, { a: 150 });
    await evaluateAlerts(wh.db, withBot, { now: T });
    const t1 = plus(30_000);
    expect(await deliverOutbox(wh.db, withBot, { now: t1, log: quietLogger })).toMatchObject({
      sent: 0,
      retrying: 1,
      failed: 1,
      failures: [{ channel: 'bot', rule: 'bot_alert', error: 'gave up: asked to wait 365 d, longer than alerting.maxRetryAfter (10 min): Slack channel C1 ("bot") failed after 1 attempts: chat.postMessage: HTTP 429 ratelimited' }],
    });
    const rows = await outbox(wh.db);
    // Five minutes is within the ten-minute cap: obeyed to the millisecond.
    expect(rows.find((r) => r.channel === 'slack')).toMatchObject({ status: 'pending', attempts: 1, not_before: plus(300_000, t1), failed_at: null });
    expect(rows.find((r) => r.channel === 'bot')).toMatchObject({
      status: 'failed',
      attempts: 1,
      failed_at: t1,
      last_error: 'gave up: asked to wait 365 d, longer than alerting.maxRetryAfter (10 min): Slack channel C1 ("bot") failed after 1 attempts: chat.postMessage: HTTP 429 ratelimited',
    });
  });

  it('keeps a row that failed for now with its backoff, retries it when due, and gives up after maxAttempts', async () => {
    const config = configFor(url());
    status = () => [500, 'boom'];
    await spend(wh, { a: 150 });
    await evaluateAlerts(wh.db, config, { now: T });
    const t1 = plus(30_000);
    expect(await deliverOutbox(wh.db, config, { now: t1, log: quietLogger })).toMatchObject({ sent: 0, retrying: 1 });
    let [row] = await outbox(wh.db);
    expect(row).toMatchObject({ status: 'pending', attempts: 1, claimed_by: null });
    expect(row!.last_error).toMatch(/HTTP 500 boom/);
    expect(row!.last_error).not.toContain('secret');
    // 30 s base with jitter: between 22.5 and 30 s.
    const wait = row!.not_before.getTime() - t1.getTime();
    expect(wait).toBeGreaterThanOrEqual(22_500);
    expect(wait).toBeLessThanOrEqual(30_000);

    expect(await deliverOutbox(wh.db, config, { now: plus(20_000, t1), log: quietLogger })).toMatchObject({ retrying: 0, sent: 0 });
    expect(server.requests).toHaveLength(1);
    const t2 = plus(30_001, t1);
    expect(await deliverOutbox(wh.db, config, { now: t2, log: quietLogger })).toMatchObject({ retrying: 1 });
    [row] = await outbox(wh.db);
    // Doubles: 45..60 s.
    expect(row!.not_before.getTime() - t2.getTime()).toBeGreaterThanOrEqual(45_000);
    expect(await deliverOutbox(wh.db, config, { now: plus(60_001, t2), log: quietLogger })).toMatchObject({ failed: 1 });
    [row] = await outbox(wh.db);
    expect(row).toMatchObject({ status: 'failed', attempts: 3 });
    expect(row!.last_error).toMatch(/^gave up after 3 attempts: /);
    expect(server.requests).toHaveLength(3);

    status = () => [200, 'ok'];
    expect(await deliverOutbox(wh.db, config, { now: plus(3_600_000, t2), log: quietLogger })).toMatchObject({ sent: 0 });
  });

  it('marks a row failed with the reason on a ConfigError, and does not retry it', async () => {
    const config = configFor(url());
    status = () => [404, 'no_service'];
    await spend(wh, { a: 150 });
    await evaluateAlerts(wh.db, config, { now: T });
    expect(await deliverOutbox(wh.db, config, { now: plus(30_000), log: quietLogger })).toMatchObject({ failed: 1, retrying: 0 });
    const [row] = await outbox(wh.db);
    expect(row!.status).toBe('failed');
    expect(row!.last_error).toContain('channels.slack.url: Slack rejected the message: HTTP 404 no_service (the webhook URL is wrong or the webhook was removed');
    await deliverOutbox(wh.db, config, { now: plus(3_600_000), log: quietLogger });
    expect(server.requests).toHaveLength(1);
  });

  it('takes over a claim that expired (a deliverer that died) and sends it once; the late owner cannot mark it', async () => {
    const config = configFor(url());
    await spend(wh, { a: 150 });
    await evaluateAlerts(wh.db, config, { now: T });
    // A replica claimed it (claims run on the database's clock) and then died before sending.
    await wh.db.updateTable('alert_outbox').set({ claimed_by: 'dead-replica', claimed_until: sql<Date>`now() + interval '5 minutes'` }).execute();
    expect(await deliverOutbox(wh.db, config, { now: plus(60_000), owner: 'r2', log: quietLogger })).toMatchObject({ sent: 0 });
    expect(server.requests).toHaveLength(0);
    // Five minutes later by the database's clock, whatever the deliverer's says.
    await wh.db.updateTable('alert_outbox').set({ claimed_until: sql<Date>`now() - interval '1 millisecond'` }).execute();
    expect(await deliverOutbox(wh.db, config, { now: plus(60_000), owner: 'r2', log: quietLogger })).toMatchObject({ sent: 1 });
    expect(server.requests).toHaveLength(1);
    const [row] = await outbox(wh.db);
    expect(row).toMatchObject({ status: 'sent', claimed_by: null });
    // The first owner waking up finds nothing of its own to mark, and nothing to send.
    const late = await wh.db.updateTable('alert_outbox').set({ status: 'failed' }).where('claimed_by', '=', 'dead-replica').executeTakeFirst();
    expect(Number(late.numUpdatedRows)).toBe(0);
    expect(await deliverOutbox(wh.db, config, { now: plus(3_600_000), owner: 'dead-replica', log: quietLogger })).toMatchObject({ sent: 0 });
    expect(server.requests).toHaveLength(1);
  });

  it('uses the outbox ids as the notification id, and fails a row whose channel is gone from the config', async () => {
    const config = configFor(url());
    await spend(wh, { a: 150, b: 150 });
    const { outboxIds } = await evaluateAlerts(wh.db, config, { now: T });
    const recorder = new RecordingChannel('slack');
    await deliverOutbox(wh.db, config, { now: plus(30_000), channels: { slack: recorder } });
    expect(recorder.sent.map((n) => n.id)).toEqual([outboxIds.join('-')]);

    await clearAlerts(wh.db);
    await spend(wh, { a: 150 });
    await evaluateAlerts(wh.db, config, { now: T });
    const without = { ...config, channels: {} };
    expect(await deliverOutbox(wh.db, without, { now: plus(30_000), log: quietLogger })).toMatchObject({ failed: 1 });
    expect((await outbox(wh.db))[0]!.last_error).toBe("channels.slack: no channel named 'slack' is configured");

    await clearAlerts(wh.db);
    await spend(wh, { a: 150 });
    await evaluateAlerts(wh.db, config, { now: T });
    recorder.failWith = new ConfigError([{ path: 'channels.slack.token', message: 'Slack refused the bot token' }]);
    expect(await deliverOutbox(wh.db, config, { now: plus(30_000), channels: { slack: recorder } })).toMatchObject({ failed: 1 });
    expect((await outbox(wh.db))[0]!.last_error).toBe('channels.slack.token: Slack refused the bot token');
  });
});

describe('the pipeline adapter and the periodic loop', () => {
  const wh = useWarehouse('postgres', clearAlerts);

  it('fits the pipeline: evaluate returns outbox ids, deliver waits out the group wait and sends', async () => {
    const config = configFor('http://127.0.0.1:9/unused');
    await spend(wh, { a: 150 });
    const slack = new RecordingChannel('slack');
    let clock = T.getTime();
    const slept: number[] = [];
    const engine: AlertsEngine = createAlertsEngine({
      owner: 'worker-1',
      channels: { slack },
      now: () => new Date(clock),
      sleep: async (ms) => {
        slept.push(ms);
        clock += ms;
      },
    });
    const { outboxIds } = await engine.evaluateAlerts(wh.db, config, T);
    expect(outboxIds).toHaveLength(1);
    await engine.deliver(wh.db, config, outboxIds);
    expect(slept).toEqual([30_000]);
    expect(slack.sent).toHaveLength(1);
    expect(slack.sent[0]!.id).toBe(String(outboxIds[0]));
  });

  it('the loop evaluates and delivers on a timer until stopped', async () => {
    const config = configFor('http://127.0.0.1:9/unused');
    await spend(wh, { a: 150 });
    const slack = new RecordingChannel('slack');
    let tick = 0;
    const rounds: number[] = [];
    const loop = startAlertLoop(wh.db, config, {
      intervalMs: 5,
      channels: { slack },
      // Each round 20 s later: the second round is past the 30 s group wait.
      now: () => new Date(T.getTime() + 20_000 * Math.floor(tick++ / 2)),
      onRound: (r) => rounds.push(r.sent),
    });
    await expect.poll(() => slack.sent.length, { timeout: 5000 }).toBe(1);
    await loop.stop();
    const after = rounds.length;
    await new Promise((r) => setTimeout(r, 30));
    expect(rounds.length).toBe(after);
    expect(rounds.reduce((a, b) => a + b, 0)).toBe(1);
  });
});
