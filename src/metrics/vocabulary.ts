/**
 * The one base-metric vocabulary every connector writes, so a KPI such as
 * ctr = clicks / impressions means the same for Google Ads and Meta alike. Email and organic
 * search have their own names, so that their clicks never mix into paid CTR.
 */
export interface BaseMetric {
  name: string;
  description: string;
  /** Money metrics carry a currency and are converted to the reporting currency at KPI time. */
  money?: boolean;
  sources: string;
}

export const baseMetrics: readonly BaseMetric[] = [
  { name: 'impressions', description: 'ad impressions', sources: 'google_ads, meta_ads' },
  { name: 'clicks', description: 'ad clicks', sources: 'google_ads, meta_ads' },
  { name: 'spend', description: 'ad cost', money: true, sources: 'google_ads (costMicros / 1e6), meta_ads' },
  { name: 'conversions', description: 'conversions attributed by the ad platform', sources: 'google_ads, meta_ads (mapped action_types)' },
  { name: 'conversion_value', description: 'value of attributed conversions', money: true, sources: 'google_ads, meta_ads (mapped action_values)' },
  { name: 'reach', description: 'people reached (not additive across days; sum is an upper bound)', sources: 'meta_ads' },
  { name: 'leads', description: 'leads', sources: 'meta_ads (mapped action_types), csv, http_json' },
  { name: 'sessions', description: 'sessions', sources: 'ga4' },
  { name: 'users', description: 'total users (summed per day)', sources: 'ga4' },
  { name: 'new_users', description: 'first-time users', sources: 'ga4' },
  { name: 'engaged_sessions', description: 'engaged sessions', sources: 'ga4' },
  { name: 'page_views', description: 'screen and page views', sources: 'ga4' },
  { name: 'key_events', description: 'GA4 key events (conversions on site)', sources: 'ga4' },
  { name: 'transactions', description: 'purchases on site', sources: 'ga4' },
  { name: 'revenue', description: 'revenue', money: true, sources: 'ga4 (purchaseRevenue), csv, http_json' },
  { name: 'orders', description: 'orders', sources: 'csv, http_json' },
  { name: 'new_customers', description: 'customers who bought for the first time', sources: 'csv, http_json' },
  { name: 'customers', description: 'distinct buying customers', sources: 'csv, http_json' },
  { name: 'qualified_leads', description: 'leads that became opportunities', sources: 'csv, http_json' },
  { name: 'gross_margin', description: 'revenue minus cost of goods', money: true, sources: 'csv, http_json' },
  { name: 'search_clicks', description: 'organic search clicks', sources: 'search_console' },
  { name: 'search_impressions', description: 'organic search impressions', sources: 'search_console' },
  { name: 'search_position_sum', description: 'position × impressions, so average position = sum / impressions', sources: 'search_console' },
  { name: 'email_sent', description: 'emails sent (SendGrid: requests)', sources: 'mailchimp, sendgrid' },
  { name: 'email_delivered', description: 'emails delivered (Mailchimp: sent - bounces)', sources: 'mailchimp, sendgrid' },
  { name: 'email_opens', description: 'opens', sources: 'mailchimp, sendgrid' },
  { name: 'email_unique_opens', description: 'unique opens', sources: 'mailchimp, sendgrid' },
  { name: 'email_clicks', description: 'clicks in emails', sources: 'mailchimp, sendgrid' },
  { name: 'email_unique_clicks', description: 'unique clicks in emails', sources: 'mailchimp, sendgrid' },
  { name: 'email_bounces', description: 'bounces (hard + soft)', sources: 'mailchimp, sendgrid' },
  { name: 'email_hard_bounces', description: 'hard bounces', sources: 'mailchimp' },
  { name: 'email_soft_bounces', description: 'soft bounces', sources: 'mailchimp' },
  { name: 'email_unsubscribes', description: 'unsubscribes', sources: 'mailchimp, sendgrid' },
  { name: 'email_spam_reports', description: 'abuse / spam reports', sources: 'mailchimp, sendgrid' },
];

export const baseMetricNames: ReadonlySet<string> = new Set(baseMetrics.map((m) => m.name));
export const moneyMetrics: ReadonlySet<string> = new Set(baseMetrics.filter((m) => m.money).map((m) => m.name));

/** Channel names facts are written with. */
export const channels = ['paid_search', 'paid_social', 'display', 'video', 'organic_search', 'organic_social', 'email', 'direct', 'referral', 'affiliates', 'other'] as const;
export type Channel = (typeof channels)[number];

/** GA4's default channel groups to our channel names. */
export function channelFromGa4Group(group: string): Channel {
  const g = group.trim().toLowerCase();
  if (g === 'paid search') return 'paid_search';
  if (g === 'paid social') return 'paid_social';
  if (g === 'organic search') return 'organic_search';
  if (g === 'organic social') return 'organic_social';
  if (g === 'email') return 'email';
  if (g === 'direct') return 'direct';
  if (g === 'referral') return 'referral';
  if (g === 'display' || g === 'cross-network' || g === 'paid other') return 'display';
  if (g === 'paid video' || g === 'organic video') return 'video';
  if (g === 'affiliates') return 'affiliates';
  return 'other';
}

/** Google Ads ad_network_type to our channel names. */
export function channelFromAdNetwork(network: string): Channel {
  switch (network) {
    case 'SEARCH':
    case 'SEARCH_PARTNERS':
      return 'paid_search';
    case 'CONTENT':
      return 'display';
    case 'YOUTUBE':
    case 'YOUTUBE_SEARCH':
    case 'YOUTUBE_WATCH':
      return 'video';
    default:
      return 'other';
  }
}
