import { DateTime } from 'luxon';
import { addDays, dateRange, daysBetween, isIsoDate, isoWeek, weekday } from './dates.ts';
import { Rng, round2 } from './random.ts';

/**
 * One seeded synthetic marketing data set that every fake serves from. Sources are tied
 * together the way real ones are (GA4 paid sessions follow ad clicks, shop orders are GA4's
 * transactions, transactional mail follows orders), so cross-source KPIs look plausible.
 *
 * Rows are generated per day from streams keyed by (seed, source, date, key): any day can be
 * produced on its own, which is what lets a benchmark-sized set stay out of memory.
 */

export type SourceName = 'ga4' | 'searchConsole' | 'googleAds' | 'meta' | 'mailchimp' | 'sendgrid' | 'shop' | 'linkedin' | 'hubspot' | 'tiktok' | 'klaviyo';

interface DatasetOptions {
  seed: number | string;
  /** Last day of data (inclusive), YYYY-MM-DD. */
  endDate: string;
  /** Days of data ending at endDate; default 90. */
  days?: number;
  /** Extra synthetic campaigns per ad platform (and long-tail queries), for benchmarks; default 0. */
  campaigns?: number;
  /** Day the new campaign starts; default 60% into the range. */
  launchDate?: string;
  /** Day Google Ads clicks collapse; default 80% into the range. */
  anomalyDate?: string;
  /** Keep generated days in memory; default true unless `campaigns` > 50. */
  memo?: boolean;
}

export type Ga4Channel = 'Organic Search' | 'Paid Search' | 'Paid Social' | 'Email' | 'Direct';
export interface Ga4Row {
  date: string;
  sessionDefaultChannelGroup: Ga4Channel;
  sessionCampaignName: string;
  sessions: number;
  totalUsers: number;
  newUsers: number;
  engagedSessions: number;
  screenPageViews: number;
  keyEvents: number;
  /** EUR, 2 decimals. */
  purchaseRevenue: number;
  transactions: number;
}

export const GA4_METRICS = ['sessions', 'totalUsers', 'newUsers', 'engagedSessions', 'screenPageViews', 'keyEvents', 'purchaseRevenue', 'transactions'] as const;
export interface SearchConsoleRow {
  date: string;
  query: string;
  page: string;
  clicks: number;
  impressions: number;
  ctr: number;
  /** Average position, 1 = top. */
  position: number;
}

export type AdNetworkType = 'SEARCH' | 'CONTENT' | 'YOUTUBE_WATCH';

export interface GoogleAdsCampaign {
  customerId: string;
  id: string;
  name: string;
  status: 'ENABLED';
  /** First day with data. */
  startDate: string;
  networks: AdNetworkType[];
}

export interface GoogleAdsCustomer {
  id: string;
  descriptiveName: string;
  currencyCode: string;
  timeZone: string;
  campaigns: GoogleAdsCampaign[];
}

export interface GoogleAdsRow {
  customerId: string;
  date: string;
  campaignId: string;
  campaignName: string;
  adNetworkType: AdNetworkType;
  impressions: number;
  clicks: number;
  /** Cost in millionths of the customer's currency; always a multiple of 10,000. */
  costMicros: number;
  conversions: number;
  conversionsValue: number;
}

export interface MetaCampaign {
  id: string;
  name: string;
  objective: 'OUTCOME_SALES' | 'OUTCOME_LEADS';
  startDate: string;
}

export interface MetaAction {
  action_type: 'purchase' | 'lead' | 'link_click' | 'offsite_conversion.fb_pixel_purchase';
  /** Meta sends counts and values as strings. */
  value: string;
}

export interface MetaRow {
  accountId: string;
  date: string;
  campaignId: string;
  campaignName: string;
  impressions: number;
  reach: number;
  clicks: number;
  /** Account currency, 2 decimals, as a string (as Meta sends it). */
  spend: string;
  actions: MetaAction[];
  action_values: MetaAction[];
}

export interface MailchimpCampaign {
  id: string;
  web_id: number;
  type: 'regular';
  status: 'sent';
  create_time: string;
  send_time: string;
  emails_sent: number;
  recipients: { list_id: string; list_name: string; recipient_count: number };
  settings: { title: string; subject_line: string; from_name: string };
  bounces: { hard_bounces: number; soft_bounces: number; syntax_errors: number };
  opens: { opens_total: number; unique_opens: number };
  clicks: { clicks_total: number; unique_clicks: number };
  unsubscribed: number;
  abuse_reports: number;
  /** utm_campaign of the newsletter's links: GA4's sessionCampaignName for its Email sessions. */
  utmCampaign: string;
}

export const SENDGRID_METRICS = [
  'blocks', 'bounce_drops', 'bounces', 'clicks', 'deferred', 'delivered', 'invalid_emails', 'opens', 'processed',
  'requests', 'spam_report_drops', 'spam_reports', 'unique_clicks', 'unique_opens', 'unsubscribe_drops', 'unsubscribes',
] as const;
export type SendgridMetrics = Record<(typeof SENDGRID_METRICS)[number], number>;
export type SendgridCategory = 'newsletter' | 'transactional';

export interface SendgridRow {
  date: string;
  category: SendgridCategory;
  metrics: SendgridMetrics;
}

export interface ShopOrder {
  id: number;
  /** ISO 8601 with the shop's UTC offset, e.g. 2024-03-01T14:23:11+01:00. */
  created_at: string;
  total_price: string;
  currency: string;
  customer_id: number;
  is_new_customer: boolean;
}

/** One LinkedIn campaign's day, as adAnalytics reports it (pivot CAMPAIGN, DAILY). */
export interface LinkedInRow {
  date: string;
  accountId: string;
  campaignId: string;
  campaignName: string;
  impressions: number;
  clicks: number;
  /** costInLocalCurrency: a decimal string. */
  cost: string;
  conversions: number;
  /** conversionValueInLocalCurrency: a decimal string. */
  conversionValue: string;
}

/** One TikTok campaign's day, as the integrated report (AUCTION_CAMPAIGN, stat_time_day) gives it. */
export interface TikTokRow {
  date: string;
  advertiserId: string;
  campaignId: string;
  campaignName: string;
  /** Money and counts as TikTok sends them: decimal strings. */
  spend: string;
  impressions: number;
  clicks: number;
  conversions: number;
  conversionValue: string;
}

/** One Klaviyo email message's day (a campaign's or a flow's): its email events, counted on the account's days. */
export interface KlaviyoRow {
  date: string;
  /** The $message id (a campaign message or a flow message) and its Campaign Name. */
  messageId: string;
  messageName: string;
  received: number;
  opened: number;
  uniqueOpened: number;
  clicked: number;
  uniqueClicked: number;
  bounced: number;
  unsubscribed: number;
  spam: number;
}

/** A HubSpot deal, dated by its close date (the expected one while it is open). */
export interface HubspotDeal {
  id: string;
  date: string;
  closedate: string;
  dealname: string;
  /** A decimal string, as HubSpot's properties are texts. */
  amount: string;
  dealstage: string;
  pipeline: string;
}

export interface DailyTable<Row> {
  /** One day's rows, restatements applied; empty outside the data set. Treat as read-only. */
  day(date: string): Row[];
  /** Rows of [from, to] in date order, one day in memory at a time. */
  range(from?: string, to?: string): Generator<Row>;
  /** Every row in date order; built on first read and again after a restatement. */
  readonly rows: Row[];
}

export interface Restatement {
  source: SourceName;
  /** The reporting day (for Mailchimp, the send day) whose numbers change. */
  date: string;
  /** Multiplier for that day's additive numbers; a later restatement of the same day replaces it. */
  factor: number;
}

export interface Dataset {
  seed: number | string;
  startDate: string;
  endDate: string;
  days: number;
  dates: string[];
  /** Bumped by every restatement, so caches keyed on it go stale. */
  readonly version: number;
  restatements: Restatement[];
  events: {
    launch: { date: string; googleAdsCampaignId: string; metaCampaignId: string; name: string };
    anomaly: { date: string; source: 'googleAds'; customerId: string; factor: number; description: string };
    /** Mailchimp sends on this weekday (0 = Sunday). */
    newsletterWeekday: number;
    /** SendGrid's 'newsletter' category sends on this weekday. */
    digestWeekday: number;
  };
  ga4: DailyTable<Ga4Row> & { propertyId: string; currencyCode: string; timeZone: string };
  searchConsole: DailyTable<SearchConsoleRow> & { siteUrl: string };
  googleAds: DailyTable<GoogleAdsRow> & { managerCustomerId: string; customers: GoogleAdsCustomer[] };
  meta: DailyTable<MetaRow> & { accountId: string; accountName: string; currency: string; timeZone: string; campaigns: MetaCampaign[] };
  mailchimp: DailyTable<MailchimpCampaign> & { dc: string; listId: string; readonly campaigns: MailchimpCampaign[] };
  sendgrid: DailyTable<SendgridRow> & { categories: SendgridCategory[] };
  shop: DailyTable<ShopOrder> & { currency: string; timeZone: string };
  linkedin: DailyTable<LinkedInRow> & { accountIds: string[]; currency: string; campaigns: Array<{ id: string; name: string; accountId: string }> };
  hubspot: DailyTable<HubspotDeal> & { portalId: number; timeZone: string; currency: string };
  tiktok: DailyTable<TikTokRow> & { advertiserIds: string[]; currency: string; timeZone: string };
  /** The account, and the id of each email metric (Klaviyo's ids are the account's own). */
  klaviyo: DailyTable<KlaviyoRow> & { accountId: string; organization: string; timeZone: string; currency: string; metrics: Record<KlaviyoMetric, { id: string; name: string }> };
}

export type KlaviyoMetric = 'received' | 'opened' | 'clicked' | 'bounced' | 'unsubscribed' | 'spam';

// B2B traffic halves at weekends; social feeds are flatter.
const WEEKDAY_B2B = [0.55, 1.04, 1.1, 1.08, 1.04, 0.9, 0.58];
const WEEKDAY_SOCIAL = [0.9, 1.0, 1.02, 1.02, 1.0, 0.96, 0.92];
const ANOMALY_FACTOR = 0.08;

type CampaignKind = 'brand' | 'generic' | 'display' | 'video';
interface NetworkProfile { impressions: number; ctr: number; cpc: number; cvr: number }
const ADS_PROFILES: Record<CampaignKind, Partial<Record<AdNetworkType, NetworkProfile>>> = {
  brand: { SEARCH: { impressions: 1400, ctr: 0.2, cpc: 0.55, cvr: 0.09 } },
  generic: { SEARCH: { impressions: 9000, ctr: 0.045, cpc: 2.2, cvr: 0.035 }, CONTENT: { impressions: 6000, ctr: 0.006, cpc: 0.5, cvr: 0.01 } },
  display: { CONTENT: { impressions: 30000, ctr: 0.004, cpc: 0.4, cvr: 0.008 } },
  video: { YOUTUBE_WATCH: { impressions: 22000, ctr: 0.0025, cpc: 0.18, cvr: 0.004 } },
};

interface AdsSpec extends GoogleAdsCampaign { kind: CampaignKind; scale: number; aov: number }
interface MetaSpec extends MetaCampaign { impressions: number; cpm: number; ctr: number; linkShare: number; cvr: number; leadRate: number; frequency: number }
interface QuerySpec { query: string; page: string; impressions: number; position: number; brand: boolean }

interface ChannelProfile { usersPerSession: number; newShare: number; engagement: number; pages: number; leadRate: number; purchaseRate: number; newCustomerShare: number }
const CHANNEL_PROFILES: Record<Ga4Channel, ChannelProfile> = {
  'Organic Search': { usersPerSession: 0.84, newShare: 0.68, engagement: 0.64, pages: 2.9, leadRate: 0.022, purchaseRate: 0.011, newCustomerShare: 0.45 },
  'Paid Search': { usersPerSession: 0.88, newShare: 0.62, engagement: 0.56, pages: 2.3, leadRate: 0.035, purchaseRate: 0.014, newCustomerShare: 0.5 },
  'Paid Social': { usersPerSession: 0.92, newShare: 0.81, engagement: 0.36, pages: 1.6, leadRate: 0.012, purchaseRate: 0.006, newCustomerShare: 0.65 },
  Email: { usersPerSession: 0.86, newShare: 0.08, engagement: 0.72, pages: 3.2, leadRate: 0.03, purchaseRate: 0.024, newCustomerShare: 0.1 },
  Direct: { usersPerSession: 0.8, newShare: 0.34, engagement: 0.6, pages: 2.5, leadRate: 0.018, purchaseRate: 0.016, newCustomerShare: 0.25 },
};

const BASE_QUERIES: QuerySpec[] = [
  { query: 'example', page: 'https://www.example.com/', impressions: 900, position: 1.1, brand: true },
  { query: 'example login', page: 'https://www.example.com/login', impressions: 300, position: 1.0, brand: true },
  { query: 'example pricing', page: 'https://www.example.com/pricing', impressions: 250, position: 1.3, brand: true },
  { query: 'kpi dashboard', page: 'https://www.example.com/product/dashboards', impressions: 2400, position: 6.5, brand: false },
  { query: 'kpi dashboard', page: 'https://www.example.com/blog/kpi-dashboard-guide', impressions: 600, position: 14.2, brand: false },
  { query: 'marketing kpi examples', page: 'https://www.example.com/blog/marketing-kpis', impressions: 3100, position: 4.2, brand: false },
  { query: 'okr software', page: 'https://www.example.com/product/okrs', impressions: 1800, position: 11.3, brand: false },
  { query: 'marketing metrics warehouse', page: 'https://www.example.com/product/warehouse', impressions: 700, position: 8.9, brand: false },
  { query: 'roas calculator', page: 'https://www.example.com/tools/roas-calculator', impressions: 1500, position: 3.1, brand: false },
  { query: 'what is a north star metric', page: 'https://www.example.com/blog/north-star-metric', impressions: 1200, position: 5.4, brand: false },
  { query: 'ga4 vs universal analytics', page: 'https://www.example.com/blog/ga4-migration', impressions: 950, position: 9.8, brand: false },
  { query: 'email open rate benchmark', page: 'https://www.example.com/blog/email-benchmarks', impressions: 1100, position: 7.7, brand: false },
];

export function createDataset(options: DatasetOptions): Dataset {
  const { seed, endDate } = options;
  const days = options.days ?? 90;
  const extra = options.campaigns ?? 0;
  if (!isIsoDate(endDate)) throw new RangeError(`endDate must be YYYY-MM-DD, got "${endDate}"`);
  if (!Number.isInteger(days) || days < 1) throw new RangeError(`days must be a positive integer, got ${days}`);
  if (!Number.isInteger(extra) || extra < 0) throw new RangeError(`campaigns must be a non-negative integer, got ${extra}`);
  const memo = options.memo ?? extra <= 50;

  const startDate = addDays(endDate, -(days - 1));
  const dates = dateRange(startDate, endDate);
  const launchDate = options.launchDate ?? dates[Math.floor(days * 0.6)] ?? startDate;
  const anomalyDate = options.anomalyDate ?? dates[Math.floor(days * 0.8)] ?? endDate;
  for (const [name, d] of [['launchDate', launchDate], ['anomalyDate', anomalyDate]] as const) {
    if (!isIsoDate(d)) throw new RangeError(`${name} must be YYYY-MM-DD, got "${d}"`);
  }
  const inRange = (date: string): boolean => date >= startDate && date <= endDate;
  const dayIndex = (date: string): number => daysBetween(startDate, date);
  // Steady growth, so period-over-period comparisons have something to find.
  const trend = (date: string): number => 1 + 0.0025 * dayIndex(date);
  // New campaigns take a few days to reach full delivery.
  const ramp = (date: string, start: string): number => (date < start ? 0 : Math.min(1, (daysBetween(start, date) + 1) / 5));

  // ---- campaigns --------------------------------------------------------------------------
  const managerCustomerId = '9876543210';
  const adsSpecs: AdsSpec[] = [];
  const addAds = (customerId: string, id: string, name: string, kind: CampaignKind, scale: number, aov: number, start = startDate): void => {
    const networks = Object.keys(ADS_PROFILES[kind]) as AdNetworkType[];
    adsSpecs.push({ customerId, id, name, status: 'ENABLED', startDate: start, networks, kind, scale, aov });
  };
  addAds('1234567890', '21000000001', 'Brand - Search', 'brand', 1, 140);
  addAds('1234567890', '21000000002', 'Generic - Search', 'generic', 1, 140);
  addAds('1234567890', '21000000003', 'Remarketing - Display', 'display', 1, 140);
  addAds('1234567890', '21000000004', 'Product Demo - Video', 'video', 1, 140);
  addAds('1234567890', '21000000005', 'Spring Launch - Search', 'generic', 1.3, 140, launchDate);
  addAds('2345678901', '22000000001', 'DE Brand - Search', 'brand', 0.6, 130);
  addAds('2345678901', '22000000002', 'DE Generic - Search', 'generic', 0.5, 130);
  addAds('2345678901', '22000000003', 'DE Product Demo - Video', 'video', 0.4, 130);
  for (let i = 1; i <= extra; i++) {
    const customerId = i % 2 ? '1234567890' : '2345678901';
    const scale = 0.03 + new Rng(seed, 'bench-ads', i).next() * 0.07;
    addAds(customerId, String(23000000000 + i), `Campaign ${String(i).padStart(4, '0')} - Search`, 'generic', scale, 120);
  }
  const customers: GoogleAdsCustomer[] = [
    { id: '1234567890', descriptiveName: 'Example Inc (US)', currencyCode: 'USD', timeZone: 'America/New_York', campaigns: [] },
    { id: '2345678901', descriptiveName: 'Example GmbH (DE)', currencyCode: 'EUR', timeZone: 'Europe/Berlin', campaigns: [] },
  ];
  for (const spec of adsSpecs) {
    const { kind: _k, scale: _s, aov: _a, ...campaign } = spec;
    customers.find((c) => c.id === spec.customerId)?.campaigns.push(campaign);
  }

  const metaSpecs: MetaSpec[] = [
    { id: '23851000000000001', name: 'Prospecting - Lookalike 1%', objective: 'OUTCOME_SALES', startDate, impressions: 45000, cpm: 7.5, ctr: 0.012, linkShare: 0.62, cvr: 0.014, leadRate: 0.002, frequency: 1.6 },
    { id: '23851000000000002', name: 'Retargeting - Site Visitors 30d', objective: 'OUTCOME_SALES', startDate, impressions: 12000, cpm: 14, ctr: 0.021, linkShare: 0.7, cvr: 0.045, leadRate: 0.004, frequency: 2.6 },
    { id: '23851000000000003', name: 'Lead Gen - KPI Whitepaper', objective: 'OUTCOME_LEADS', startDate, impressions: 20000, cpm: 10, ctr: 0.015, linkShare: 0.75, cvr: 0.001, leadRate: 0.09, frequency: 1.4 },
    { id: '23851000000000004', name: 'Spring Launch - Prospecting', objective: 'OUTCOME_SALES', startDate: launchDate, impressions: 35000, cpm: 9, ctr: 0.014, linkShare: 0.65, cvr: 0.018, leadRate: 0.002, frequency: 1.5 },
  ];
  for (let i = 1; i <= extra; i++) {
    const scale = 0.02 + new Rng(seed, 'bench-meta', i).next() * 0.05;
    metaSpecs.push({
      id: String(23852000000000000n + BigInt(i)), name: `Campaign ${String(i).padStart(4, '0')} - Social`, objective: 'OUTCOME_SALES', startDate,
      impressions: 45000 * scale, cpm: 8, ctr: 0.013, linkShare: 0.65, cvr: 0.012, leadRate: 0.002, frequency: 1.5,
    });
  }

  const querySpecs = [...BASE_QUERIES];
  for (let i = 1; i <= extra; i++) {
    const n = String(i).padStart(4, '0');
    querySpecs.push({ query: `long tail query ${n}`, page: `https://www.example.com/blog/post-${n}`, impressions: 40, position: 12, brand: false });
  }

  // ---- restatements and memo ----------------------------------------------------------------
  const overrides = new Map<string, number>();
  const factorFor = (source: SourceName, date: string): number => overrides.get(`${source}|${date}`) ?? 1;

  function memoize<T>(fn: (date: string) => T): (date: string) => T {
    if (!memo) return fn;
    const cache = new Map<string, T>();
    return (date) => {
      let hit = cache.get(date);
      if (hit === undefined) {
        hit = fn(date);
        cache.set(date, hit);
      }
      return hit;
    };
  }

  // ---- base generators (before restatements) ------------------------------------------------
  const adsBase = memoize((date: string): GoogleAdsRow[] => {
    if (!inRange(date)) return [];
    const out: GoogleAdsRow[] = [];
    const wd = WEEKDAY_B2B[weekday(date)] ?? 1;
    for (const spec of adsSpecs) {
      const live = ramp(date, spec.startDate);
      if (live === 0) continue;
      for (const network of spec.networks) {
        const p = ADS_PROFILES[spec.kind][network];
        if (!p) continue;
        const r = new Rng(seed, 'gads', date, spec.id, network);
        const outage = date === anomalyDate && spec.customerId === '1234567890' ? ANOMALY_FACTOR : 1;
        const impressions = Math.round(p.impressions * spec.scale * wd * trend(date) * live * outage * r.noise(0.12));
        if (impressions <= 0) continue;
        const clicks = Math.min(impressions, Math.round(impressions * p.ctr * r.noise(0.15)));
        const costMicros = Math.round(clicks * p.cpc * r.noise(0.1) * 100) * 10_000;
        const converted = r.poisson(clicks * p.cvr);
        // Data-driven attribution hands out fractions of conversions.
        const conversions = converted === 0 ? 0 : round2(converted * (0.85 + 0.3 * r.next()));
        const conversionsValue = round2(conversions * spec.aov * r.noise(0.25));
        out.push({ customerId: spec.customerId, date, campaignId: spec.id, campaignName: spec.name, adNetworkType: network, impressions, clicks, costMicros, conversions, conversionsValue });
      }
    }
    return out;
  });

  const metaBase = memoize((date: string): MetaRow[] => {
    if (!inRange(date)) return [];
    const out: MetaRow[] = [];
    const wd = WEEKDAY_SOCIAL[weekday(date)] ?? 1;
    for (const spec of metaSpecs) {
      const live = ramp(date, spec.startDate);
      if (live === 0) continue;
      const r = new Rng(seed, 'meta', date, spec.id);
      const impressions = Math.round(spec.impressions * wd * trend(date) * live * r.noise(0.12));
      if (impressions <= 0) continue;
      const reach = Math.min(impressions, Math.round(impressions / (spec.frequency * r.noise(0.05))));
      const clicks = Math.min(impressions, Math.round(impressions * spec.ctr * r.noise(0.15)));
      const linkClicks = Math.min(clicks, Math.round(clicks * spec.linkShare * r.noise(0.05)));
      const spend = ((impressions / 1000) * spec.cpm * r.noise(0.08)).toFixed(2);
      const purchases = r.poisson(linkClicks * spec.cvr);
      const leads = r.poisson(linkClicks * spec.leadRate);
      const actions: MetaAction[] = [];
      if (linkClicks > 0) actions.push({ action_type: 'link_click', value: String(linkClicks) });
      if (leads > 0) actions.push({ action_type: 'lead', value: String(leads) });
      // Meta reports pixel purchases under both names; `purchase` is the roll-up.
      if (purchases > 0) actions.push({ action_type: 'offsite_conversion.fb_pixel_purchase', value: String(purchases) }, { action_type: 'purchase', value: String(purchases) });
      const action_values: MetaAction[] = purchases > 0 ? [{ action_type: 'purchase', value: (purchases * 92 * r.noise(0.3)).toFixed(2) }] : [];
      out.push({ accountId: 'act_1001', date, campaignId: spec.id, campaignName: spec.name, impressions, reach, clicks, spend, actions, action_values });
    }
    return out;
  });

  const scBase = memoize((date: string): SearchConsoleRow[] => {
    if (!inRange(date)) return [];
    const out: SearchConsoleRow[] = [];
    const wd = WEEKDAY_B2B[weekday(date)] ?? 1;
    for (const q of querySpecs) {
      const r = new Rng(seed, 'gsc', date, q.query, q.page);
      const impressions = Math.round(q.impressions * wd * trend(date) * r.noise(0.15));
      if (impressions <= 0) continue;
      const position = Math.max(1, round2(q.position + r.normal(0, q.position * 0.08)));
      const expectedCtr = q.brand ? 0.55 / position : 0.28 / position ** 1.15;
      const clicks = Math.min(impressions, r.poisson(impressions * expectedCtr));
      out.push({ date, query: q.query, page: q.page, clicks, impressions, ctr: clicks / impressions, position });
    }
    return out;
  });

  const newsletterWeekday = 2;
  const digestWeekday = 4;
  const listId = 'a1b2c3d4e5';
  const mailchimpBase = memoize((date: string): MailchimpCampaign[] => {
    if (!inRange(date) || weekday(date) !== newsletterWeekday) return [];
    const r = new Rng(seed, 'mailchimp', date);
    const week = isoWeek(date);
    const listSize = 12000 + Math.round(35 * dayIndex(date) / 7);
    const hard = r.poisson(listSize * 0.003);
    const soft = r.poisson(listSize * 0.008);
    const delivered = listSize - hard - soft;
    const uniqueOpens = Math.round(delivered * 0.38 * r.noise(0.08));
    const uniqueClicks = Math.round(delivered * 0.032 * r.noise(0.15));
    return [{
      id: r.hex(10),
      web_id: r.int(1_000_000, 9_999_999),
      type: 'regular',
      status: 'sent',
      create_time: `${addDays(date, -1)}T15:12:00+00:00`,
      send_time: `${date}T08:00:00+00:00`,
      emails_sent: listSize,
      recipients: { list_id: listId, list_name: 'Example Newsletter', recipient_count: listSize },
      settings: { title: `Weekly Newsletter ${week}`, subject_line: `This week in marketing KPIs (${week})`, from_name: 'Example Team' },
      bounces: { hard_bounces: hard, soft_bounces: soft, syntax_errors: r.int(0, 2) },
      opens: { opens_total: Math.round(uniqueOpens * (1.5 + 0.3 * r.next())), unique_opens: uniqueOpens },
      clicks: { clicks_total: Math.round(uniqueClicks * (1.3 + 0.3 * r.next())), unique_clicks: uniqueClicks },
      unsubscribed: r.poisson(delivered * 0.0015),
      abuse_reports: r.poisson(delivered * 0.0001),
      utmCampaign: `newsletter-${week.toLowerCase()}`,
    }];
  });

  interface Ga4Day { rows: Ga4Row[]; orders: ShopOrder[] }
  const ga4Base = memoize((date: string): Ga4Day => {
    if (!inRange(date)) return { rows: [], orders: [] };
    const r = new Rng(seed, 'ga4', date);
    const wd = WEEKDAY_B2B[weekday(date)] ?? 1;
    const groups: Array<{ channel: Ga4Channel; campaign: string; sessions: number }> = [];

    const scClicks = scBase(date).reduce((s, row) => s + row.clicks, 0);
    groups.push({ channel: 'Organic Search', campaign: '(organic)', sessions: Math.round(scClicks * 1.25 * r.noise(0.08)) });

    const adsClicks = new Map<string, number>();
    for (const row of adsBase(date)) adsClicks.set(row.campaignName, (adsClicks.get(row.campaignName) ?? 0) + row.clicks);
    for (const [campaign, clicks] of adsClicks) groups.push({ channel: 'Paid Search', campaign, sessions: Math.round(clicks * 0.86 * r.noise(0.06)) });

    for (const row of metaBase(date)) {
      const link = Number(row.actions.find((a) => a.action_type === 'link_click')?.value ?? 0);
      groups.push({ channel: 'Paid Social', campaign: row.campaignName, sessions: Math.round(link * 0.78 * r.noise(0.08)) });
    }

    // A newsletter's visits trail off over the days after its send.
    const lagShare = [0.62, 0.22, 0.08, 0.04];
    lagShare.forEach((share, lag) => {
      for (const c of mailchimpBase(addDays(date, -lag))) {
        groups.push({ channel: 'Email', campaign: c.utmCampaign, sessions: Math.round(c.clicks.unique_clicks * share * r.noise(0.1)) });
      }
    });

    groups.push({ channel: 'Direct', campaign: '(direct)', sessions: Math.round(380 * wd * trend(date) * r.noise(0.1)) });

    const rows: Ga4Row[] = [];
    const drafts: Array<{ at: DateTime; price: number; isNew: boolean; customer: number }> = [];
    for (const g of groups) {
      if (g.sessions <= 0) continue;
      const p = CHANNEL_PROFILES[g.channel];
      const gr = new Rng(seed, 'ga4', date, g.channel, g.campaign);
      const s = g.sessions;
      const totalUsers = Math.min(s, Math.round(s * p.usersPerSession * gr.noise(0.03)));
      const newUsers = Math.min(totalUsers, Math.round(totalUsers * p.newShare * gr.noise(0.06)));
      const engagedSessions = Math.min(s, Math.round(s * p.engagement * gr.noise(0.05)));
      const screenPageViews = Math.round(s * p.pages * gr.noise(0.06));
      const transactions = gr.poisson(s * p.purchaseRate);
      const keyEvents = gr.poisson(s * p.leadRate) + transactions;
      let revenue = 0;
      for (let i = 0; i < transactions; i++) {
        const price = Math.max(9.9, round2(88 * gr.noise(0.45)));
        revenue += price;
        const [y, m, d] = date.split('-').map(Number);
        const at = DateTime.fromObject({ year: y, month: m, day: d, hour: gr.int(0, 23), minute: gr.int(0, 59), second: gr.int(0, 59) }, { zone: 'Europe/Berlin' });
        drafts.push({ at, price, isNew: gr.next() < p.newCustomerShare, customer: gr.int(1000, 799_999) });
      }
      rows.push({
        date, sessionDefaultChannelGroup: g.channel, sessionCampaignName: g.campaign, sessions: s, totalUsers, newUsers,
        engagedSessions, screenPageViews, keyEvents, purchaseRevenue: round2(revenue), transactions,
      });
    }

    // Ids are assigned in time order, as a shop's sequence would.
    drafts.sort((a, b) => a.at.toMillis() - b.at.toMillis());
    const epochDay = daysBetween('2000-01-01', date);
    const orders = drafts.map((o, k): ShopOrder => ({
      id: 5_000_000_000 + epochDay * 100_000 + k,
      created_at: o.at.toISO({ suppressMilliseconds: true }) ?? '',
      total_price: o.price.toFixed(2),
      currency: 'EUR',
      customer_id: o.isNew ? 1_000_000 + epochDay * 100_000 + k : o.customer,
      is_new_customer: o.isNew,
    }));
    return { rows, orders };
  });

  const sendgridBase = memoize((date: string): SendgridRow[] => {
    if (!inRange(date)) return [];
    const r = new Rng(seed, 'sendgrid', date);
    const ga4 = ga4Base(date);
    const keyEvents = ga4.rows.reduce((s, row) => s + row.keyEvents - row.transactions, 0);
    // Order confirmations, shipping notices, sign-up mails and password resets.
    const transactional = ga4.orders.length * 2 + keyEvents + Math.round(120 * r.noise(0.1));
    const digest = weekday(date) === digestWeekday ? 3100 + 10 * Math.floor(dayIndex(date) / 7) : 0;
    return [
      { date, category: 'newsletter', metrics: mailMetrics(new Rng(seed, 'sendgrid', date, 'newsletter'), digest, 0.33, 0.04, 0.002) },
      { date, category: 'transactional', metrics: mailMetrics(new Rng(seed, 'sendgrid', date, 'transactional'), transactional, 0.52, 0.12, 0) },
    ];
  });

  const linkedinCampaigns = [
    { id: '601001', name: 'Decision Makers - Sponsored Content', accountId: '508000001', impressions: 9000, ctr: 0.006, cpc: 7.5, cvr: 0.04, value: 220 },
    { id: '601002', name: 'Webinar - Lead Gen Form', accountId: '508000001', impressions: 5000, ctr: 0.009, cpc: 6.2, cvr: 0.08, value: 60 },
    { id: '602001', name: 'DACH - Brand Awareness', accountId: '508000002', impressions: 12000, ctr: 0.004, cpc: 4.8, cvr: 0.01, value: 150 },
  ];
  const linkedinBase = memoize((date: string): LinkedInRow[] => {
    if (!inRange(date)) return [];
    return linkedinCampaigns.map((c) => {
      const r = new Rng(seed, 'linkedin', date, c.id);
      // LinkedIn is a weekday network.
      const impressions = Math.round(c.impressions * WEEKDAY_B2B[weekday(date)]! * trend(date) * r.noise(0.15));
      const clicks = Math.min(impressions, Math.round(impressions * c.ctr * r.noise(0.2)));
      const conversions = r.poisson(clicks * c.cvr);
      return {
        date, accountId: c.accountId, campaignId: c.id, campaignName: c.name, impressions, clicks,
        cost: (clicks * c.cpc * r.noise(0.1)).toFixed(2), conversions, conversionValue: (conversions * c.value * r.noise(0.2)).toFixed(2),
      };
    });
  });

  const tiktokCampaigns = [
    { id: '1790000000000001', name: 'Spark Ads - Creators', advertiserId: '7100000000000000001', impressions: 60000, ctr: 0.011, cpm: 6.5, cvr: 0.012, value: 48 },
    { id: '1790000000000002', name: 'Retargeting - Video Viewers', advertiserId: '7100000000000000001', impressions: 18000, ctr: 0.016, cpm: 9, cvr: 0.03, value: 55 },
  ];
  const tiktokBase = memoize((date: string): TikTokRow[] => {
    if (!inRange(date)) return [];
    return tiktokCampaigns.map((c) => {
      const r = new Rng(seed, 'tiktok', date, c.id);
      const impressions = Math.round(c.impressions * WEEKDAY_SOCIAL[weekday(date)]! * trend(date) * r.noise(0.15));
      const clicks = Math.min(impressions, Math.round(impressions * c.ctr * r.noise(0.2)));
      const conversions = r.poisson(clicks * c.cvr);
      return {
        date, advertiserId: c.advertiserId, campaignId: c.id, campaignName: c.name, impressions, clicks,
        spend: ((impressions / 1000) * c.cpm * r.noise(0.08)).toFixed(2), conversions, conversionValue: (conversions * c.value * r.noise(0.2)).toFixed(2),
      };
    });
  });

  // Flows send every day; the newsletter's message keeps drawing opens and clicks all month.
  const klaviyoMessages = [
    { id: 'WLC01a', name: 'Welcome Series: Email 1', sent: 420 },
    { id: 'ABC02b', name: 'Abandoned Cart: Reminder', sent: 260 },
    { id: 'NWS03c', name: 'Monthly Newsletter', sent: 900 },
  ];
  const klaviyoBase = memoize((date: string): KlaviyoRow[] => {
    if (!inRange(date)) return [];
    return klaviyoMessages.map((m) => {
      const r = new Rng(seed, 'klaviyo', date, m.id);
      const received = Math.round(m.sent * WEEKDAY_SOCIAL[weekday(date)]! * r.noise(0.15));
      const uniqueOpened = Math.max(1, Math.round(received * 0.42 * r.noise(0.15)));
      const uniqueClicked = Math.max(1, Math.round(uniqueOpened * 0.12 * r.noise(0.25)));
      return {
        date, messageId: m.id, messageName: m.name, received,
        opened: uniqueOpened + Math.max(1, Math.round(uniqueOpened * 0.3 * r.noise(0.3))), uniqueOpened,
        clicked: uniqueClicked + r.poisson(uniqueClicked * 0.4), uniqueClicked,
        bounced: 1 + r.poisson(received * 0.008), unsubscribed: 1 + r.poisson(received * 0.002), spam: 1 + r.poisson(received * 0.0004),
      };
    });
  });

  const DEAL_STAGES = ['closedwon', 'closedwon', 'closedwon', 'closedlost', 'closedlost', 'appointmentscheduled', 'qualifiedtobuy', 'presentationscheduled', 'contractsent'];
  const hubspotBase = memoize((date: string): HubspotDeal[] => {
    if (!inRange(date)) return [];
    const r = new Rng(seed, 'hubspot', date);
    const count = weekday(date) === 0 || weekday(date) === 6 ? r.int(0, 1) : r.int(1, 5);
    const out: HubspotDeal[] = [];
    for (let k = 0; k < count; k++) {
      const stage = DEAL_STAGES[r.int(0, DEAL_STAGES.length - 1)]!;
      const hour = 9 + r.int(0, 8);
      out.push({
        id: String(9_000_000_000 + dayIndex(date) * 100 + k),
        date,
        closedate: `${date}T${String(hour).padStart(2, '0')}:${String(r.int(0, 59)).padStart(2, '0')}:00.000Z`,
        dealname: `Example deal ${dayIndex(date)}-${k + 1}`,
        amount: (500 + Math.round(r.next() * 95) * 100).toFixed(2),
        dealstage: stage,
        pipeline: 'default',
      });
    }
    return out;
  });

  // ---- public tables ------------------------------------------------------------------------
  let version = 0;
  const restatements: Restatement[] = [];

  function table<Row>(source: SourceName, base: (date: string) => Row[], scale: (row: Row, factor: number) => Row): DailyTable<Row> {
    let cached: { version: number; rows: Row[] } | undefined;
    const day = (date: string): Row[] => {
      const rows = base(date);
      const f = factorFor(source, date);
      return f === 1 ? rows : rows.map((row) => scale(row, f));
    };
    function* range(from = startDate, to = endDate): Generator<Row> {
      for (const d of dateRange(from < startDate ? startDate : from, to > endDate ? endDate : to)) yield* day(d);
    }
    return {
      day,
      range,
      get rows() {
        if (!cached || cached.version !== version) cached = { version, rows: [...range()] };
        return cached.rows;
      },
    };
  }

  const n = (v: number, f: number): number => Math.round(v * f);

  const ga4Table = table<Ga4Row>('ga4', (d) => ga4Base(d).rows, (row, f) => {
    const sessions = n(row.sessions, f);
    const totalUsers = Math.min(sessions, n(row.totalUsers, f));
    const transactions = n(row.transactions, f);
    return {
      ...row, sessions, totalUsers, newUsers: Math.min(totalUsers, n(row.newUsers, f)), engagedSessions: Math.min(sessions, n(row.engagedSessions, f)),
      screenPageViews: n(row.screenPageViews, f), transactions, keyEvents: Math.max(transactions, n(row.keyEvents, f)), purchaseRevenue: round2(row.purchaseRevenue * f),
    };
  });
  const scTable = table<SearchConsoleRow>('searchConsole', scBase, (row, f) => {
    const impressions = Math.max(1, n(row.impressions, f));
    const clicks = Math.min(impressions, n(row.clicks, f));
    return { ...row, impressions, clicks, ctr: clicks / impressions };
  });
  const adsTable = table<GoogleAdsRow>('googleAds', adsBase, (row, f) => {
    const impressions = n(row.impressions, f);
    return {
      ...row, impressions, clicks: Math.min(impressions, n(row.clicks, f)), costMicros: Math.round((row.costMicros * f) / 10_000) * 10_000,
      conversions: round2(row.conversions * f), conversionsValue: round2(row.conversionsValue * f),
    };
  });
  const scaleActions = (list: MetaAction[], f: number, money: boolean): MetaAction[] =>
    list.map((a) => ({ ...a, value: money ? (Number(a.value) * f).toFixed(2) : String(n(Number(a.value), f)) }));
  const metaTable = table<MetaRow>('meta', metaBase, (row, f) => {
    const impressions = n(row.impressions, f);
    return {
      ...row, impressions, reach: Math.min(impressions, n(row.reach, f)), clicks: Math.min(impressions, n(row.clicks, f)),
      spend: (Number(row.spend) * f).toFixed(2), actions: scaleActions(row.actions, f, false), action_values: scaleActions(row.action_values, f, true),
    };
  });
  const mailchimpTable = table<MailchimpCampaign>('mailchimp', mailchimpBase, (c, f) => ({
    ...c,
    opens: { opens_total: n(c.opens.opens_total, f), unique_opens: n(c.opens.unique_opens, f) },
    clicks: { clicks_total: n(c.clicks.clicks_total, f), unique_clicks: n(c.clicks.unique_clicks, f) },
    unsubscribed: n(c.unsubscribed, f),
    abuse_reports: n(c.abuse_reports, f),
  }));
  const sendgridTable = table<SendgridRow>('sendgrid', sendgridBase, (row, f) => ({
    ...row,
    metrics: Object.fromEntries(Object.entries(row.metrics).map(([k, v]) => [k, n(v, f)])) as SendgridMetrics,
  }));
  const shopTable = table<ShopOrder>('shop', (d) => ga4Base(d).orders, (o, f) => ({ ...o, total_price: (Number(o.total_price) * f).toFixed(2) }));

  const linkedinTable = table<LinkedInRow>('linkedin', linkedinBase, (row, f) => {
    const impressions = n(row.impressions, f);
    return { ...row, impressions, clicks: Math.min(impressions, n(row.clicks, f)), cost: (Number(row.cost) * f).toFixed(2), conversions: n(row.conversions, f), conversionValue: (Number(row.conversionValue) * f).toFixed(2) };
  });
  const tiktokTable = table<TikTokRow>('tiktok', tiktokBase, (row, f) => {
    const impressions = n(row.impressions, f);
    return { ...row, impressions, clicks: Math.min(impressions, n(row.clicks, f)), spend: (Number(row.spend) * f).toFixed(2), conversions: n(row.conversions, f), conversionValue: (Number(row.conversionValue) * f).toFixed(2) };
  });
  const klaviyoTable = table<KlaviyoRow>('klaviyo', klaviyoBase, (row, f) => {
    const uniqueOpened = n(row.uniqueOpened, f);
    const uniqueClicked = n(row.uniqueClicked, f);
    return {
      ...row, received: n(row.received, f), uniqueOpened, opened: Math.max(uniqueOpened, n(row.opened, f)), uniqueClicked, clicked: Math.max(uniqueClicked, n(row.clicked, f)),
      bounced: n(row.bounced, f), unsubscribed: n(row.unsubscribed, f), spam: n(row.spam, f),
    };
  });
  const hubspotTable = table<HubspotDeal>('hubspot', hubspotBase, (d, f) => ({ ...d, amount: (Number(d.amount) * f).toFixed(2) }));

  const launchSpec = adsSpecs.find((s) => s.id === '21000000005');
  const ds: Dataset = {
    seed,
    startDate,
    endDate,
    days,
    dates,
    get version() {
      return version;
    },
    restatements,
    events: {
      launch: { date: launchDate, googleAdsCampaignId: launchSpec?.id ?? '', metaCampaignId: '23851000000000004', name: 'Spring Launch' },
      anomaly: {
        date: anomalyDate, source: 'googleAds', customerId: '1234567890', factor: ANOMALY_FACTOR,
        description: `Google Ads customer 1234567890's ads stop serving on ${anomalyDate}: impressions, clicks and cost fall to about ${ANOMALY_FACTOR * 100}% of normal, and GA4 Paid Search sessions with them`,
      },
      newsletterWeekday,
      digestWeekday,
    },
    ga4: Object.assign(ga4Table, { propertyId: '123456789', currencyCode: 'EUR', timeZone: 'Europe/Berlin' }),
    searchConsole: Object.assign(scTable, { siteUrl: 'sc-domain:example.com' }),
    googleAds: Object.assign(adsTable, { managerCustomerId, customers }),
    meta: Object.assign(metaTable, {
      accountId: 'act_1001', accountName: 'Example Inc', currency: 'USD', timeZone: 'America/New_York',
      campaigns: metaSpecs.map(({ id, name, objective, startDate: s }) => ({ id, name, objective, startDate: s })),
    }),
    mailchimp: Object.defineProperty(Object.assign(mailchimpTable, { dc: 'us6', listId }), 'campaigns', {
      get: () => mailchimpTable.rows,
      enumerable: true,
    }) as Dataset['mailchimp'],
    sendgrid: Object.assign(sendgridTable, { categories: ['newsletter', 'transactional'] as SendgridCategory[] }),
    shop: Object.assign(shopTable, { currency: 'EUR', timeZone: 'Europe/Berlin' }),
    linkedin: Object.assign(linkedinTable, {
      accountIds: ['508000001', '508000002'], currency: 'USD',
      campaigns: linkedinCampaigns.map(({ id, name, accountId }) => ({ id, name, accountId })),
    }),
    hubspot: Object.assign(hubspotTable, { portalId: 24_681_357, timeZone: 'UTC', currency: 'EUR' }),
    tiktok: Object.assign(tiktokTable, { advertiserIds: ['7100000000000000001'], currency: 'EUR', timeZone: 'Europe/Berlin' }),
    klaviyo: Object.assign(klaviyoTable, {
      accountId: 'XyZ9kA', organization: 'Example Inc', timeZone: 'America/New_York', currency: 'USD',
      metrics: {
        received: { id: 'RcvE1m', name: 'Received Email' }, opened: { id: 'OpnE2m', name: 'Opened Email' }, clicked: { id: 'ClkE3m', name: 'Clicked Email' },
        bounced: { id: 'BncE4m', name: 'Bounced Email' }, unsubscribed: { id: 'UnsE5m', name: 'Unsubscribed from Email Marketing' }, spam: { id: 'SpmE6m', name: 'Marked Email as Spam' },
      },
    }),
  };

  restaters.set(ds, (r) => {
    if (!isIsoDate(r.date)) throw new RangeError(`restate: date must be YYYY-MM-DD, got "${r.date}"`);
    if (!(r.factor >= 0) || !Number.isFinite(r.factor)) throw new RangeError(`restate: factor must be a finite number ≥ 0, got ${r.factor}`);
    overrides.set(`${r.source}|${r.date}`, r.factor);
    restatements.push({ ...r });
    version++;
  });
  return ds;
}

const restaters = new WeakMap<Dataset, (r: Restatement) => void>();

/**
 * Changes one day of one source in place, as platforms do when late conversions or invalid
 * clicks are booked: fakes serve the new numbers from their next request on.
 */
export function restate(dataset: Dataset, restatement: Restatement): void {
  const apply = restaters.get(dataset);
  if (!apply) throw new TypeError('restate: not a data set made by createDataset');
  apply(restatement);
}

function mailMetrics(r: Rng, requests: number, openRate: number, clickRate: number, unsubRate: number): SendgridMetrics {
  if (requests <= 0) return Object.fromEntries(SENDGRID_METRICS.map((m) => [m, 0])) as SendgridMetrics;
  const invalid_emails = r.poisson(requests * 0.0005);
  const blocks = r.poisson(requests * 0.002);
  const bounces = r.poisson(requests * 0.006);
  const bounce_drops = r.poisson(requests * 0.001);
  const spam_report_drops = r.poisson(requests * 0.0003);
  const unsubscribe_drops = r.poisson(requests * 0.0005);
  const processed = requests - invalid_emails;
  const delivered = Math.max(0, processed - blocks - bounces - bounce_drops - spam_report_drops - unsubscribe_drops);
  const unique_opens = r.poisson(delivered * openRate);
  const unique_clicks = Math.min(unique_opens, r.poisson(delivered * clickRate));
  return {
    blocks, bounce_drops, bounces,
    clicks: Math.round(unique_clicks * (1.2 + 0.3 * r.next())),
    deferred: r.poisson(requests * 0.01),
    delivered, invalid_emails,
    opens: Math.round(unique_opens * (1.4 + 0.4 * r.next())),
    processed, requests, spam_report_drops,
    spam_reports: r.poisson(delivered * 0.0002),
    unique_clicks, unique_opens, unsubscribe_drops,
    unsubscribes: r.poisson(delivered * unsubRate),
  };
}
