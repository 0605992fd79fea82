/**
 * What a marketing manager reads, whole: a percent KPI's change in percentage points, the
 * rule's description and runbook, series named in words, an anomaly's usual range and median,
 * the link to the series' report, and in the digest colours by the KPI's direction past a
 * significance threshold, with aliases shown once. Real Slack webhook and SMTP servers.
 */
import pngjs from 'pngjs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deliverOutbox, evaluateAlerts, sendDigest } from '../../src/alerts/index.ts';
import type { SlackMessage } from '../../src/notify/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { useWarehouse, warehouseKinds } from '../helpers/warehouse.ts';
import { quietLogger, reply, startHttp, startSmtp, type HttpServer, type SmtpCatcher } from '../notify/helpers.ts';
import { at, clearAlerts, configFrom, days } from './helpers.ts';

const { PNG } = pngjs;

/** Tuesday: the last whole week is 2026-03-16..22, the last whole day Monday 2026-03-23. */
const NOW = at('2026-03-24T06:00:00Z');

const CONNECTORS = `connectors:
  - { name: gads, type: google_ads, customerIds: ["1234567890"], developerToken: dev-token-value, auth: { type: oauth, clientId: client-id-value, clientSecret: client-secret-value, refreshToken: refresh-token-value } }
  - { name: meta, type: meta_ads, adAccountIds: ["act_1001"], accessToken: meta-token-value }
`;

function configOf(slackUrl: string, smtpPort: number, extra = '') {
  return configFrom(`
reporting: { timezone: UTC, currency: EUR }
${CONNECTORS}
kpis:
  - { name: ad_margin, label: Margin after ads, formula: (revenue - spend) / revenue, unit: percent }
channels:
  slack: { type: slack, url: "${slackUrl}", minIntervalMs: 0, maxRetries: 0 }
  mail: { type: email, host: 127.0.0.1, port: ${smtpPort}, from: "KPI <kpi@example.com>", to: [cmo@example.com], timeoutMs: 5000 }
alerting: { groupWait: 0, timezone: Europe/Berlin }
alerts:
  - name: margin-falling
    title: Margin after ads falling
    description: The share of revenue left after ad spend fell by more than 2 points in a week; check bids and budgets.
    runbook: https://wiki.example.com/runbooks/ad-margin
    series: { kpi: ad_margin, grain: week }
    condition: { kind: change, op: drop, by: absolute, threshold: 0.02 }
    severity: critical
    partialData: true
    channels: [slack, mail]
  - name: clicks-unusual
    title: Ad clicks unusual
    series: { kpi: clicks, grain: day, dimension: connector }
    condition: { kind: anomaly, lookback: 4, minHistory: 4 }
    partialData: true
    channels: [slack]
${extra}`);
}

/** Margin after ads: 2.69% in the week of 03-09 (spend 973.10 of 1,000), −3.06% in the week of 03-16 (spend 1,030.60). */
const REVENUE = [
  ...days({ connector: 'shop', campaign: '', channel: '', currency: 'EUR' }, { '2026-03-09': { revenue: 1000 }, '2026-03-16': { revenue: 1000 } }),
  ...days({ connector: 'gads', campaign: 'brand', currency: 'EUR' }, { '2026-03-10': { spend: 973.1 }, '2026-03-17': { spend: 1030.6 } }),
];

/** Mondays: Google Ads' clicks jump from about 100 to 300 on 03-23; Meta's stay at 50. */
const CLICKS = [
  ...days({ connector: 'gads' }, { '2026-02-23': { clicks: 100 }, '2026-03-02': { clicks: 104 }, '2026-03-09': { clicks: 96 }, '2026-03-16': { clicks: 100 }, '2026-03-23': { clicks: 300 } }),
  ...days({ connector: 'meta', campaign: 'retarget', channel: 'paid_social' }, { '2026-02-23': { clicks: 50 }, '2026-03-02': { clicks: 50 }, '2026-03-09': { clicks: 50 }, '2026-03-16': { clicks: 50 }, '2026-03-23': { clicks: 50 } }),
];

describe.each(warehouseKinds)('alert messages in words on %s', (kind) => {
  const wh = useWarehouse(kind, clearAlerts);
  let slack: HttpServer;
  let smtp: SmtpCatcher;
  beforeAll(async () => {
    slack = await startHttp((res) => reply(res, 200, 'ok'));
    smtp = await startSmtp();
  });
  afterAll(async () => {
    await slack?.close();
    await smtp?.close();
  });
  beforeEach(() => {
    slack.requests.length = 0;
    smtp.messages.length = 0;
  });

  const posted = () => slack.requests.map((r) => JSON.parse(r.body) as SlackMessage);

  it('a percent KPI falling 5.75 points: pp change, description and runbook in Slack and in the email; an anomaly in words with its usual range', async () => {
    await upsertFacts(wh.db, [...REVENUE, ...CLICKS]);
    const config = configOf(`${slack.base}/services/T1/B1/words`, smtp.port);
    const mail = smtp.next();
    await evaluateAlerts(wh.db, config, { now: NOW });
    expect(await deliverOutbox(wh.db, config, { now: NOW, owner: 't', log: quietLogger })).toMatchObject({ sent: 3, messages: 3, failed: 0 });
    // (1000 − 973.10) / 1000 = 2.69% and (1000 − 1030.60) / 1000 = −3.06%: −5.75 pp, where a relative change would say −213.8%.
    const margin = 'Margin after ads -3.1% in the week of 2026-03-16, −5.75 pp against 2.7% the week before (limit −2.00 pp)';
    const started = 'Started 2026-03-24 07:00 GMT+1 (Europe/Berlin)';
    // Google Ads' Mondays 100, 104, 96, 100: median 100, MAD 2, band 100 ± 3 × 1.4826 × 2 = 91–109.
    const unusual = 'Clicks (Google Ads) 300 on 2026-03-23 is above its usual range 91–109 (median 100 of the same weekday over 4 weeks)';
    expect(posted()).toEqual([
      {
        text: `[FIRING] Margin after ads falling (critical): ${margin}`,
        blocks: [{ type: 'header', text: { type: 'plain_text', text: '[FIRING] Margin after ads falling (critical)' } }],
        attachments: [
          {
            color: '#d92d20',
            blocks: [
              { type: 'section', text: { type: 'mrkdwn', text: margin } },
              { type: 'section', text: { type: 'mrkdwn', text: '_The share of revenue left after ad spend fell by more than 2 points in a week; check bids and budgets._' } },
              { type: 'context', elements: [{ type: 'mrkdwn', text: 'kind: *change*  ·  severity: *critical*  ·  alertname: *margin-falling*' }] },
              {
                type: 'section',
                text: { type: 'mrkdwn', text: '*Margin after ads*\nReport: `kpi report --grain week --as-of 2026-03-23`' },
                fields: [
                  { type: 'mrkdwn', text: '*Value*\n-3.1%' },
                  { type: 'mrkdwn', text: '*Previous*\n2.7%' },
                  { type: 'mrkdwn', text: '*Change*\n−5.75 pp' },
                ],
              },
              { type: 'context', elements: [{ type: 'mrkdwn', text: `${started}  ·  severity *critical*` }] },
              { type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open runbook' }, url: 'https://wiki.example.com/runbooks/ad-margin', action_id: 'open_runbook' }] },
            ],
          },
        ],
      },
      {
        text: `[FIRING] Ad clicks unusual (warning): ${unusual}`,
        blocks: [{ type: 'header', text: { type: 'plain_text', text: '[FIRING] Ad clicks unusual (warning)' } }],
        attachments: [
          {
            color: '#f79009',
            blocks: [
              { type: 'section', text: { type: 'mrkdwn', text: unusual } },
              { type: 'context', elements: [{ type: 'mrkdwn', text: 'kind: *anomaly*  ·  severity: *warning*  ·  alertname: *clicks-unusual*  ·  connector: *gads*' }] },
              {
                type: 'section',
                text: { type: 'mrkdwn', text: '*Clicks, Google Ads*\nReport: `kpi report --grain day --as-of 2026-03-24`' },
                fields: [
                  { type: 'mrkdwn', text: '*Value*\n300' },
                  { type: 'mrkdwn', text: '*Usual range*\n91–109 (median 100)' },
                  { type: 'mrkdwn', text: '*Change against the median*\n+200.0%' },
                ],
              },
              { type: 'context', elements: [{ type: 'mrkdwn', text: `${started}  ·  severity *warning*` }] },
            ],
          },
        ],
      },
    ]);

    const m = await mail;
    expect(m.subject).toBe('[FIRING] Margin after ads falling (critical)');
    expect(m.text).toBe(
      [
        '[FIRING] Margin after ads falling (critical)',
        '',
        margin,
        '',
        'The share of revenue left after ad spend fell by more than 2 points in a week; check bids and budgets.',
        '',
        '- Margin after ads, value -3.1%, previous 2.7%, change −5.75 pp',
        '  Report: kpi report --grain week --as-of 2026-03-23',
        '',
        'Labels: kind=change, severity=critical, alertname=margin-falling',
        'Started: 2026-03-24 07:00 GMT+1 (Europe/Berlin)',
        'Runbook: https://wiki.example.com/runbooks/ad-margin',
        '',
      ].join('\n'),
    );
    const html = String(m.html);
    const cell = 'padding:6px 10px;border-bottom:1px solid #d0d7de;text-align:left';
    expect(html).toContain(
      `<p style="margin:0 0 14px;font-size:15px">${margin}</p>\n<p style="margin:0 0 14px;font-size:14px;color:#57606a"><i>The share of revenue left after ad spend fell by more than 2 points in a week; check bids and budgets.</i></p>`,
    );
    expect(html).toContain(
      `<tr><th style="${cell};background:#f6f8fa">Series</th><th style="${cell};background:#f6f8fa">Value</th><th style="${cell};background:#f6f8fa">Previous</th><th style="${cell};background:#f6f8fa">Change</th></tr>\n` +
        `<tr><td style="${cell}">Margin after ads<br><span style="font-size:12px;color:#57606a">Report: <code>kpi report --grain week --as-of 2026-03-23</code></span></td><td style="${cell}">-3.1%</td><td style="${cell}">2.7%</td><td style="${cell}">−5.75 pp</td></tr>`,
    );
    expect(html).toContain('<p style="margin:16px 0 0"><a href="https://wiki.example.com/runbooks/ad-margin" style="color:#0969da">Open runbook</a></p>');
  });

  it('links each series to its period in the console when server.publicUrl says where people reach it', async () => {
    await upsertFacts(wh.db, CLICKS);
    const config = configOf(`${slack.base}/services/T1/B1/public`, smtp.port, 'server: { publicUrl: "https://kpi.example.com/" }\n');
    await evaluateAlerts(wh.db, config, { now: NOW });
    await deliverOutbox(wh.db, config, { now: NOW, owner: 't', log: quietLogger });
    const [message] = posted();
    expect(message!.attachments![0]!.blocks[2]).toEqual({
      type: 'section',
      text: { type: 'mrkdwn', text: '*Clicks, Google Ads*\n<https://kpi.example.com/console/kpi/clicks?grain=day&period=last&as_of=2026-03-24&connector=gads|Open the report>' },
      fields: [
        { type: 'mrkdwn', text: '*Value*\n300' },
        { type: 'mrkdwn', text: '*Usual range*\n91–109 (median 100)' },
        { type: 'mrkdwn', text: '*Change against the median*\n+200.0%' },
      ],
    });
    // Its dashboard button opens the console there, as alerting.link names no other.
    expect(JSON.stringify(message)).toContain('"url":"https://kpi.example.com/console/"');
  });

  it("the digest: colours by the KPI's direction past the significance threshold, sparklines alike, and an alias shown once", async () => {
    await upsertFacts(wh.db, DIGEST_FACTS);
    const config = digestConfig(`${slack.base}/services/T1/B1/digest`, smtp.port);
    const mail = smtp.next();
    await sendDigest(wh.db, config, { now: NOW, log: quietLogger });
    // CAC 1000 / 10 = 100 → 900 / 12 = 75: down, which is good for CAC. CTR 2.00% → 2.15%: under 1 pp, no colour.
    // cac is spend / new_customers, as Blended CAC is: shown once, under the config's label.
    expect(posted()).toEqual([
      {
        text: 'Weekly marketing digest: Week 12, 16–22 Mar 2026',
        blocks: [
          { type: 'header', text: { type: 'plain_text', text: 'Weekly marketing digest' } },
          { type: 'context', elements: [{ type: 'mrkdwn', text: 'Week 12, 16–22 Mar 2026  ·  times in UTC' }] },
          {
            type: 'section',
            fields: [
              { type: 'mrkdwn', text: '*Blended CAC*\nEUR 75.00  ▼ −25.0% :large_green_circle:\n`█▁`' },
              { type: 'mrkdwn', text: '*Click-through rate*\n2.2%  ▲ +0.15 pp\n`▁█`' },
              { type: 'mrkdwn', text: '*Spend*\nEUR 900.00  ▼ −10.0% :large_green_circle:\n`█▁`' },
            ],
          },
        ],
      },
    ]);
    const m = await mail;
    expect(m.text).toBe(
      [
        'Weekly marketing digest',
        'Week 12, 16–22 Mar 2026',
        '',
        'KPIs',
        '- Blended CAC: EUR 75.00 (−25.0%; previous EUR 100.00)',
        '- Click-through rate: 2.2% (+0.15 pp; previous 2.0%)',
        '- Spend: EUR 900.00 (−10.0%; previous EUR 1,000.00)',
        '',
      ].join('\n'),
    );
    const html = String(m.html);
    expect(html).toContain('<span style="color:#2eb886">&#9660; −25.0%</span>');
    expect(html).toContain('<span style="color:#6b7280">&#9650; +0.15 pp</span>');
    expect(html).toContain('<span style="color:#2eb886">&#9660; −10.0%</span>');
    expect(html).not.toContain('Customer acquisition cost');
    // The sparklines are drawn in the change's colour: green, grey, green.
    expect(m.attachments.map((a) => lineColour(a.content))).toEqual(['#2eb886', '#6b7280', '#2eb886']);
  });
});

/** The colour of the first drawn pixel of a sparkline PNG. */
function lineColour(png: Buffer): string {
  const { data } = PNG.sync.read(png);
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] === 255) return `#${[data[i]!, data[i + 1]!, data[i + 2]!].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
  }
  return 'none';
}

/** Spend down 10% (good: lower is better), CAC down 25% (good), CTR up 0.15 pp (too small to colour). */
const DIGEST_FACTS = [
  ...days({ connector: 'gads', currency: 'EUR' }, { '2026-03-10': { spend: 1000, clicks: 200, impressions: 10_000 }, '2026-03-17': { spend: 900, clicks: 215, impressions: 10_000 } }),
  ...days({ connector: 'shop', campaign: '', channel: '', currency: 'EUR' }, { '2026-03-10': { new_customers: 10 }, '2026-03-17': { new_customers: 12 } }),
];

function digestConfig(slackUrl: string, smtpPort: number) {
  return configFrom(`
reporting: { timezone: UTC, currency: EUR }
kpis:
  - { name: blended_cac, label: Blended CAC, formula: spend / new_customers, unit: currency, direction: lower }
channels:
  slack: { type: slack, url: "${slackUrl}", minIntervalMs: 0, maxRetries: 0 }
  mail: { type: email, host: 127.0.0.1, port: ${smtpPort}, from: "KPI <kpi@example.com>", to: [cmo@example.com], timeoutMs: 5000 }
digest:
  schedule: "0 8 * * 1"
  channels: [mail, slack]
  title: Weekly marketing digest
  kpis: [blended_cac, cac, ctr, spend]
  periods: 2
`);
}
