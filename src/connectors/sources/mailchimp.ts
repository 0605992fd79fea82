import type { SourceDefinitionInput } from '../declarative/definition.ts';

/**
 * Mailchimp campaign reports (GET /3.0/reports), dated by send time in the connector's zone and
 * keyed by the campaign's id, read in pages of 1000 (the API's largest `count`) up to
 * `total_items`. Reports keep changing for weeks after a send (late opens, bounces), so every
 * campaign sent inside the window is read again and the window's days are replaced whole.
 * The key ends in its datacenter, which names the API host; it is the Basic auth password.
 */
export const mailchimpSource: SourceDefinitionInput = {
  type: 'mailchimp',
  title: 'Mailchimp',
  config: {
    apiKey: {
      kind: 'secret',
      pattern: ['-[a-z]+\\d+$', 'expected a Mailchimp API key ending in its datacenter, e.g. "…-us6"'],
      description: 'Mailchimp API key (a secret, e.g. `${env:MAILCHIMP_API_KEY}`); it ends in its datacenter, e.g. `…-us6`',
    },
    account: { kind: 'string', default: 'mailchimp', description: 'the account the facts are stored under' },
  },
  baseUrl: 'https://{config.apiKey|after:-}.api.mailchimp.com',
  auth: { type: 'basic', username: 'kpi', password: '{config.apiKey}' },
  accounts: { single: 'account' },
  request: { path: '/3.0/reports', query: { since_send_time: '{start_iso}', before_send_time: '{end_iso}' } },
  pagination: { type: 'offset', param: 'offset', sizeParam: 'count', size: 1000, totalPath: 'total_items' },
  window: { chunkDays: 31, lookbackDays: 30, zone: 'config' },
  records: 'reports',
  date: { path: 'send_time', format: 'iso' },
  // Keyed by the campaign's id: a title edited after the send is the same campaign.
  dimensions: { channel: { value: 'email' }, campaign: { path: ['campaign_title', 'settings.title', 'id'] }, campaignId: { path: 'id' } },
  metrics: {
    email_sent: 'emails_sent',
    email_delivered: { path: 'emails_sent', minus: ['bounces.hard_bounces', 'bounces.soft_bounces', 'bounces.syntax_errors'], atLeastZero: true },
    email_opens: 'opens.opens_total',
    email_unique_opens: 'opens.unique_opens',
    email_clicks: 'clicks.clicks_total',
    email_unique_clicks: { path: ['clicks.unique_subscriber_clicks', 'clicks.unique_clicks'] },
    email_bounces: { sum: ['bounces.hard_bounces', 'bounces.soft_bounces', 'bounces.syntax_errors'] },
    email_hard_bounces: 'bounces.hard_bounces',
    email_soft_bounces: 'bounces.soft_bounces',
    email_unsubscribes: 'unsubscribed',
    email_spam_reports: 'abuse_reports',
  },
  // Mailchimp allows 10 simultaneous connections per user.
  concurrency: { default: 4, max: 10 },
};
