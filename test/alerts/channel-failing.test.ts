import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverOutbox, evaluateAlerts } from '../../src/alerts/index.ts';
import type { SlackMessage } from '../../src/notify/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { useWarehouse, warehouseKinds } from '../helpers/warehouse.ts';
import { quietLogger, reply, startHttp, startSmtp, type HttpServer, type SmtpCatcher } from '../notify/helpers.ts';
import { at, clearAlerts, configFrom, days } from './helpers.ts';

const T = at('2026-03-03T06:00:00Z');
const MINUTE = 60_000;
const plus = (ms: number) => new Date(T.getTime() + ms);

describe.each(warehouseKinds)('a channel that keeps failing, with nothing configured for it, on %s', (kind) => {
  const wh = useWarehouse(kind, clearAlerts);
  let slack: HttpServer;
  let smtp: SmtpCatcher;
  let slackDown: boolean;
  beforeAll(async () => {
    slack = await startHttp((res) => (slackDown ? reply(res, 500, 'internal_error') : reply(res, 200, 'ok')));
    smtp = await startSmtp();
  });
  afterAll(async () => {
    await Promise.all([slack.close(), smtp.close()]);
  });

  it('mails the other channel that Slack is failing, once, and again when Slack delivers', async () => {
    slackDown = true;
    const config = configFrom(`
reporting: { timezone: UTC }
channels:
  slack: { type: slack, url: "${slack.base}/services/T/B/failing", minIntervalMs: 0, maxRetries: 0 }
  mail: { type: email, host: 127.0.0.1, port: ${smtp.port}, from: "KPI <kpi@example.com>", to: [ops@example.com], timeoutMs: 5000 }
alerting: { groupWait: 0 }
alerts:
  - name: spend-high
    series: { kpi: spend, grain: day }
    condition: { kind: threshold, op: above, threshold: 100 }
    partialData: true
    repeatInterval: never
    channels: [slack]
`);
    const round = async (now: Date) => {
      await deliverOutbox(wh.db, config, { now, log: quietLogger });
      await evaluateAlerts(wh.db, config, { now, log: quietLogger });
      await deliverOutbox(wh.db, config, { now, log: quietLogger });
    };
    await upsertFacts(wh.db, days({}, { '2026-03-02': { spend: 150 } }));

    // Two failed attempts five minutes apart are not yet "keeps failing" (3 in a row, or 15 minutes).
    await round(T);
    await round(plus(5 * MINUTE));
    expect(slack.requests).toHaveLength(2);
    expect(smtp.messages).toHaveLength(0);

    // The third is: one mail, to the other channel.
    await round(plus(10 * MINUTE));
    expect(slack.requests).toHaveLength(3);
    expect(smtp.messages.map((m) => m.subject)).toEqual(['[FIRING] Notification channel failing (critical)']);
    const firing = smtp.messages[0]!;
    expect(firing.to).toMatchObject({ text: 'ops@example.com' });
    expect(firing.text).toBe(
      '[FIRING] Notification channel failing (critical)\n\n' +
        'slack: the last 3 deliveries failed, failing since 2026-03-03 06:00 UTC (UTC); last error: Slack webhook "slack" failed after 1 attempts: HTTP 500 internal_error\n\n' +
        'Built in: a channel that keeps failing is reported on the other channels (alerting.channelFailing).\n\n' +
        '- slack failed deliveries, value 3, threshold 3\n\n' +
        'Labels: kind=delivery_failure, severity=critical, alertname=channel-failing, notify_channel=slack\n' +
        'Started: 2026-03-03 06:10 UTC (UTC)\n',
    );

    // Still failing: nothing more is mailed, and nothing about it is posted to Slack.
    await round(plus(15 * MINUTE));
    expect(slack.requests).toHaveLength(4);
    expect(smtp.messages).toHaveLength(1);
    const posted = slack.requests.map((r) => (JSON.parse(r.body) as SlackMessage).text);
    expect(new Set(posted)).toEqual(new Set(['[FIRING] spend-high (warning): Spend USD 150.00 is above USD 100.00 on 2026-03-02']));

    // Slack takes the held-up notification; a recovery note follows, once.
    slackDown = false;
    await round(plus(40 * MINUTE));
    await round(plus(50 * MINUTE));
    expect(smtp.messages.map((m) => m.subject)).toEqual(['[FIRING] Notification channel failing (critical)', '[RESOLVED] Notification channel failing']);
    expect(smtp.messages[1]!.text).toBe(
      '[RESOLVED] Notification channel failing\n\n' +
        'slack: delivers again; last delivery 2026-03-03 06:40 UTC (UTC)\n\n' +
        'Built in: a channel that keeps failing is reported on the other channels (alerting.channelFailing).\n\n' +
        '- slack failed deliveries, value 0, threshold 3\n\n' +
        'Labels: kind=delivery_failure, severity=critical, alertname=channel-failing, notify_channel=slack\n' +
        'Started: 2026-03-03 06:10 UTC (UTC)\n' +
        'Resolved: 2026-03-03 06:40 UTC (UTC) (lasted 30m)\n',
    );
    const health = await wh.db.selectFrom('channel_health').selectAll().where('channel', '=', 'slack').executeTakeFirstOrThrow();
    expect(health).toMatchObject({ failures: 0, failing_since: null, last_success_at: plus(40 * MINUTE) });
    expect(await wh.db.selectFrom('alert_outbox').select(['rule', 'channel', 'event', 'status']).orderBy('id').execute()).toEqual([
      { rule: 'spend-high', channel: 'slack', event: 'firing', status: 'sent' },
      { rule: 'channel-failing', channel: 'mail', event: 'firing', status: 'sent' },
      { rule: 'channel-failing', channel: 'mail', event: 'resolved', status: 'sent' },
    ]);
  });
});
