import pngjs from 'pngjs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { evaluateAlerts } from '../../src/metrics/alerts/index.ts';
import { buildDigest, deliverOutbox, digestFiles, sendDigest, type SlackMessage } from '../../src/notify/index.ts';
import { upsertFacts, type Warehouse } from '../../src/warehouse/index.ts';
import { testWarehouse } from '../helpers/warehouse.ts';
import { quietLogger, reply, startHttp, startSmtp, type HttpServer, type SmtpCatcher } from '../notify/helpers.ts';
import { at, clearAlerts, configFrom, days, RecordingChannel } from './helpers.ts';

const { PNG } = pngjs;

/** Twelve weeks of clicks and impressions, Mondays 2026-01-05 .. 2026-03-23; week k has 100·(k+1) clicks. */
function weeks() {
  const values: Record<string, Record<string, number>> = {};
  for (let k = 0; k < 12; k++) {
    const monday = new Date(Date.parse('2026-01-05T00:00:00Z') + k * 7 * 86_400_000).toISOString().slice(0, 10);
    values[monday] = { clicks: 100 * (k + 1), impressions: 10_000, spend: 50 };
  }
  return days({ currency: 'EUR' }, values);
}

function config(smtpPort: number, slackUrl: string) {
  return configFrom(`
reporting: { timezone: Europe/Berlin, currency: EUR }
northStar: clicks
channels:
  ops_mail:
    type: email
    host: 127.0.0.1
    port: ${smtpPort}
    from: "KPI <kpi@example.com>"
    to: [ops@example.com]
    timeoutMs: 5000
  slack: { type: slack, url: "${slackUrl}", minIntervalMs: 0 }
goals:
  - { name: clicks_q1, kpi: clicks, target: 10000, start: "2026-01-01", deadline: "2026-03-31" }
okrs:
  - name: grow
    objective: Grow traffic
    keyResults: [{ goal: clicks_q1 }]
alerting: { groupWait: 0, link: "https://dash.example.com/" }
alerts:
  - name: ctr_low
    title: CTR too low
    series: { kpi: ctr, grain: week }
    condition: { kind: threshold, op: below, threshold: 0.5 }
    channels: [ops_mail]
digest:
  schedule: "0 8 * * 1"
  timezone: Europe/Berlin
  channels: [ops_mail, slack]
  kpis: [ctr, spend]
  periods: 6
`);
}

describe('email delivery and the weekly digest', () => {
  let wh: Warehouse;
  let smtp: SmtpCatcher;
  let slack: HttpServer;
  beforeAll(async () => {
    wh = await testWarehouse('postgres');
    smtp = await startSmtp();
    slack = await startHttp((res) => reply(res, 200, 'ok'));
  });
  afterAll(async () => {
    await Promise.all([smtp.close(), slack.close()]);
    await wh.close();
  });
  beforeEach(async () => {
    await clearAlerts(wh.db);
    smtp.messages.length = 0;
    slack.requests.length = 0;
    await upsertFacts(wh.db, weeks());
  });

  it('mails [FIRING] and [RESOLVED] with HTML and text parts and the outbox id as Message-ID', async () => {
    const cfg = config(smtp.port, `${slack.base}/hook-a`);
    const fired = await evaluateAlerts(wh.db, cfg, { now: at('2026-03-30T07:00:00Z') });
    expect(await deliverOutbox(wh.db, cfg, { now: at('2026-03-30T07:00:00Z'), log: quietLogger })).toMatchObject({ sent: 1 });
    await upsertFacts(wh.db, days({ currency: 'EUR' }, { '2026-03-30': { impressions: 100, clicks: 90 } }));
    const resolved = await evaluateAlerts(wh.db, cfg, { now: at('2026-04-06T07:00:00Z') });
    expect(await deliverOutbox(wh.db, cfg, { now: at('2026-04-06T07:00:00Z'), log: quietLogger })).toMatchObject({ sent: 1 });

    expect(smtp.messages.map((m) => m.subject)).toEqual(['[FIRING] CTR too low (warning)', '[RESOLVED] CTR too low']);
    const [firing, done] = smtp.messages;
    expect(firing!.messageId).toBe(`<alert-${fired.outboxIds[0]}@kpi-pipeline>`);
    expect(done!.messageId).toBe(`<alert-${resolved.outboxIds[0]}@kpi-pipeline>`);
    expect(firing!.text).toContain('Click-through rate 12.0% is below 50.0% in the week of 2026-03-23');
    expect(firing!.text).toContain('Started: 2026-03-30 09:00 GMT+2 (Europe/Berlin)');
    expect(String(firing!.html)).toMatch(/<td[^>]*>12\.0%<\/td>/);
    expect(String(firing!.html)).toContain('https://dash.example.com/');
    expect(done!.text).toContain('Resolved: 2026-04-06 09:00 GMT+2 (Europe/Berlin) (lasted 7d)');
  });

  it('builds the digest: North Star, KPIs against last week with their trend, goals, OKRs and firing alerts', async () => {
    const cfg = config(smtp.port, `${slack.base}/hook-b`);
    await evaluateAlerts(wh.db, cfg, { now: at('2026-03-30T07:00:00Z') });
    const d = await buildDigest(wh.db, cfg, at('2026-03-30T07:00:00Z'));
    expect(d).toMatchObject({
      title: 'Weekly KPI digest',
      periodLabel: 'Week 13, 23–29 Mar 2026',
      timeZone: 'Europe/Berlin',
      northStar: { name: 'clicks', label: 'Clicks', unit: 'count', value: 1200, previous: 1100, direction: 'higher', series: [700, 800, 900, 1000, 1100, 1200] },
      link: 'https://dash.example.com/',
    });
    expect(d.northStar!.changePct).toBeCloseTo(9.0909, 3);
    expect(d.kpis.map((k) => [k.name, k.value, k.previous, k.unit, k.currency])).toEqual([
      ['ctr', 0.12, 0.11, 'percent', undefined],
      ['spend', 50, 50, 'currency', 'EUR'],
    ]);
    // Clicks Jan 1 .. Mar 29: 100 + 200 + ... + 1200 = 7800 of 10,000 with 88 of 90 days gone (0.978):
    // behind by 0.198, within the 0.05 tolerance plus the 0.15 at-risk band.
    expect(d.goals).toEqual([{ name: 'clicks_q1', progress: 0.78, expected: 88 / 90, status: 'at_risk' }]);
    expect(d.okrs).toEqual([{ objective: 'Grow traffic', progress: 0.78, status: 'at_risk', keyResults: [d.goals[0]] }]);
    expect(d.firing).toEqual([{ ruleName: 'CTR too low', summary: 'Click-through rate 12.0% is below 50.0% in the week of 2026-03-23', since: '2026-03-30T07:00:00.000Z' }]);

    const files = digestFiles(d);
    expect(files.images.map((i) => i.filename)).toEqual(['clicks.png', 'ctr.png', 'spend.png']);
    expect(files.html).toContain('src="clicks.png"');
    expect(files.html).not.toContain('cid:');
  });

  it('sends the digest by email with inline PNG sparklines and to Slack, once per week however often it is asked', async () => {
    const cfg = config(smtp.port, `${slack.base}/hook-c`);
    const now = at('2026-03-30T06:00:00Z');
    await evaluateAlerts(wh.db, cfg, { now });
    const first = await sendDigest(wh.db, cfg, { now, log: quietLogger });
    expect(first).toMatchObject({ sent: ['ops_mail', 'slack'], skipped: [], failed: [] });
    const again = await sendDigest(wh.db, cfg, { now: at('2026-03-30T06:05:00Z'), log: quietLogger });
    expect(again).toMatchObject({ sent: [], skipped: ['ops_mail', 'slack'] });
    expect(smtp.messages).toHaveLength(1);
    expect(slack.requests).toHaveLength(1);

    const mail = smtp.messages[0]!;
    expect(mail.subject).toBe('Weekly KPI digest — Week 13, 23–29 Mar 2026');
    expect(mail.text).toContain('North Star: Clicks: 1,200 (+9.1%; previous 1,100)');
    const pngs = mail.attachments.filter((a) => a.contentType === 'image/png');
    expect(pngs).toHaveLength(3);
    for (const png of pngs) {
      expect(String(mail.html)).toContain(`cid:${png.cid}`);
      const image = PNG.sync.read(png.content);
      expect([image.width, image.height]).toEqual([120, 32]);
    }
    const body = JSON.parse(slack.requests[0]!.body) as SlackMessage;
    expect(body.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'Weekly KPI digest' } });
    expect(JSON.stringify(body.blocks)).toContain('Firing alerts (1)');

    // A forced send (kpi digest --send) goes out regardless.
    expect(await sendDigest(wh.db, cfg, { now, force: true, channels: ['slack'], log: quietLogger })).toMatchObject({ sent: ['slack'] });
    expect(slack.requests).toHaveLength(2);
  });

  it('a failed digest send is tried again by the next run, the others are not', async () => {
    const cfg = config(smtp.port, `${slack.base}/hook-d`);
    const mail = new RecordingChannel('ops_mail', 'email');
    const chat = new RecordingChannel('slack');
    chat.failWith = new Error('socket hang up');
    const first = await sendDigest(wh.db, cfg, { now: at('2026-03-30T06:00:00Z'), using: { ops_mail: mail, slack: chat } });
    expect(first).toMatchObject({ sent: ['ops_mail'], failed: [{ channel: 'slack', error: 'socket hang up' }] });
    chat.failWith = undefined;
    const second = await sendDigest(wh.db, cfg, { now: at('2026-03-30T07:00:00Z'), using: { ops_mail: mail, slack: chat } });
    expect(second).toMatchObject({ sent: ['slack'], skipped: ['ops_mail'] });
    expect([mail.digests.length, chat.digests.length]).toEqual([1, 1]);
  });
});
