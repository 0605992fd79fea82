import { z } from 'zod';
import { fact, type Fact } from '../shared/connector.ts';

/** One searchAnalytics row of a date × query × page report, keyed by name for the schema and quarantine. */
export function rowRecord(row: { keys?: unknown; clicks?: unknown; impressions?: unknown; position?: unknown }): Record<string, unknown> {
  const keys = Array.isArray(row.keys) ? row.keys : [];
  return { date: keys[0], query: keys[1], page: keys[2], clicks: row.clicks, impressions: row.impressions, position: row.position };
}

const count = z.number().nonnegative();

export const searchRecordSchema = z.object({
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date as YYYY-MM-DD'),
  query: z.string(),
  page: z.string(),
  clicks: count,
  impressions: count,
  position: z.number().nonnegative(),
});

export type SearchRecord = z.infer<typeof searchRecordSchema>;

/**
 * Position is an average per row, so it is stored as position × impressions: summed over
 * pages, days or queries and divided by summed impressions it gives the right average.
 */
export function normalizeSearch(r: SearchRecord, dimension: 'query' | 'page'): Fact[] {
  const campaign = r[dimension];
  return [
    fact(r.date, campaign, 'organic_search', 'search_clicks', r.clicks, null),
    fact(r.date, campaign, 'organic_search', 'search_impressions', r.impressions, null),
    // Rounded so float noise (6.53 × 2400 = 15672.000000000002) does not reach the warehouse.
    fact(r.date, campaign, 'organic_search', 'search_position_sum', Math.round(r.position * r.impressions * 1e6) / 1e6, null),
  ];
}
