import { DateTime } from 'luxon';
import { z } from 'zod';
import { registerSecret } from '../../secrets.ts';
import type { Connector, FactValue, OpenContext, SourceReader } from '../shared/connector.ts';
import { addDays } from '../shared/dates.ts';
import { createHttpClient } from '../shared/http/index.ts';
import type { MailchimpConfig } from './config.ts';

const count = z.number().int().nonnegative();

/** The fields of GET /3.0/reports that we use; anything else in the report is ignored. */
const reportSchema = z.object({
  id: z.string(),
  campaign_title: z.string().optional(),
  settings: z.object({ title: z.string().optional() }).optional(),
  send_time: z.string().refine((s) => DateTime.fromISO(s).isValid, 'expected an ISO timestamp'),
  emails_sent: count,
  abuse_reports: count.default(0),
  unsubscribed: count.default(0),
  bounces: z.object({ hard_bounces: count, soft_bounces: count, syntax_errors: count.default(0) }),
  opens: z.object({ opens_total: count, unique_opens: count }),
  clicks: z.object({ clicks_total: count, unique_clicks: count, unique_subscriber_clicks: count.optional() }),
});
type Report = z.infer<typeof reportSchema>;

const PAGE_SIZE = 100;
/** Mailchimp allows 10 simultaneous connections per user. */
const MAX_CONNECTIONS = 10;

export function datacenterOf(apiKey: string): string {
  return apiKey.slice(apiKey.lastIndexOf('-') + 1);
}

function sendDate(report: { send_time: string }, timeZone: string): string {
  return DateTime.fromISO(report.send_time, { setZone: true }).setZone(timeZone).toISODate()!;
}

function openMailchimp(config: MailchimpConfig, ctx: OpenContext): SourceReader<Report> {
  registerSecret(config.apiKey);
  const auth = `Basic ${Buffer.from(`kpi:${config.apiKey}`).toString('base64')}`;
  registerSecret(auth.slice(6));
  const http = createHttpClient({
    name: config.name,
    baseURL: config.baseUrl ?? `https://${datacenterOf(config.apiKey)}.api.mailchimp.com`,
    auth: { headers: () => ({ Authorization: auth }) },
    concurrency: Math.min(config.concurrency ?? 4, MAX_CONNECTIONS),
    logger: ctx.log,
    signal: ctx.signal,
  });

  return {
    recordSchema: reportSchema,
    async describe() {
      return { currency: null, timeZone: config.timezone };
    },
    /**
     * Reports keep changing for weeks after a send (late opens, bounces), so every campaign
     * sent inside the window is read again; the window's days are then replaced whole.
     */
    async *read(_stream, window) {
      const since = DateTime.fromISO(window.from, { zone: config.timezone }).toUTC().toISO({ suppressMilliseconds: true })!;
      const before = DateTime.fromISO(addDays(window.to, 1), { zone: config.timezone }).toUTC().toISO({ suppressMilliseconds: true })!;
      const reports: unknown[] = [];
      for (let offset = 0; ; offset += PAGE_SIZE) {
        const res = await http.get<{ reports?: unknown[]; total_items?: number }>('/3.0/reports', {
          query: { count: PAGE_SIZE, offset, since_send_time: since, before_send_time: before },
        });
        const page = Array.isArray(res.data.reports) ? res.data.reports : [];
        reports.push(...page);
        if (page.length < PAGE_SIZE || offset + PAGE_SIZE >= (res.data.total_items ?? 0)) break;
      }
      // Reports come newest first; the framework wants days in order. One window's campaigns are few.
      const dated = reports.map((r) => {
        const t = (r as { send_time?: unknown }).send_time;
        const d = typeof t === 'string' && DateTime.fromISO(t).isValid ? sendDate({ send_time: t }, config.timezone) : '';
        return { d, r };
      });
      dated.sort((a, b) => (a.d < b.d ? -1 : a.d > b.d ? 1 : 0));
      yield dated.map((x) => x.r);
    },
    normalize(r: Report): FactValue[] {
      const date = sendDate(r, config.timezone);
      const campaign = r.campaign_title ?? r.settings?.title ?? r.id;
      const bounces = r.bounces.hard_bounces + r.bounces.soft_bounces + r.bounces.syntax_errors;
      const values: Array<[string, number]> = [
        ['email_sent', r.emails_sent],
        ['email_delivered', Math.max(0, r.emails_sent - bounces)],
        ['email_opens', r.opens.opens_total],
        ['email_unique_opens', r.opens.unique_opens],
        ['email_clicks', r.clicks.clicks_total],
        ['email_unique_clicks', r.clicks.unique_subscriber_clicks ?? r.clicks.unique_clicks],
        ['email_bounces', bounces],
        ['email_hard_bounces', r.bounces.hard_bounces],
        ['email_soft_bounces', r.bounces.soft_bounces],
        ['email_unsubscribes', r.unsubscribed],
        ['email_spam_reports', r.abuse_reports],
      ];
      return values.map(([metric, value]) => ({ date, campaign, channel: 'email', metric, value, currency: null }));
    },
  };
}

export const mailchimpConnector: Connector<MailchimpConfig, Report> = {
  type: 'mailchimp',
  defaultLookbackDays: () => 30,
  streams: (config) => [config.account],
  open: openMailchimp,
};
