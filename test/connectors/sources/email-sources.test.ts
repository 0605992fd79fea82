import { afterAll, beforeAll } from 'vitest';
import { DateTime } from 'luxon';
import { parseConfig } from '../../../src/config/index.ts';
import type { ConnectorConfig } from '../../../src/connectors/index.ts';
import { mailchimpSource } from '../../../src/connectors/sources/mailchimp.ts';
import { sendgridSource } from '../../../src/connectors/sources/sendgrid.ts';
import { createDataset, MAILCHIMP_API_KEY, SENDGRID_API_KEY, startMailchimpFake, startSendgridFake, type FakeServer, type MailchimpSettings, type SendgridSettings } from '../../../src/sandbox/index.ts';
import type { MailchimpCampaign, SendgridRow } from '../../../src/sandbox/dataset.ts';
import { addDays } from '../../../src/core/dates.ts';
import { Facts } from '../google-helpers.ts';
import { conformance } from '../conformance.ts';

/** SendGrid and Mailchimp, now definitions, pass the same conformance suite as the new sources. */

const END = '2026-03-31';
const ds = createDataset({ seed: 7, endDate: END, days: 60 });
const FROM = '2026-02-10';
const now = () => new Date(`${END}T20:00:00Z`);
let mailchimp: FakeServer<MailchimpSettings>;
let sendgrid: FakeServer<SendgridSettings>;

beforeAll(async () => {
  mailchimp = await startMailchimpFake(ds);
  sendgrid = await startSendgridFake(ds);
});
afterAll(async () => {
  await mailchimp.close();
  await sendgrid.close();
});

const parse = (yaml: string, env: Record<string, string>): ConnectorConfig => parseConfig(`connectors:\n${yaml}`, 'kpi.yaml', { env }).connectors[0]!;

const sendDay = (c: MailchimpCampaign) => DateTime.fromISO(c.send_time, { setZone: true }).toUTC().toISODate()!;
const campaigns = () => ds.mailchimp.campaigns.filter((c) => sendDay(c) >= FROM && sendDay(c) <= END);

function mailchimpExpected(skip?: (c: MailchimpCampaign) => boolean): Facts {
  const out = new Facts();
  for (const c of campaigns()) {
    if (skip?.(c)) continue;
    const bounces = c.bounces.hard_bounces + c.bounces.soft_bounces + c.bounces.syntax_errors;
    const m: Record<string, number> = {
      email_sent: c.emails_sent, email_delivered: c.emails_sent - bounces, email_opens: c.opens.opens_total, email_unique_opens: c.opens.unique_opens,
      email_clicks: c.clicks.clicks_total, email_unique_clicks: c.clicks.unique_clicks, email_bounces: bounces, email_hard_bounces: c.bounces.hard_bounces,
      email_soft_bounces: c.bounces.soft_bounces, email_unsubscribes: c.unsubscribed, email_spam_reports: c.abuse_reports,
    };
    for (const [metric, value] of Object.entries(m)) out.add('mailchimp', sendDay(c), c.settings.title, 'email', metric, value, null);
  }
  return out;
}

conformance('Mailchimp', {
  definition: mailchimpSource,
  name: 'mc',
  dataset: ds,
  fake: () => mailchimp,
  dataPath: '/3.0/reports',
  config: () => parse(`  - { name: mc, type: mailchimp, apiKey: "\${env:MC_KEY}", baseUrl: "\${var:MC_URL}", startDate: ${FROM} }`, { MC_KEY: MAILCHIMP_API_KEY, MC_URL: mailchimp.url }),
  now,
  expected: mailchimpExpected,
  rows: () => campaigns().length,
  smallPages: { set: () => (mailchimp.settings.maxPageSize = 2), reset: () => (mailchimp.settings.maxPageSize = 1000) },
  restatement: { source: 'mailchimp', date: sendDay(ds.mailchimp.campaigns.filter((c) => sendDay(c) > addDays(END, -20)).at(-1)!), factor: 1.5 },
  rateLimit: { kind: '429', retryAfterSec: 1 },
  // The first report the fake sends: the newest of the first 31-day chunk (reports come newest first).
  typeChange: { reason: /emails_sent.*expected number/, row: () => campaigns().filter((c) => sendDay(c) <= addDays(FROM, 30)).at(-1)! },
  revoked: { error: /credentials were rejected.*HTTP 401: Your API key may be invalid/, secrets: () => [MAILCHIMP_API_KEY] },
});

const CATEGORIES = ['newsletter', 'transactional'];
const NAMES: Record<string, string> = {
  requests: 'email_sent', delivered: 'email_delivered', opens: 'email_opens', unique_opens: 'email_unique_opens', clicks: 'email_clicks',
  unique_clicks: 'email_unique_clicks', bounces: 'email_bounces', spam_reports: 'email_spam_reports', unsubscribes: 'email_unsubscribes',
};
const days = () => [...ds.sendgrid.range(FROM, END)];

/** A day is one record (its stats fan out by category): skipping any of its rows skips the day. */
function sendgridExpected(skip?: (r: SendgridRow) => boolean): Facts {
  const out = new Facts();
  const skipped = new Set(days().filter((r) => skip?.(r)).map((r) => r.date));
  for (const r of days()) {
    if (skipped.has(r.date)) continue;
    for (const [source, metric] of Object.entries(NAMES)) out.add('sendgrid', r.date, r.category, 'email', metric, r.metrics[source as keyof typeof r.metrics], null);
  }
  return out;
}

conformance('SendGrid', {
  definition: sendgridSource,
  name: 'sg',
  dataset: ds,
  fake: () => sendgrid,
  dataPath: '/v3/categories/stats',
  config: () =>
    parse(`  - { name: sg, type: sendgrid, apiKey: "\${env:SG_KEY}", baseUrl: "\${var:SG_URL}", startDate: ${FROM}, categories: [${CATEGORIES.join(', ')}] }`, { SG_KEY: SENDGRID_API_KEY, SG_URL: sendgrid.url }),
  now,
  expected: sendgridExpected,
  rows: () => new Set(days().map((r) => r.date)).size,
  // One answer per 31-day chunk: SendGrid's stats are not paged by the connector.
  restatement: { source: 'sendgrid', date: '2026-03-25', factor: 2 },
  // X-RateLimit-Reset a minute ahead (the fake's default), waited out by the definition's rateLimit.
  rateLimit: { kind: '429' },
  typeChange: { reason: /metrics\.delivered.*expected number/, row: () => days()[0]! },
  revoked: { error: /credentials were rejected.*HTTP 401/, secrets: () => [SENDGRID_API_KEY] },
});
