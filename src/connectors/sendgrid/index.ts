import { z } from 'zod';
import { registerSecret } from '../../secrets.ts';
import type { Connector, FactValue, OpenContext, SourceReader } from '../shared/connector.ts';
import { splitWindow } from '../shared/dates.ts';
import { createHttpClient, type ResponseInfo } from '../shared/http/index.ts';
import type { SendgridConfig } from './config.ts';

const count = z.number().int().nonnegative();

const metricsSchema = z.object({
  requests: count,
  delivered: count,
  opens: count,
  unique_opens: count,
  clicks: count,
  unique_clicks: count,
  bounces: count,
  spam_reports: count,
  unsubscribes: count,
});

/** One day of GET /v3/stats or /v3/categories/stats. */
const daySchema = z.object({
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  stats: z.array(z.object({ name: z.string().optional(), type: z.string().optional(), metrics: metricsSchema })),
});
type Day = z.infer<typeof daySchema>;

const CHUNK_DAYS = 31;

/** SendGrid answers 429 with X-RateLimit-Reset (epoch seconds) rather than Retry-After. */
function classifySendgrid(res: ResponseInfo) {
  if (res.status !== 429) return undefined;
  const reset = Number(res.headers['x-ratelimit-reset']);
  const waitMs = Number.isFinite(reset) && reset > 0 ? Math.max(0, reset * 1000 - Date.now()) : undefined;
  return waitMs === undefined ? ('retry' as const) : { verdict: 'retry' as const, retryAfterMs: waitMs };
}

function openSendgrid(config: SendgridConfig, ctx: OpenContext): SourceReader<Day> {
  registerSecret(config.apiKey);
  const http = createHttpClient({
    name: config.name,
    baseURL: config.baseUrl ?? 'https://api.sendgrid.com',
    auth: { headers: () => ({ Authorization: `Bearer ${config.apiKey}` }) },
    concurrency: config.concurrency ?? 2,
    classify: classifySendgrid,
    logger: ctx.log,
    signal: ctx.signal,
  });

  return {
    recordSchema: daySchema,
    async describe() {
      // Stats are aggregated by UTC day.
      return { currency: null, timeZone: 'UTC' };
    },
    async *read(_stream, window) {
      for (const chunk of splitWindow(window, CHUNK_DAYS)) {
        const query = { start_date: chunk.from, end_date: chunk.to, aggregated_by: 'day' };
        const res = config.categories?.length
          ? await http.get<unknown>('/v3/categories/stats', { query: { ...query, categories: config.categories } })
          : await http.get<unknown>('/v3/stats', { query });
        const days = Array.isArray(res.data) ? res.data : [];
        days.sort((a, b) => String((a as { date?: unknown }).date).localeCompare(String((b as { date?: unknown }).date)));
        yield days;
      }
    },
    normalize(day: Day): FactValue[] {
      return day.stats.flatMap((s) => {
        const campaign = s.type === 'category' ? (s.name ?? '') : '';
        const m = s.metrics;
        const values: Array<[string, number]> = [
          ['email_sent', m.requests],
          ['email_delivered', m.delivered],
          ['email_opens', m.opens],
          ['email_unique_opens', m.unique_opens],
          ['email_clicks', m.clicks],
          ['email_unique_clicks', m.unique_clicks],
          ['email_bounces', m.bounces],
          ['email_spam_reports', m.spam_reports],
          ['email_unsubscribes', m.unsubscribes],
        ];
        return values.map(([metric, value]) => ({ date: day.date, campaign, channel: 'email', metric, value, currency: null }));
      });
    },
  };
}

export const sendgridConnector: Connector<SendgridConfig, Day> = {
  type: 'sendgrid',
  defaultLookbackDays: () => 30,
  streams: (config) => [config.account],
  open: openSendgrid,
};
