import type { SourceDefinitionInput } from '../declarative/definition.ts';

/**
 * SendGrid's email statistics by UTC day (GET /v3/stats, or /v3/categories/stats per category,
 * where the category becomes the campaign). One answer per day holds a `stats` list, one item
 * per category: each day fans out into its items. A 429 says when to come back in
 * X-RateLimit-Reset (epoch seconds) rather than Retry-After.
 */
export const sendgridSource: SourceDefinitionInput = {
  type: 'sendgrid',
  title: 'SendGrid',
  config: {
    apiKey: { kind: 'secret', description: 'SendGrid API key with stats access (a secret, e.g. `${env:SENDGRID_API_KEY}`)' },
    account: { kind: 'string', default: 'sendgrid', description: 'the account the facts are stored under' },
    categories: { kind: 'list', optional: true, description: 'when set, stats are read per category and the category becomes the campaign' },
  },
  baseUrl: 'https://api.sendgrid.com',
  auth: { type: 'bearer', token: '{config.apiKey}' },
  accounts: { single: 'account' },
  request: [
    { when: 'categories', path: '/v3/categories/stats', query: { start_date: '{from}', end_date: '{to}', aggregated_by: 'day', categories: '{config.categories}' } },
    { path: '/v3/stats', query: { start_date: '{from}', end_date: '{to}', aggregated_by: 'day' } },
  ],
  window: { chunkDays: 31, lookbackDays: 30, zone: 'UTC' },
  records: '',
  explode: 'stats',
  date: { path: 'date', format: 'iso' },
  // A category has no id: its name is its identity, so it stays the key. Global stats have none.
  dimensions: { channel: { value: 'email' }, campaign: { path: 'name' } },
  metrics: {
    email_sent: 'metrics.requests',
    email_delivered: 'metrics.delivered',
    email_opens: 'metrics.opens',
    email_unique_opens: 'metrics.unique_opens',
    email_clicks: 'metrics.clicks',
    email_unique_clicks: 'metrics.unique_clicks',
    email_bounces: 'metrics.bounces',
    email_spam_reports: 'metrics.spam_reports',
    email_unsubscribes: 'metrics.unsubscribes',
  },
  rateLimit: { resetHeader: 'X-RateLimit-Reset', resetIs: 'epoch_seconds' },
  concurrency: { default: 2, max: 50 },
};
