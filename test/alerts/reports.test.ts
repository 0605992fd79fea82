import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { retryDigests, sendDigest } from '../../src/alerts/index.ts';
import { SLACK_BOT_TOKEN, startSlackApiFake, type SlackApiFake } from '../../src/sandbox/slack-api.ts';
import type { Warehouse } from '../../src/warehouse/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { testWarehouse } from '../helpers/warehouse.ts';
import { quietLogger, startSmtp, type SmtpCatcher } from '../notify/helpers.ts';
import { at, clearAlerts, configFrom, days } from './helpers.ts';

/**
 * Four Mondays of 10,000 impressions with 100, 200, 300 and 400 clicks, and two whole days at
 * the end: Sun 29 March (120 clicks, 2,000 impressions, 20 EUR) and Mon 30 March (150 clicks,
 * 3,000 impressions, 30 EUR).
 */
function facts() {
  return days(
    { currency: 'EUR' },
    {
      '2026-03-02': { clicks: 100, impressions: 10_000 },
      '2026-03-09': { clicks: 200, impressions: 10_000 },
      '2026-03-16': { clicks: 300, impressions: 10_000 },
      '2026-03-23': { clicks: 400, impressions: 10_000 },
      '2026-03-29': { clicks: 120, impressions: 2_000, spend: 20 },
      '2026-03-30': { clicks: 150, impressions: 3_000, spend: 30 },
    },
  );
}

const CHANNEL = 'C0EXEC0001';

function config(smtpPort: number, slack: SlackApiFake, extra = '') {
  return configFrom(
    `
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
  exec_slack: { type: slack_bot, token: "\${env:SLACK_BOT_TOKEN}", channel: ${CHANNEL}, baseUrl: "${slack.apiUrl}", minIntervalMs: 0 }
reports:
  - name: ops_daily
    title: Ops daily
    grain: day
    northStar: false
    kpis: [clicks, spend]
    schedule: "0 7 * * *"
    channels: [ops_mail]
    periods: 3
  - name: exec_weekly
    title: Exec weekly
    kpis: [ctr]
    schedule: "0 8 * * 1"
    timezone: America/New_York
    channels: [exec_slack]
    periods: 4
${extra}`,
    { SLACK_BOT_TOKEN },
  );
}

describe('several scheduled reports', () => {
  let wh: Warehouse;
  let smtp: SmtpCatcher;
  let slack: SlackApiFake;
  beforeAll(async () => {
    wh = await testWarehouse('postgres');
    smtp = await startSmtp();
    slack = await startSlackApiFake({ settings: { channels: [CHANNEL] } });
  });
  afterAll(async () => {
    await Promise.all([smtp.close(), slack.close()]);
    await wh.close();
  });
  beforeEach(async () => {
    await clearAlerts(wh.db);
    smtp.messages.length = 0;
    slack.messages.length = 0;
    await upsertFacts(wh.db, facts());
  });

  it('each goes to its own channels with its own KPIs, grain and period, once per period however often its schedule fires', async () => {
    const cfg = config(smtp.port, slack);
    // 07:00 in Berlin on Tue 31 March: the ops report covers Monday the 30th.
    const opsAt = at('2026-03-31T05:00:00Z');
    expect(await sendDigest(wh.db, cfg, { report: 'ops_daily', now: opsAt, log: quietLogger })).toMatchObject({ report: 'ops_daily', sent: ['ops_mail'], skipped: [] });
    expect(await sendDigest(wh.db, cfg, { report: 'ops_daily', now: at('2026-03-31T05:05:00Z'), log: quietLogger })).toMatchObject({ sent: [], skipped: ['ops_mail'] });
    // 08:00 in New York on Mon 30 March: the exec report covers the week of the 23rd.
    const execAt = at('2026-03-30T12:00:00Z');
    expect(await sendDigest(wh.db, cfg, { report: 'exec_weekly', now: execAt, log: quietLogger })).toMatchObject({ report: 'exec_weekly', sent: ['exec_slack'], skipped: [] });
    expect(await sendDigest(wh.db, cfg, { report: 'exec_weekly', now: at('2026-03-30T12:05:00Z'), log: quietLogger })).toMatchObject({ sent: [], skipped: ['exec_slack'] });
    // Nothing is due for a retry: both counted as sent.
    expect(await retryDigests(wh.db, cfg, { now: at('2026-04-01T00:00:00Z'), log: quietLogger })).toEqual([]);

    expect(await wh.db.selectFrom('digest_sends').select(['report', 'grain', 'period_start', 'channel', 'status', 'attempts']).orderBy('report').execute()).toEqual([
      { report: 'exec_weekly', grain: 'week', period_start: '2026-03-23', channel: 'exec_slack', status: 'sent', attempts: 1 },
      { report: 'ops_daily', grain: 'day', period_start: '2026-03-30', channel: 'ops_mail', status: 'sent', attempts: 1 },
    ]);

    // The ops mail: Monday's clicks and spend against Sunday's, no North Star; Saturday had no data.
    expect(smtp.messages).toHaveLength(1);
    const mail = smtp.messages[0]!;
    expect(mail.subject).toBe('Ops daily — Monday 30 March 2026');
    expect(mail.to).toMatchObject({ text: 'ops@example.com' });
    expect(mail.text).toBe(
      [
        'Ops daily',
        'Monday 30 March 2026',
        '',
        'KPIs',
        '- Clicks: 150 (+25.0%; previous 120)',
        '- Spend: EUR 30.00 (+50.0%; previous EUR 20.00)',
        '',
      ].join('\n'),
    );
    const pngs = mail.attachments.filter((a) => a.contentType === 'image/png').map((a) => a.filename);
    expect(pngs).toEqual(['clicks.png', 'spend.png']);

    // The exec message: the North Star and CTR for the week, with its two images, in its channel.
    // Week of the 23rd: 400 + 120 clicks over 12,000 impressions; the week before 300 over 10,000.
    // Sparklines, eight levels over each series' range: clicks 100, 200, 300, 520 and CTR 1%, 2%, 3%, 4.33%.
    expect(slack.messages).toHaveLength(1);
    const message = slack.messages[0]!;
    expect(message).toMatchObject({ method: 'files.completeUploadExternal', channel: CHANNEL });
    expect(message.files.map((f) => [f.filename, f.title, f.mimetype])).toEqual([
      ['clicks.png', 'Clicks trend', 'image/png'],
      ['ctr.png', 'Click-through rate trend', 'image/png'],
    ]);
    expect(message.blocks).toEqual([
      { type: 'header', text: { type: 'plain_text', text: 'Exec weekly' } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: 'Week 13, 23–29 Mar 2026  ·  times in America/New_York' }] },
      { type: 'section', text: { type: 'mrkdwn', text: ':star: North Star\n*Clicks*\n520  ▲ +73.3% :large_green_circle:\n`▁▃▄█`' } },
      { type: 'section', fields: [{ type: 'mrkdwn', text: '*Click-through rate*\n4.3%  ▲ +1.33 pp :large_green_circle:\n`▁▃▅█`' }] },
    ]);
  });

  it('the old digest section still works beside them: the report named digest, its rows apart from another weekly report to the same channel', async () => {
    const cfg = config(
      smtp.port,
      slack,
      `  - name: team_weekly
    title: Team weekly
    kpis: [spend]
    northStar: false
    schedule: "0 9 * * 1"
    channels: [ops_mail]
digest:
  schedule: "0 8 * * 1"
  timezone: Europe/Berlin
  channels: [ops_mail]
  kpis: [ctr]
`,
    );
    expect(cfg.reports.map((r) => [r.name, r.grain, r.timezone, r.schedule])).toEqual([
      ['ops_daily', 'day', 'Europe/Berlin', '0 7 * * *'],
      ['exec_weekly', 'week', 'America/New_York', '0 8 * * 1'],
      ['team_weekly', 'week', 'Europe/Berlin', '0 9 * * 1'],
      ['digest', 'week', 'Europe/Berlin', '0 8 * * 1'],
    ]);
    const now = at('2026-03-30T07:00:00Z');
    // Without a name: the digest, as before.
    expect(await sendDigest(wh.db, cfg, { now, log: quietLogger })).toMatchObject({ report: 'digest', sent: ['ops_mail'] });
    expect(await sendDigest(wh.db, cfg, { report: 'team_weekly', now, log: quietLogger })).toMatchObject({ report: 'team_weekly', sent: ['ops_mail'] });
    expect(await sendDigest(wh.db, cfg, { now, log: quietLogger })).toMatchObject({ sent: [], skipped: ['ops_mail'] });
    expect(await sendDigest(wh.db, cfg, { report: 'team_weekly', now, log: quietLogger })).toMatchObject({ sent: [], skipped: ['ops_mail'] });

    expect(smtp.messages.map((m) => m.subject)).toEqual(['Weekly KPI digest — Week 13, 23–29 Mar 2026', 'Team weekly — Week 13, 23–29 Mar 2026']);
    expect(smtp.messages[0]!.text).toBe(
      [
        'Weekly KPI digest',
        'Week 13, 23–29 Mar 2026',
        '',
        'North Star: Clicks: 520 (+73.3%; previous 300)',
        '',
        'KPIs',
        '- Click-through rate: 4.3% (+1.33 pp; previous 3.0%)',
        '',
      ].join('\n'),
    );
    expect(smtp.messages[1]!.text).toBe(['Team weekly', 'Week 13, 23–29 Mar 2026', '', 'KPIs', '- Spend: EUR 20.00 (n/a; previous n/a)', ''].join('\n'));
    expect(await wh.db.selectFrom('digest_sends').select(['report', 'period_start', 'channel', 'status']).orderBy('report').execute()).toEqual([
      { report: 'digest', period_start: '2026-03-23', channel: 'ops_mail', status: 'sent' },
      { report: 'team_weekly', period_start: '2026-03-23', channel: 'ops_mail', status: 'sent' },
    ]);
  });

  it('a report name used twice, or the digest section beside a report named digest, is a located config error', () => {
    const slackStub = { apiUrl: 'https://slack.example/api' } as SlackApiFake;
    expect(() => config(1025, slackStub, '  - { name: ops_daily, schedule: "0 7 * * *", channels: [ops_mail] }\n')).toThrow(
      /kpi\.yaml:\d+:\d+ reports\[2\]\.name: report 'ops_daily' is defined more than once \(also reports\[0\]\)/,
    );
    expect(() => config(1025, slackStub, '  - { name: digest, schedule: "0 7 * * *", channels: [ops_mail] }\ndigest: { schedule: "0 8 * * 1", channels: [ops_mail] }\n')).toThrow(
      /digest: report 'digest' is defined more than once \(also reports\[2\]\) \(the digest section is the report named 'digest'; move it under reports or rename this one\)/,
    );
    expect(() => config(1025, slackStub, '  - { name: x, grain: year, schedule: "0 7 * * *", channels: [nowhere], kpis: [clickz] }\n')).toThrow(/reports\[2\]\.grain/);
    expect(() => config(1025, slackStub, '  - { name: x, schedule: "0 7 * * *", channels: [nowhere], kpis: [clickz] }\n')).toThrow(
      /reports\[2\]\.channels\[0\]: unknown channel 'nowhere'[\s\S]*reports\[2\]\.kpis\[0\]: unknown KPI 'clickz' \(did you mean 'clicks'\?\)/,
    );
  });
});
