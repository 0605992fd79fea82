import { z } from 'zod';
import { channelFromAdNetwork } from '../../core/vocabulary.ts';
import { fact, type Fact, type StreamInfo } from '../shared/connector.ts';
import type { DateRange } from '../../core/dates.ts';

/**
 * Ordered by date so the stream hands days over in order; the window bounds the rows. The
 * customer's currency and zone ride along on every row (any campaign carries its customer's
 * attributes), so no sync after a customer's first asks for them separately.
 */
export function reportQuery(window: DateRange): string {
  return [
    'SELECT customer.currency_code, customer.time_zone, campaign.id, campaign.name, segments.date, segments.ad_network_type,',
    'metrics.impressions, metrics.clicks, metrics.cost_micros, metrics.conversions, metrics.conversions_value',
    'FROM campaign',
    `WHERE segments.date BETWEEN '${window.from}' AND '${window.to}'`,
    'ORDER BY segments.date',
  ].join(' ');
}

/**
 * Any campaign carries its customer's attributes; FROM customer would be the textbook query
 * and is equally valid. A customer without campaigns has no rows here, and no data either.
 */
export const CUSTOMER_QUERY = 'SELECT customer.currency_code, customer.time_zone FROM campaign LIMIT 1';

export const customerRowSchema = z.object({
  customer: z.object({ currencyCode: z.string().min(3), timeZone: z.string().min(1) }),
});

// int64 fields come as JSON strings, doubles as numbers; proto3 JSON leaves zeros out entirely.
const int64 = z
  .union([z.string().regex(/^-?\d+$/, 'expected an integer sent as a string'), z.number().int()])
  .optional()
  .transform((v) => (v === undefined ? 0 : Number(v)));
const double = z
  .union([z.number(), z.string().regex(/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/, 'expected a number')])
  .optional()
  .transform((v) => (v === undefined ? 0 : Number(v)));

export const adsRowSchema = z.object({
  campaign: z.object({ id: z.string().optional(), name: z.string() }),
  segments: z.object({
    date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date as YYYY-MM-DD'),
    adNetworkType: z.string().default('UNSPECIFIED'),
  }),
  metrics: z
    .object({ impressions: int64, clicks: int64, costMicros: int64, conversions: double, conversionsValue: double })
    .default({ impressions: 0, clicks: 0, costMicros: 0, conversions: 0, conversionsValue: 0 }),
});

export type AdsRow = z.infer<typeof adsRowSchema>;

export function normalizeAdsRow(r: AdsRow, info: StreamInfo): Fact[] {
  const date = r.segments.date;
  const campaign = r.campaign.name;
  // campaign.id is selected, so it is always there; a campaign is keyed by it, its name can change.
  const id = r.campaign.id ?? '';
  const channel = channelFromAdNetwork(r.segments.adNetworkType);
  const m = r.metrics;
  return [
    fact(date, campaign, channel, 'impressions', m.impressions, null, id),
    fact(date, campaign, channel, 'clicks', m.clicks, null, id),
    fact(date, campaign, channel, 'spend', m.costMicros / 1e6, info.currency, id),
    fact(date, campaign, channel, 'conversions', m.conversions, null, id),
    fact(date, campaign, channel, 'conversion_value', m.conversionsValue, info.currency, id),
  ];
}
