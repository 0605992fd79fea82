import { z } from 'zod';
import { DataError } from '../../core/errors.ts';
import { fact, type Fact, type StreamInfo } from '../shared/connector.ts';
import type { DateRange } from '../../core/dates.ts';
import type { MetaAdsConfig } from './config.ts';

export const INSIGHT_FIELDS = ['account_currency', 'campaign_id', 'campaign_name', 'impressions', 'reach', 'clicks', 'spend', 'actions', 'action_values', 'date_start', 'date_stop'];

/** The insights query for one window: one row per campaign and day. */
export function insightParams(window: DateRange): Record<string, string> {
  return {
    level: 'campaign',
    time_increment: '1',
    time_range: JSON.stringify({ since: window.from, until: window.to }),
    fields: INSIGHT_FIELDS.join(','),
  };
}

// Meta sends numbers as strings, and leaves out fields it has nothing for.
const amount = z
  .union([z.string().regex(/^-?\d+(\.\d+)?$/, 'expected a number sent as a string'), z.number()])
  .optional()
  .transform((v) => (v === undefined ? 0 : Number(v)));
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date as YYYY-MM-DD');
const actionList = z.array(z.object({ action_type: z.string(), value: amount })).optional().default([]);

export const insightSchema = z.object({
  campaign_id: z.string().optional(),
  campaign_name: z.string(),
  date_start: isoDate,
  date_stop: isoDate,
  impressions: amount,
  reach: amount,
  clicks: amount,
  spend: amount,
  actions: actionList,
  action_values: actionList,
});

export type Insight = z.infer<typeof insightSchema>;

function sumOf(list: Insight['actions'], types: readonly string[]): number {
  return list.filter((a) => types.includes(a.action_type)).reduce((s, a) => s + a.value, 0);
}

export function normalizeInsight(r: Insight, info: StreamInfo, config: Pick<MetaAdsConfig, 'actions' | 'actionValues'>): Fact[] {
  if (r.date_start !== r.date_stop) throw new DataError(`insight covers ${r.date_start}..${r.date_stop}; expected one day (time_increment=1)`);
  const date = r.date_start;
  const campaign = r.campaign_name;
  // campaign_id is asked for (INSIGHT_FIELDS): the campaign is keyed by it, its name can change.
  const id = r.campaign_id ?? '';
  const out: Fact[] = [
    fact(date, campaign, 'paid_social', 'impressions', r.impressions, null, id),
    // Reach counts people per day; summed over days it is an upper bound (see the vocabulary).
    fact(date, campaign, 'paid_social', 'reach', r.reach, null, id),
    fact(date, campaign, 'paid_social', 'clicks', r.clicks, null, id),
    fact(date, campaign, 'paid_social', 'spend', r.spend, info.currency, id),
  ];
  for (const [metric, types] of Object.entries(config.actions)) out.push(fact(date, campaign, 'paid_social', metric, sumOf(r.actions, types), null, id));
  for (const [metric, types] of Object.entries(config.actionValues)) {
    // Rounded so that 0.1 + 0.2 does not reach the warehouse as 0.30000000000000004.
    out.push(fact(date, campaign, 'paid_social', metric, Math.round(sumOf(r.action_values, types) * 1e6) / 1e6, info.currency, id));
  }
  return out;
}
