import { sql } from 'kysely';
import type { KpiConfig } from '../../src/config/index.ts';
import type { MetricsConfig } from '../../src/metrics/index.ts';
import type { Database, FactRow } from '../../src/warehouse/index.ts';
import type { Kysely } from 'kysely';

export function metricsConfig(overrides: { kpis?: KpiConfig[]; fxRates?: Record<string, number>; weekStart?: 'monday' | 'sunday'; currency?: string } = {}): MetricsConfig {
  return {
    kpis: overrides.kpis ?? [],
    reporting: { currency: overrides.currency ?? 'USD', timezone: 'UTC', weekStart: overrides.weekStart ?? 'monday', fxRates: overrides.fxRates ?? {} },
  };
}

export function kpi(name: string, formula: string, extra: Partial<KpiConfig> = {}): KpiConfig {
  return { name, formula, unit: 'ratio', direction: 'higher', ...extra };
}

type Source = Pick<FactRow, 'connector' | 'account' | 'campaign' | 'channel'> & { currency?: string | null };

/** Facts of one source: per date, metric -> value. */
export function facts(source: Source, days: Record<string, Record<string, number>>): FactRow[] {
  const out: FactRow[] = [];
  for (const [date, metrics] of Object.entries(days)) {
    for (const [metric, value] of Object.entries(metrics)) out.push({ date, ...source, metric, value, currency: source.currency ?? null });
  }
  return out;
}

export const ADS: Source = { connector: 'gads', account: 'acc', campaign: 'brand', channel: 'paid_search', currency: 'USD' };
export const GA4: Source = { connector: 'ga4', account: 'prop', campaign: '', channel: 'direct', currency: 'USD' };
export const SHOP: Source = { connector: 'shop', account: 'store', campaign: '', channel: '', currency: 'USD' };
export const MAIL: Source = { connector: 'mailchimp', account: 'list', campaign: 'newsletter', channel: 'email' };
export const GSC: Source = { connector: 'gsc', account: 'site', campaign: '', channel: 'organic_search' };
/** Two USD search campaigns on one account and a EUR social one on another: what recompute tests restate. */
export const CAMPAIGNS: readonly Source[] = [
  { connector: 'gads', account: 'us', campaign: 'a', channel: 'paid_search', currency: 'USD' },
  { connector: 'gads', account: 'us', campaign: 'b', channel: 'paid_search', currency: 'USD' },
  { connector: 'meta', account: 'eu', campaign: 'c', channel: 'paid_social', currency: 'EUR' },
];

/**
 * Two days (Monday 2026-03-02 and Tuesday 2026-03-03) with different ratios on each day,
 * so that a ratio of sums and an average of daily ratios tell apart.
 */
export const catalogueFacts: FactRow[] = [
  ...facts(ADS, {
    '2026-03-02': { impressions: 1000, clicks: 50, spend: 100, conversions: 5, conversion_value: 400 },
    '2026-03-03': { impressions: 3000, clicks: 30, spend: 60, conversions: 1, conversion_value: 100 },
  }),
  ...facts(GA4, {
    '2026-03-02': { sessions: 200, engaged_sessions: 120, key_events: 10, users: 150, transactions: 4, revenue: 800 },
    '2026-03-03': { sessions: 300, engaged_sessions: 150, key_events: 5, users: 250, transactions: 6, revenue: 700 },
  }),
  ...facts(SHOP, {
    '2026-03-02': { orders: 5, customers: 4, new_customers: 2, leads: 20, qualified_leads: 5 },
    '2026-03-03': { orders: 7, customers: 4, new_customers: 2, leads: 30, qualified_leads: 10 },
  }),
  ...facts(MAIL, {
    '2026-03-02': { email_sent: 1000, email_delivered: 950, email_unique_opens: 380, email_unique_clicks: 57, email_unsubscribes: 5, email_bounces: 50 },
    '2026-03-03': { email_sent: 500, email_delivered: 490, email_unique_opens: 100, email_unique_clicks: 30, email_unsubscribes: 2, email_bounces: 10 },
  }),
  ...facts(GSC, {
    '2026-03-02': { search_impressions: 2000, search_clicks: 40, search_position_sum: 8000 },
    '2026-03-03': { search_impressions: 1000, search_clicks: 60, search_position_sum: 2000 },
  }),
];

export async function clearWarehouse(db: Kysely<Database>): Promise<void> {
  await sql`truncate metric_facts, kpi_points, goal_snapshots, okr_snapshots`.execute(db);
}

export async function kpiRows(db: Kysely<Database>) {
  return db
    .selectFrom('kpi_values')
    .select(['kpi', 'grain', 'period_start', 'period_end', 'dimension', 'dimension_value', 'value'])
    .orderBy('kpi')
    .orderBy('grain')
    .orderBy('period_start')
    .orderBy('dimension')
    .orderBy('dimension_value')
    .execute();
}
