import { sql } from 'kysely';
import pngjs from 'pngjs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { evaluateAlerts, startAlertLoop } from '../../src/alerts/index.ts';
import { buildDigest, deliverOutbox, digestFiles, retryDigests, sendDigest } from '../../src/alerts/index.ts';
import { type SlackMessage } from '../../src/notify/index.ts';
import type { Warehouse } from '../../src/warehouse/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { captureLogs } from '../helpers/logs.ts';
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

function config(smtpPort: number, slackUrl: string, extra: { alerting?: string; alerts?: string } = {}) {
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
alerting: { groupWait: 0, link: "https://dash.example.com/"${extra.alerting ?? ''} }
alerts:
  - name: ctr_low
    title: CTR too low
    series: { kpi: ctr, grain: week }
    condition: { kind: threshold, op: below, threshold: 0.5 }
    channels: [ops_mail]
${extra.alerts ?? ''}digest:
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
    // Goals as report and alerts see them when the digest is built (the 30th), not as of the
    // week's end: clicks Jan 1 .. Mar 30 are still 7800 of 10,000 (nothing on the 30th), with
    // 89 of 90 days gone (0.989): behind by 0.209, past the 0.05 tolerance plus the 0.15 band.
    expect(d.goals).toEqual([{ name: 'clicks_q1', progress: 0.78, expected: 89 / 90, status: 'off_track' }]);
    expect(d.okrs).toEqual([{ objective: 'Grow traffic', progress: 0.78, status: 'off_track', keyResults: [d.goals[0]] }]);
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

  it('a failed digest send is tried again once its backoff is due, the others are not', async () => {
    const cfg = config(smtp.port, `${slack.base}/hook-d`);
    const mail = new RecordingChannel('ops_mail', 'email');
    const chat = new RecordingChannel('slack');
    chat.failWith = new Error('socket hang up');
    const first = await sendDigest(wh.db, cfg, { now: at('2026-03-30T06:00:00Z'), using: { ops_mail: mail, slack: chat } });
    expect(first).toMatchObject({ sent: ['ops_mail'], failed: [], retrying: [{ channel: 'slack', error: 'socket hang up' }] });
    chat.failWith = undefined;
    const second = await sendDigest(wh.db, cfg, { now: at('2026-03-30T07:00:00Z'), using: { ops_mail: mail, slack: chat } });
    expect(second).toMatchObject({ sent: ['slack'], skipped: ['ops_mail'] });
    expect([mail.digests.length, chat.digests.length]).toEqual([1, 1]);
  });

  it('a digest whose sender died mid-send is sent by the next alert loop once its claim runs out', async () => {
    const cfg = config(smtp.port, `${slack.base}/hook-g`);
    const T0 = at('2026-03-30T06:00:00Z');
    await wh.db
      .insertInto('digest_sends')
      .values({ report: 'digest', grain: 'week', period_start: '2026-03-23', channel: 'ops_mail', status: 'sending', claimed_by: 'dead', claimed_until: sql<Date>`now() + interval '10 minutes'`, attempts: 1 })
      .execute();
    expect(await retryDigests(wh.db, cfg, { now: T0, log: quietLogger })).toEqual([]);
    // Ten minutes pass on the database's clock.
    await wh.db.updateTable('digest_sends').set({ claimed_until: sql<Date>`now() - interval '1 millisecond'` }).execute();
    expect(await retryDigests(wh.db, cfg, { now: T0, log: quietLogger })).toMatchObject([{ sent: ['ops_mail'] }]);
    expect(smtp.messages.map((m) => m.subject)).toEqual(['Weekly KPI digest — Week 13, 23–29 Mar 2026']);
    expect(await wh.db.selectFrom('digest_sends').select(['status', 'attempts', 'claimed_by']).execute()).toEqual([{ status: 'sent', attempts: 2, claimed_by: null }]);
  });

  /** An SMTP server that answers MAIL FROM with 451 (try later) `refusals` times, then accepts. */
  const deferringSmtp = (refusals: number) => {
    let left = refusals;
    let tries = 0;
    return {
      tries: () => tries,
      start: () =>
        startSmtp({
          onMailFrom(_address, _session, callback) {
            tries++;
            if (left-- > 0) return callback(Object.assign(new Error('mailbox busy, try later'), { responseCode: 451 }));
            callback();
          },
        }),
    };
  };
  const digestRow = (channel: string) => wh.db.selectFrom('digest_sends').select(['status', 'attempts', 'not_before', 'failed_at', 'error']).where('channel', '=', channel).executeTakeFirstOrThrow();
  const T = at('2026-03-30T06:00:00Z');
  const later = (ms: number) => new Date(T.getTime() + ms);
  const DEFERRED = 'SMTP server deferred the message: 451 mailbox busy, try later';

  it('a digest the SMTP server defers twice is retried with backoff by the scheduler’s loop, and arrives once', async () => {
    const deferring = deferringSmtp(2);
    const server = await deferring.start();
    try {
      const cfg = config(server.port, `${slack.base}/hook-e`);
      expect(await sendDigest(wh.db, cfg, { now: T, log: quietLogger })).toMatchObject({ sent: ['slack'], failed: [], retrying: [{ channel: 'ops_mail', error: DEFERRED }] });
      let row = await digestRow('ops_mail');
      expect(row).toMatchObject({ status: 'retrying', attempts: 1, failed_at: null, error: DEFERRED });
      // 30 s with jitter.
      expect(row.not_before!.getTime() - T.getTime()).toBeGreaterThanOrEqual(22_500);
      expect(row.not_before!.getTime() - T.getTime()).toBeLessThanOrEqual(30_000);

      expect(await retryDigests(wh.db, cfg, { now: later(10_000), log: quietLogger })).toEqual([]);
      const [second] = await retryDigests(wh.db, cfg, { now: later(3_600_000), log: quietLogger });
      expect(second).toMatchObject({ sent: [], retrying: [{ channel: 'ops_mail', error: DEFERRED }], failed: [] });
      row = await digestRow('ops_mail');
      expect(row).toMatchObject({ status: 'retrying', attempts: 2 });
      // Doubled: 45..60 s.
      expect(row.not_before!.getTime() - later(3_600_000).getTime()).toBeGreaterThanOrEqual(45_000);

      // The third attempt is the alert loop's, as every scheduler runs it.
      let loop: { stop(): Promise<void> } | undefined;
      await new Promise<void>((resolve) => (loop = startAlertLoop(wh.db, cfg, { now: () => later(7_200_000), intervalMs: 3_600_000, log: quietLogger, onRound: () => resolve() })));
      await loop!.stop();
      expect(await digestRow('ops_mail')).toMatchObject({ status: 'sent', attempts: 3, error: null, not_before: null });
      expect(await retryDigests(wh.db, cfg, { now: later(10_800_000), log: quietLogger })).toEqual([]);

      const digests = server.messages.filter((m) => m.subject?.startsWith('Weekly KPI digest'));
      expect(digests.map((m) => m.subject)).toEqual(['Weekly KPI digest — Week 13, 23–29 Mar 2026']);
      expect(slack.requests.filter((r) => r.path === '/hook-e')).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it('a digest the server never accepts fails for good after maxAttempts: a loud log line, a failed row, and an alert elsewhere', async () => {
    const deferring = deferringSmtp(Number.POSITIVE_INFINITY);
    const server = await deferring.start();
    const { lines, logger } = captureLogs();
    try {
      const cfg = config(server.port, `${slack.base}/hook-f`, {
        alerting: ', maxAttempts: 3',
        alerts: '  - { name: digest_undelivered, condition: { kind: delivery_failure, watch: [ops_mail] }, channels: [slack] }\n',
      });
      expect(await sendDigest(wh.db, cfg, { now: T, log: logger })).toMatchObject({ retrying: [{ channel: 'ops_mail' }] });
      expect(await retryDigests(wh.db, cfg, { now: later(3_600_000), log: logger })).toMatchObject([{ retrying: [{ channel: 'ops_mail' }], failed: [] }]);
      const gaveUp = `gave up after 3 attempts: ${DEFERRED}`;
      expect(await retryDigests(wh.db, cfg, { now: later(7_200_000), log: logger })).toMatchObject([{ sent: [], retrying: [], failed: [{ channel: 'ops_mail', error: gaveUp }] }]);
      expect(await digestRow('ops_mail')).toEqual({ status: 'failed', attempts: 3, not_before: null, failed_at: later(7_200_000), error: gaveUp });
      expect(await retryDigests(wh.db, cfg, { now: later(86_400_000), log: logger })).toEqual([]);
      expect(deferring.tries()).toBe(3);

      const loud = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'digest failed for good');
      expect(loud).toMatchObject([{ level: 50, channel: 'ops_mail', period: '2026-03-23', attempt: 3, err: gaveUp }]);

      // The digest went to Slack at once; a delivery_failure rule then tells Slack about the email.
      await evaluateAlerts(wh.db, cfg, { now: later(7_260_000) });
      await deliverOutbox(wh.db, cfg, { now: later(7_260_000), log: quietLogger, channels: { ops_mail: new RecordingChannel('ops_mail', 'email') } });
      const told = slack.requests.filter((r) => r.path === '/hook-f').map((r) => (JSON.parse(r.body) as SlackMessage).text);
      expect(told).toEqual(['Weekly KPI digest: Week 13, 23–29 Mar 2026', `[FIRING] digest_undelivered (warning): ops_mail: the digest of 2026-03-23 could not be delivered in the last 24 h; last error: ${gaveUp}`]);
    } finally {
      await server.close();
    }
  });
});
