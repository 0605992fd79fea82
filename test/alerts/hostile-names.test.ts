import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { evaluateAlerts } from '../../src/alerts/index.ts';
import { deliverOutbox, sendDigest } from '../../src/alerts/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { runCli, tempProject } from '../helpers/cli.ts';
import { clearSecrets } from '../../src/core/secrets.ts';
import { useWarehouse } from '../helpers/warehouse.ts';
import { quietLogger, reply, replyJson, startHttp, startSmtp, type HttpServer, type SmtpCatcher } from '../notify/helpers.ts';
import { at, clearAlerts, configFrom, days } from './helpers.ts';

// A campaign name as a hostile source (or a careless colleague) can set it: a mention of the
// whole channel and a link whose text hides where it goes.
const EVIL = '<!channel> pay now <https://evil.example|click here>';
const ESCAPED = '&lt;!channel&gt; pay now &lt;https://evil.example|click here&gt;';
/** Where each series' report is: the command line, as no server.publicUrl is configured. */
const REPORT = 'Report: `kpi report --grain day --as-of 2026-03-03`';
const T = at('2026-03-03T06:00:00Z');
const plus = (ms: number) => new Date(T.getTime() + ms);

function config(slack: HttpServer, smtpPort: number, botToken = { yaml: 'bottok-test-token', env: {} }) {
  return configFrom(`
reporting: { timezone: Europe/Berlin }
channels:
  hook: { type: slack, url: "${slack.base}/services/T/B/hook", minIntervalMs: 0, maxRetries: 0 }
  bot: { type: slack_bot, token: ${botToken.yaml}, channel: "#alerts", baseUrl: "${slack.base}/api", minIntervalMs: 0, maxRetries: 0 }
  mail: { type: email, host: 127.0.0.1, port: ${smtpPort}, from: "KPI <kpi@example.com>", to: [ops@example.com], timeoutMs: 5000 }
alerting: { groupWait: 0 }
alerts:
  - name: spend_high
    title: "Spend too high\\r\\nBcc: victim@example.com"
    series: { kpi: spend, grain: day, dimension: campaign }
    condition: { kind: threshold, op: above, threshold: 100 }
    severity: critical
    channels: [hook, bot, mail]
digest:
  schedule: "0 8 * * 1"
  timezone: Europe/Berlin
  title: "Digest <!here>"
  channels: [hook, mail]
  kpis: [spend]
  periods: 2
`, botToken.env);
}

const fields = [
  { type: 'mrkdwn', text: '*Value*\nUSD 150.00' },
  { type: 'mrkdwn', text: '*Threshold*\nUSD 100.00' },
];

describe('hostile campaign names in every message', () => {
  const wh = useWarehouse('postgres', clearAlerts);
  let slack: HttpServer;
  let smtp: SmtpCatcher;
  beforeAll(async () => {
    slack = await startHttp((res, _n, req) => (req.path.startsWith('/api/') ? replyJson(res, 200, { ok: true }) : reply(res, 200, 'ok')));
    smtp = await startSmtp();
  });
  afterAll(async () => {
    await Promise.all([slack.close(), smtp.close()]);
  });
  beforeEach(() => {
    slack.requests.length = 0;
    smtp.messages.length = 0;
  });

  const bodies = (prefix: string) => slack.requests.filter((r) => r.path.startsWith(prefix)).map((r) => JSON.parse(r.body) as unknown);

  it('alerts, grouped alerts and resolved ones: escaped in the top-level text and every block, webhook and bot alike', async () => {
    const cfg = config(slack, smtp.port);
    await upsertFacts(wh.db, days({ campaign: EVIL }, { '2026-03-02': { spend: 150 } }));
    await evaluateAlerts(wh.db, cfg, { now: T });
    expect(await deliverOutbox(wh.db, cfg, { now: T, log: quietLogger })).toMatchObject({ sent: 3, failed: 0 });

    const summary = `Spend (campaign ${ESCAPED}) USD 150.00 is above USD 100.00 on 2026-03-02`;
    const firing = {
      text: `[FIRING] Spend too high Bcc: victim@example.com (critical): ${summary}`,
      blocks: [{ type: 'header', text: { type: 'plain_text', text: '[FIRING] Spend too high Bcc: victim@example.com (critical)' } }],
      attachments: [
        {
          color: '#d92d20',
          blocks: [
            { type: 'section', text: { type: 'mrkdwn', text: summary } },
            { type: 'context', elements: [{ type: 'mrkdwn', text: `kind: *threshold*  ·  campaign: *${ESCAPED}*  ·  severity: *critical*  ·  alertname: *spend_high*` }] },
            { type: 'section', text: { type: 'mrkdwn', text: `*Spend, campaign ${ESCAPED}*\n${REPORT}` }, fields },
            { type: 'context', elements: [{ type: 'mrkdwn', text: 'Started 2026-03-03 07:00 GMT+1 (Europe/Berlin)  ·  severity *critical*' }] },
          ],
        },
      ],
    };
    expect(bodies('/services/')).toEqual([firing]);
    expect(bodies('/api/')).toEqual([{ channel: '#alerts', unfurl_links: false, unfurl_media: false, ...firing }]);

    // A second hostile campaign joins, then both recover: one grouped message, then one resolved.
    slack.requests.length = 0;
    await clearAlerts(wh.db);
    const OTHER = 'Sale & <@U123>';
    await upsertFacts(wh.db, days({ campaign: EVIL }, { '2026-03-02': { spend: 150 } }));
    await upsertFacts(wh.db, days({ campaign: OTHER }, { '2026-03-02': { spend: 150 } }));
    await evaluateAlerts(wh.db, cfg, { now: T });
    await deliverOutbox(wh.db, cfg, { now: T, log: quietLogger });
    const grouped = bodies('/services/') as Array<{ text: string; attachments: Array<{ blocks: unknown[] }> }>;
    const both = `2 series firing: Spend (campaign ${ESCAPED}) USD 150.00 is above USD 100.00 on 2026-03-02; Spend (campaign Sale &amp; &lt;@U123&gt;) USD 150.00 is above USD 100.00 on 2026-03-02`;
    expect(grouped).toEqual([
      {
        text: `[FIRING] Spend too high Bcc: victim@example.com (critical): ${both}`,
        blocks: firing.blocks,
        attachments: [
          {
            color: '#d92d20',
            blocks: [
              { type: 'section', text: { type: 'mrkdwn', text: both } },
              { type: 'context', elements: [{ type: 'mrkdwn', text: 'kind: *threshold*  ·  severity: *critical*  ·  alertname: *spend_high*' }] },
              { type: 'section', text: { type: 'mrkdwn', text: `*Spend, campaign ${ESCAPED}*\n${REPORT}` }, fields },
              { type: 'section', text: { type: 'mrkdwn', text: `*Spend, campaign Sale &amp; &lt;@U123&gt;*\n${REPORT}` }, fields },
              { type: 'context', elements: [{ type: 'mrkdwn', text: 'Started 2026-03-03 07:00 GMT+1 (Europe/Berlin)  ·  severity *critical*' }] },
            ],
          },
        ],
      },
    ]);

    slack.requests.length = 0;
    await upsertFacts(wh.db, days({ campaign: EVIL }, { '2026-03-02': { spend: 10 } }));
    await evaluateAlerts(wh.db, cfg, { now: plus(60_000) });
    await deliverOutbox(wh.db, cfg, { now: plus(60_000), log: quietLogger });
    const resolvedSummary = `Spend (campaign ${ESCAPED}) USD 10.00 is not above USD 100.00 on 2026-03-02`;
    expect(bodies('/services/')).toEqual([
      {
        text: `[RESOLVED] Spend too high Bcc: victim@example.com: ${resolvedSummary}`,
        blocks: [{ type: 'header', text: { type: 'plain_text', text: '[RESOLVED] Spend too high Bcc: victim@example.com' } }],
        attachments: [
          {
            color: '#2eb886',
            blocks: [
              { type: 'section', text: { type: 'mrkdwn', text: resolvedSummary } },
              { type: 'context', elements: [{ type: 'mrkdwn', text: `kind: *threshold*  ·  campaign: *${ESCAPED}*  ·  severity: *critical*  ·  alertname: *spend_high*` }] },
              {
                type: 'section',
                text: { type: 'mrkdwn', text: `*Spend, campaign ${ESCAPED}*\n${REPORT}` },
                fields: [
                  { type: 'mrkdwn', text: '*Value*\nUSD 10.00' },
                  { type: 'mrkdwn', text: '*Threshold*\nUSD 100.00' },
                ],
              },
              { type: 'context', elements: [{ type: 'mrkdwn', text: 'Started 2026-03-03 07:00 GMT+1 (Europe/Berlin)  ·  Resolved 2026-03-03 07:01 GMT+1 (Europe/Berlin)  ·  lasted 1m  ·  severity *critical*' }] },
            ],
          },
        ],
      },
    ]);
  });

  it('the email: HTML escaped, one Subject header without the injected line', async () => {
    const cfg = config(slack, smtp.port);
    await upsertFacts(wh.db, days({ campaign: EVIL }, { '2026-03-02': { spend: 150 } }));
    await evaluateAlerts(wh.db, cfg, { now: T });
    await deliverOutbox(wh.db, cfg, { now: T, log: quietLogger });
    expect(smtp.messages).toHaveLength(1);
    const mail = smtp.messages[0]!;
    expect(mail.subject).toBe('[FIRING] Spend too high Bcc: victim@example.com (critical)');
    expect(mail.headers.get('bcc')).toBeUndefined();
    expect(mail.bcc).toBeUndefined();
    expect(mail.to).toMatchObject({ text: 'ops@example.com' });
    const html = String(mail.html);
    expect(html).toContain(`<p style="margin:0 0 14px;font-size:15px">Spend (campaign &lt;!channel&gt; pay now &lt;https://evil.example|click here&gt;) USD 150.00 is above USD 100.00 on 2026-03-02</p>`);
    expect(html).toContain('campaign: <b>&lt;!channel&gt; pay now &lt;https://evil.example|click here&gt;</b>');
    expect(html).not.toContain('<https://evil.example');
    expect(html).not.toContain('<!channel>');
  });

  it('a campaign named after a configured secret: scrubbed from the email (text and HTML) and the digest, as from Slack', async () => {
    // A token with characters HTML escapes: scrubbed after escaping, it would no longer be recognised.
    const token = 'bottok-9f&Q<2"zK7';
    const cfg = config(slack, smtp.port, { yaml: '"${env:BOT_TOKEN}"', env: { BOT_TOKEN: token } });
    try {
      await upsertFacts(wh.db, days({ campaign: `promo ${token}` }, { '2026-03-02': { spend: 150 } }));
      await evaluateAlerts(wh.db, cfg, { now: T });
      await deliverOutbox(wh.db, cfg, { now: T, log: quietLogger });
      await sendDigest(wh.db, cfg, { now: T, log: quietLogger });
      expect(smtp.messages).toHaveLength(2);
      const [alertMail, digestMail] = smtp.messages;
      expect(alertMail!.text).toContain('- Spend, campaign promo [redacted], value USD 150.00, threshold USD 100.00\n  Report: kpi report --grain day --as-of 2026-03-03\n\nLabels: kind=threshold, campaign=promo [redacted], severity=critical');
      expect(String(alertMail!.html)).toContain('campaign: <b>promo [redacted]</b>');
      expect(String(digestMail!.html)).toContain('(campaign promo [redacted])</b>: Spend (campaign promo [redacted]) USD 150.00');
      const sent = [...smtp.messages.flatMap((m) => [m.text, String(m.html), m.subject]), ...slack.requests.map((r) => r.body)].join('\n');
      for (const form of [token, 'bottok-9f&amp;Q&lt;2&quot;zK7', JSON.stringify(token).slice(1, -1), 'bottok-9f&amp;Q&lt;2"zK7']) expect(sent).not.toContain(form);
    } finally {
      clearSecrets();
    }
  });

  it('the digest: escaped in Slack (title and firing alerts) and in the email', async () => {
    const cfg = config(slack, smtp.port);
    await upsertFacts(wh.db, days({ campaign: EVIL }, { '2026-03-02': { spend: 150 } }));
    await evaluateAlerts(wh.db, cfg, { now: T });
    const result = await sendDigest(wh.db, cfg, { now: T, log: quietLogger });
    expect(result).toMatchObject({ sent: ['hook', 'mail'], failed: [] });
    const firingLine = `• *Spend too high Bcc: victim@example.com (campaign ${ESCAPED})*: Spend (campaign ${ESCAPED}) USD 150.00 is above USD 100.00 on 2026-03-02 (since 2026-03-03 07:00 GMT+1 (Europe/Berlin))`;
    expect(bodies('/services/')).toEqual([
      {
        text: 'Digest &lt;!here&gt;: Week 9, 23 Feb – 1 Mar 2026',
        blocks: [
          { type: 'header', text: { type: 'plain_text', text: 'Digest &lt;!here&gt;' } },
          { type: 'context', elements: [{ type: 'mrkdwn', text: 'Week 9, 23 Feb – 1 Mar 2026  ·  times in Europe/Berlin' }] },
          { type: 'section', fields: [{ type: 'mrkdwn', text: '*Spend*\nn/a' }] },
          { type: 'divider' },
          { type: 'section', text: { type: 'mrkdwn', text: `*:rotating_light: Firing alerts (1)*\n${firingLine}` } },
        ],
      },
    ]);
    const mail = smtp.messages[0]!;
    expect(mail.subject).toBe('Digest <!here> — Week 9, 23 Feb – 1 Mar 2026');
    expect(String(mail.html)).toContain(`(campaign ${ESCAPED})</b>: Spend (campaign ${ESCAPED}) USD 150.00`);
    expect(String(mail.html)).not.toContain('<!channel>');
  });
});

describe('kpi alerts test-channel', () => {
  let slack: HttpServer;
  let project: { dir: string; cleanup(): void };
  beforeAll(async () => {
    slack = await startHttp((res) => reply(res, 200, 'ok'));
    project = tempProject({});
  });
  afterAll(async () => {
    await slack.close();
    project.cleanup();
  });

  it('sends a test message whose every text is escaped', async () => {
    writeFileSync(
      path.join(project.dir, 'kpi.yaml'),
      `
reporting: { timezone: UTC }
channels:
  hook: { type: slack, url: "${slack.base}/services/T/B/test", minIntervalMs: 0 }
alerting: { link: "https://dash.example.com/?a=1&b=<2>" }
`,
    );
    const run = await runCli(['alerts', 'test-channel', 'hook', '--config', 'kpi.yaml'], { cwd: project.dir });
    expect(run).toMatchObject({ code: 0, stdout: 'sent a test notification to hook (slack)\n' });
    const body = JSON.parse(slack.requests[0]!.body) as { attachments: Array<{ blocks: Array<{ type: string; elements?: Array<{ text: { text: string } }> }> }> };
    const summary = "A test from kpi-pipeline to channel 'hook': if you can read this, alerts reach this channel.";
    expect(body).toMatchObject({
      text: `[FIRING] Test notification (info): ${summary}`,
      blocks: [{ type: 'header', text: { type: 'plain_text', text: '[FIRING] Test notification (info)' } }],
    });
    expect(body.attachments[0]!.blocks.slice(0, 3)).toEqual([
      { type: 'section', text: { type: 'mrkdwn', text: summary } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: 'channel: *hook*' }] },
      { type: 'section', text: { type: 'mrkdwn', text: '*test*' }, fields: [{ type: 'mrkdwn', text: '*Value*\n1' }] },
    ]);
  });
});
