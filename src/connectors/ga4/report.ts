import { z } from 'zod';
import { channelFromGa4Group } from '../../core/vocabulary.ts';
import type { Fact, StreamInfo } from '../shared/connector.ts';
import type { DateRange } from '../../core/dates.ts';

/** The GA4 metrics we read, and the base metric each becomes. */
export const METRICS = [
  ['sessions', 'sessions'],
  ['totalUsers', 'users'],
  ['newUsers', 'new_users'],
  ['engagedSessions', 'engaged_sessions'],
  ['screenPageViews', 'page_views'],
  ['keyEvents', 'key_events'],
  ['purchaseRevenue', 'revenue'],
  ['transactions', 'transactions'],
] as const;
const MONEY = new Set<string>(['purchaseRevenue']);

export const DIMENSIONS = ['date', 'sessionDefaultChannelGroup', 'sessionCampaignName'] as const;

/**
 * GA4's placeholders for "no campaign": they are not campaigns, and keeping them would put
 * "(organic)" and "(direct)" next to real campaigns in every campaign breakdown.
 */
const NO_CAMPAIGN = new Set(['(not set)', '(organic)', '(direct)', '(referral)', '(none)', '(data not available)']);

export function reportRequest(window: DateRange, offset: number, limit: number) {
  return {
    dateRanges: [{ startDate: window.from, endDate: window.to }],
    dimensions: DIMENSIONS.map((name) => ({ name })),
    metrics: METRICS.map(([name]) => ({ name })),
    // Date first, so days come in order; then the other dimensions, so the row order is total
    // and offset pages can neither overlap nor skip rows.
    orderBys: DIMENSIONS.map((dimensionName) => ({ dimension: { dimensionName, orderType: 'ALPHANUMERIC' } })),
    offset: String(offset),
    limit: String(limit),
    returnPropertyQuota: true,
  };
}

interface ReportRow {
  dimensionValues?: Array<{ value?: unknown } | null> | null;
  metricValues?: Array<{ value?: unknown } | null> | null;
}

export interface ReportResponse {
  dimensionHeaders?: Array<{ name?: string | null }> | null;
  metricHeaders?: Array<{ name?: string | null }> | null;
  rows?: ReportRow[] | null;
  rowCount?: number | null;
  metadata?: {
    currencyCode?: string | null;
    timeZone?: string | null;
    subjectToThresholding?: boolean | null;
    samplingMetadatas?: unknown[] | null;
    dataLossFromOtherRow?: boolean | null;
  } | null;
  propertyQuota?: unknown;
}

/**
 * A row keyed by the response's own headers, values as GA4 sent them, so the record schema
 * (and quarantine) sees names rather than positions.
 */
export function rowRecords(res: ReportResponse): Array<Record<string, unknown>> {
  const dims = (res.dimensionHeaders ?? []).map((h) => h.name ?? '');
  const mets = (res.metricHeaders ?? []).map((h) => h.name ?? '');
  return (res.rows ?? []).map((row) => {
    const out: Record<string, unknown> = {};
    dims.forEach((name, i) => (out[name] = row.dimensionValues?.[i]?.value));
    mets.forEach((name, i) => (out[name] = row.metricValues?.[i]?.value));
    return out;
  });
}

// proto3 JSON sends metric values as decimal strings.
const decimal = z
  .string()
  .regex(/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/, 'expected a number sent as a string')
  .transform(Number);

export const ga4RecordSchema = z.object({
  date: z.string().regex(/^\d{8}$/, 'expected a date as YYYYMMDD'),
  sessionDefaultChannelGroup: z.string(),
  sessionCampaignName: z.string(),
  ...(Object.fromEntries(METRICS.map(([name]) => [name, decimal])) as Record<(typeof METRICS)[number][0], typeof decimal>),
});

export type Ga4Record = z.infer<typeof ga4RecordSchema>;

export function normalizeGa4(r: Ga4Record, info: StreamInfo): Fact[] {
  const date = `${r.date.slice(0, 4)}-${r.date.slice(4, 6)}-${r.date.slice(6, 8)}`;
  const channel = channelFromGa4Group(r.sessionDefaultChannelGroup);
  const campaign = NO_CAMPAIGN.has(r.sessionCampaignName) ? '' : r.sessionCampaignName;
  return METRICS.map(([name, metric]) => ({ date, campaign, channel, metric, value: r[name], currency: MONEY.has(name) ? info.currency : null }));
}
