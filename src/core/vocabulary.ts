/**
 * The one base-metric vocabulary every connector writes, so a KPI such as
 * ctr = clicks / impressions means the same for Google Ads and Meta alike. Email and organic
 * search have their own names, so that their clicks never mix into paid CTR.
 */
interface BaseMetric {
  name: string;
  description: string;
  /** Money metrics carry a currency and are converted to the reporting currency at KPI time. */
  money?: boolean;
  /** Connector types that write it (csv and http_json write whatever their config maps). */
  writtenBy: readonly string[];
  /** How a source's own field becomes this metric, where that is not obvious. */
  how?: string;
  /**
   * A fact about the business that several systems each count (the shop, GA4, billing, the
   * CRM): two connectors writing it usually count the same orders twice, unlike ad clicks
   * of two ad platforms, which add up. `kpi validate` warns when a KPI would sum them.
   */
  business?: boolean;
}

export const baseMetrics: readonly BaseMetric[] = [
  { name: 'impressions', description: 'ad impressions', writtenBy: ['google_ads', 'meta_ads', 'linkedin_ads', 'tiktok_ads'] },
  { name: 'clicks', description: 'ad clicks', writtenBy: ['google_ads', 'meta_ads', 'linkedin_ads', 'tiktok_ads'] },
  { name: 'spend', description: 'ad cost', money: true, writtenBy: ['google_ads', 'meta_ads', 'linkedin_ads', 'tiktok_ads'], how: 'google_ads: costMicros / 1e6; linkedin_ads: costInLocalCurrency' },
  { name: 'conversions', description: 'conversions attributed by the ad platform', writtenBy: ['google_ads', 'meta_ads', 'linkedin_ads', 'tiktok_ads'], how: 'meta_ads: mapped action_types; linkedin_ads: externalWebsiteConversions' },
  { name: 'conversion_value', description: 'value of attributed conversions', money: true, writtenBy: ['google_ads', 'meta_ads', 'linkedin_ads', 'tiktok_ads'], how: 'meta_ads: mapped action_values' },
  { name: 'reach', description: 'people reached (not additive across days; sum is an upper bound)', writtenBy: ['meta_ads'] },
  { name: 'leads', description: 'leads', writtenBy: ['meta_ads', 'csv', 'http_json'], how: 'meta_ads: mapped action_types', business: true },
  { name: 'sessions', description: 'sessions', writtenBy: ['ga4'] },
  { name: 'users', description: 'total users (summed per day)', writtenBy: ['ga4'] },
  { name: 'new_users', description: 'first-time users', writtenBy: ['ga4'] },
  { name: 'engaged_sessions', description: 'engaged sessions', writtenBy: ['ga4'] },
  { name: 'page_views', description: 'screen and page views', writtenBy: ['ga4'] },
  { name: 'key_events', description: 'GA4 key events (conversions on site)', writtenBy: ['ga4'] },
  { name: 'transactions', description: 'purchases on site', writtenBy: ['ga4'] },
  { name: 'revenue', description: 'revenue', money: true, writtenBy: ['ga4', 'csv', 'http_json', 'hubspot'], how: 'ga4: purchaseRevenue; hubspot: amounts of deals won, by close date', business: true },
  { name: 'deals_won', description: 'CRM deals won, by close date', writtenBy: ['hubspot'], business: true },
  { name: 'pipeline', description: 'amount of open CRM deals, by expected close date', money: true, writtenBy: ['hubspot'], business: true },
  { name: 'orders', description: 'orders', writtenBy: ['csv', 'http_json'], business: true },
  { name: 'new_customers', description: 'customers who bought for the first time', writtenBy: ['csv', 'http_json'], business: true },
  { name: 'customers', description: 'distinct buying customers', writtenBy: ['csv', 'http_json'], business: true },
  { name: 'qualified_leads', description: 'leads that became opportunities', writtenBy: ['csv', 'http_json'], business: true },
  { name: 'gross_margin', description: 'revenue minus cost of goods', money: true, writtenBy: ['csv', 'http_json'], business: true },
  { name: 'search_clicks', description: 'organic search clicks', writtenBy: ['search_console'] },
  { name: 'search_impressions', description: 'organic search impressions', writtenBy: ['search_console'] },
  { name: 'search_position_sum', description: 'position × impressions, so average position = sum / impressions', writtenBy: ['search_console'] },
  { name: 'email_sent', description: 'emails sent (SendGrid: requests)', writtenBy: ['mailchimp', 'sendgrid'] },
  { name: 'email_delivered', description: 'emails delivered (Mailchimp: sent - bounces; Klaviyo: Received Email)', writtenBy: ['mailchimp', 'sendgrid', 'klaviyo'] },
  { name: 'email_opens', description: 'opens', writtenBy: ['mailchimp', 'sendgrid', 'klaviyo'] },
  { name: 'email_unique_opens', description: 'unique opens', writtenBy: ['mailchimp', 'sendgrid', 'klaviyo'] },
  { name: 'email_clicks', description: 'clicks in emails', writtenBy: ['mailchimp', 'sendgrid', 'klaviyo'] },
  { name: 'email_unique_clicks', description: 'unique clicks in emails', writtenBy: ['mailchimp', 'sendgrid', 'klaviyo'] },
  { name: 'email_bounces', description: 'bounces (hard + soft)', writtenBy: ['mailchimp', 'sendgrid', 'klaviyo'] },
  { name: 'email_hard_bounces', description: 'hard bounces', writtenBy: ['mailchimp'] },
  { name: 'email_soft_bounces', description: 'soft bounces', writtenBy: ['mailchimp'] },
  { name: 'email_unsubscribes', description: 'unsubscribes', writtenBy: ['mailchimp', 'sendgrid', 'klaviyo'] },
  { name: 'email_spam_reports', description: 'abuse / spam reports', writtenBy: ['mailchimp', 'sendgrid', 'klaviyo'] },
];

/**
 * How a KPI's value is expressed, and so how every surface (report, digest, alert message)
 * formats it. Percent values are fractions: 0.05 is 5%.
 */
export type KpiUnit = 'percent' | 'currency' | 'count' | 'ratio';
/** Which way a KPI is good. */
export type KpiDirection = 'higher' | 'lower';
/**
 * Where a goal stands: achieved (a reach goal may get there early), or judged against the time
 * left until its deadline; missed after it; waiting while the data it reads is not complete.
 */
export type GoalStatus = 'on_track' | 'at_risk' | 'off_track' | 'achieved' | 'missed' | 'waiting';

export const baseMetricNames: ReadonlySet<string> = new Set(baseMetrics.map((m) => m.name));
export const moneyMetrics: ReadonlySet<string> = new Set(baseMetrics.filter((m) => m.money).map((m) => m.name));
export const businessMetrics: ReadonlySet<string> = new Set(baseMetrics.filter((m) => m.business).map((m) => m.name));

/** Channel names facts are written with. */
const channels = ['paid_search', 'paid_social', 'display', 'video', 'organic_search', 'organic_social', 'email', 'direct', 'referral', 'affiliates', 'other'] as const;
type Channel = (typeof channels)[number];

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
