import type { SourceDefinitionInput } from '../declarative/definition.ts';

/** One Query Metric Aggregates request for a metric: per day of the account, by message, counts and unique profiles. */
const aggregate = (metric: string, setting: string) => ({
  when: setting,
  method: 'POST' as const,
  path: '/api/metric-aggregates/',
  headers: { 'Content-Type': 'application/vnd.api+json' },
  body: {
    data: {
      type: 'metric-aggregate',
      attributes: {
        metric_id: `{config.${setting}}`,
        measurements: ['count', 'unique'],
        interval: 'day',
        by: ['$message', 'Campaign Name'],
        filter: ['greater-or-equal(datetime,{start_iso})', 'less-than(datetime,{end_iso})'],
        timezone: '{zone}',
        page_size: 500,
      },
    },
  },
  fields: { metric },
});

const metricId = (name: string) => ({ kind: 'string' as const, optional: true, description: `the id of the account's "${name}" metric (in Klaviyo: *Analytics > Metrics*, the id in the metric's URL); unset, it is not read` });

/**
 * Klaviyo's email events by day of the account (Query Metric Aggregates, a private API key):
 * one request per email metric, each answer in columns (the days beside each message's counts),
 * zipped into one record per message and day. Klaviyo's metric ids are the account's own, so
 * the connector is given the id of each metric it reads; a metric left out is not read. Messages
 * (a campaign's or a flow's) are keyed by their $message id and named by their Campaign Name.
 * Days are the account's time zone (GET /api/accounts/).
 */
export const klaviyoSource = {
  type: 'klaviyo',
  title: 'Klaviyo',
  config: {
    apiKey: { kind: 'secret', description: 'a private API key with the `metrics:read` and `accounts:read` scopes (a secret, e.g. `${env:KLAVIYO_API_KEY}`)' },
    account: { kind: 'string', default: 'klaviyo', description: 'the account the facts are stored under' },
    revision: { kind: 'string', default: '2026-10-15', pattern: ['^\\d{4}-\\d{2}-\\d{2}$', 'expected an API revision date, e.g. 2026-10-15'], description: 'the `revision` header (the API version, YYYY-MM-DD); Klaviyo supports each for two years' },
    receivedMetricId: metricId('Received Email'),
    openedMetricId: metricId('Opened Email'),
    clickedMetricId: metricId('Clicked Email'),
    bouncedMetricId: metricId('Bounced Email'),
    unsubscribedMetricId: metricId('Unsubscribed from Email Marketing'),
    spamMetricId: metricId('Marked Email as Spam'),
  },
  baseUrl: 'https://a.klaviyo.com',
  auth: { type: 'header', name: 'Authorization', value: 'Klaviyo-API-Key {config.apiKey}' },
  headers: { revision: '{config.revision}', Accept: 'application/vnd.api+json' },
  accounts: { single: 'account' },
  describe: { request: { path: '/api/accounts/' }, currencyPath: 'data.0.attributes.preferred_currency', timeZonePath: 'data.0.attributes.timezone' },
  requests: 'all',
  request: [
    aggregate('received', 'receivedMetricId'),
    aggregate('opened', 'openedMetricId'),
    aggregate('clicked', 'clickedMetricId'),
    aggregate('bounced', 'bouncedMetricId'),
    aggregate('unsubscribed', 'unsubscribedMetricId'),
    aggregate('spam', 'spamMetricId'),
  ],
  // The groups (messages) page through links.next; the next page is the same query posted there.
  pagination: { type: 'next_url', path: 'links.next' },
  // A query may span a year; events (late bounces) keep arriving for some days.
  window: { chunkDays: 31, lookbackDays: 7, zone: 'config' },
  records: 'data.attributes.data',
  zip: { day: '_answer.data.attributes.dates', count: 'measurements.count', unique: 'measurements.unique' },
  date: { path: 'day', format: 'iso' },
  dimensions: { channel: { value: 'email' }, campaignId: { path: '_parent.dimensions.0' }, campaign: { path: ['_parent.dimensions.1', '_parent.dimensions.0'] } },
  metrics: {
    email_delivered: { path: 'count', where: { '_request.metric': 'received' } },
    email_opens: { path: 'count', where: { '_request.metric': 'opened' } },
    email_unique_opens: { path: 'unique', where: { '_request.metric': 'opened' } },
    email_clicks: { path: 'count', where: { '_request.metric': 'clicked' } },
    email_unique_clicks: { path: 'unique', where: { '_request.metric': 'clicked' } },
    email_bounces: { path: 'count', where: { '_request.metric': 'bounced' } },
    email_unsubscribes: { path: 'count', where: { '_request.metric': 'unsubscribed' } },
    email_spam_reports: { path: 'count', where: { '_request.metric': 'spam' } },
  },
  check: { request: { path: '/api/accounts/' }, records: 'data', id: 'id', name: 'attributes.contact_information.organization_name', currency: 'attributes.preferred_currency', timeZone: 'attributes.timezone', kind: 'account', matchAccounts: false },
  // Query Metric Aggregates allows 3 requests a second and 60 a minute per account.
  concurrency: { default: 1, max: 3 },
} satisfies SourceDefinitionInput;
