import type { Dataset, Ga4Row } from './dataset.ts';
import { GA4_METRICS } from './dataset.ts';
import { addDays, compactDate, isIsoDate } from './dates.ts';
import { googleAuthOrServerError, googleError } from './google-errors.ts';
import { GOOGLE_STATIC_TOKEN } from './google-token.ts';
import { round2 } from './random.ts';
import { bearer, CredentialStore, json, lastResultCache, startFakeServer, type FakeApi, type FakeResponse, type FakeServer } from './server.ts';

/**
 * GA4 Data API v1beta, runReport only: POST /v1beta/properties/{id}:runReport; and of the
 * Admin API v1beta what tells which properties credentials see: GET /v1beta/accountSummaries
 * (paged by pageSize and pageToken) and GET /v1beta/properties/{id} (currency and time zone).
 */

/** The GA4 account that holds the data set's property, as the Admin API names it. */
export const GA4_ACCOUNT = { id: '1000', displayName: 'Example Inc' } as const;
export const GA4_PROPERTY_NAME = 'example.com (web)';

const DIMENSIONS = ['date', 'sessionDefaultChannelGroup', 'sessionCampaignName'] as const;
type Dimension = (typeof DIMENSIONS)[number];
type Metric = (typeof GA4_METRICS)[number];
const SCHEMA_HELP = 'For a list of valid dimensions and metrics, see https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema ';

export interface QuotaBucket {
  limit: number;
  /** Consumed so far; set it near `limit` to make the next request run out. */
  used: number;
}

export interface Ga4Settings {
  /** The "today" that relative dates (today, yesterday, NdaysAgo) count from; default the day after the data ends. */
  today: string;
  /** Server-side cap on rows per response (the real API stops at 250,000). */
  maxPageSize: number;
  /** Tokens each request costs. */
  tokensPerRequest: number;
  quota: { tokensPerDay: QuotaBucket; tokensPerHour: QuotaBucket; tokensPerProjectPerHour: QuotaBucket };
  /** Adds metadata.subjectToThresholding: true, as for properties with Google signals. */
  subjectToThresholding: boolean;
  /** Adds metadata.samplingMetadatas, as for a sampled report. */
  sampling: boolean;
}

interface Ga4FakeOptions {
  credentials?: CredentialStore;
  settings?: Partial<Ga4Settings>;
}

interface RunReportBody {
  dateRanges?: Array<{ startDate?: string; endDate?: string; name?: string }>;
  dimensions?: Array<{ name?: string }>;
  metrics?: Array<{ name?: string }>;
  limit?: string | number;
  offset?: string | number;
  orderBys?: OrderBy[];
  dimensionFilter?: FilterExpression;
  metricAggregations?: string[];
  returnPropertyQuota?: boolean;
}

interface OrderBy {
  desc?: boolean;
  dimension?: { dimensionName?: string; orderType?: string };
  metric?: { metricName?: string };
}

interface FilterExpression {
  andGroup?: { expressions?: FilterExpression[] };
  orGroup?: { expressions?: FilterExpression[] };
  notExpression?: FilterExpression;
  filter?: {
    fieldName?: string;
    stringFilter?: { matchType?: string; value?: string; caseSensitive?: boolean };
    inListFilter?: { values?: string[]; caseSensitive?: boolean };
  };
}

interface ReportRow {
  dims: string[];
  metrics: number[];
}

class BadRequest extends Error {}

export async function startGa4Fake(dataset: Dataset, options: Ga4FakeOptions = {}): Promise<FakeServer<Ga4Settings>> {
  const settings: Ga4Settings = {
    today: addDays(dataset.endDate, 1),
    maxPageSize: 250_000,
    tokensPerRequest: 10,
    quota: {
      tokensPerDay: { limit: 200_000, used: 0 },
      tokensPerHour: { limit: 40_000, used: 0 },
      tokensPerProjectPerHour: { limit: 14_000, used: 0 },
    },
    subjectToThresholding: false,
    sampling: false,
    ...options.settings,
  };
  const cache = lastResultCache<ReportRow[]>();
  const forbidden = 'User does not have sufficient permissions for this property. To learn more about Property ID, see https://developers.google.com/analytics/devguides/reporting/data/v1/property-id.';

  function resolveDate(s: string | undefined): string {
    if (s === 'today') return settings.today;
    if (s === 'yesterday') return addDays(settings.today, -1);
    const ago = s ? /^(\d+)daysAgo$/.exec(s) : null;
    if (ago) return addDays(settings.today, -Number(ago[1]));
    if (s && isIsoDate(s)) return s;
    throw new BadRequest(`Invalid date: ${String(s)}. Dates must be YYYY-MM-DD, NdaysAgo, yesterday, or today.`);
  }

  function runReport(body: RunReportBody): FakeResponse {
    const ranges = body.dateRanges ?? [];
    if (ranges.length === 0) throw new BadRequest('Must specify at least one date range.');
    if (ranges.length > 4) throw new BadRequest('Requests can have at most 4 dateRanges.');
    const dims = (body.dimensions ?? []).map((d) => String(d.name));
    const metrics = (body.metrics ?? []).map((m) => String(m.name));
    for (const d of dims) if (!(DIMENSIONS as readonly string[]).includes(d)) throw new BadRequest(`Field ${d} is not a valid dimension. ${SCHEMA_HELP}`);
    for (const m of metrics) if (!(GA4_METRICS as readonly string[]).includes(m)) throw new BadRequest(`Field ${m} is not a valid metric. ${SCHEMA_HELP}`);
    if (dims.length > 9) throw new BadRequest('Requests can have at most 9 dimensions.');
    if (metrics.length > 10) throw new BadRequest('Requests can have at most 10 metrics.');
    const limit = body.limit === undefined ? 10_000 : Number(body.limit);
    const offset = body.offset === undefined ? 0 : Number(body.offset);
    if (!Number.isInteger(limit) || limit < 0) throw new BadRequest(`limit must be positive: ${String(body.limit)}`);
    if (!Number.isInteger(offset) || offset < 0) throw new BadRequest(`offset must be positive: ${String(body.offset)}`);
    const resolved = ranges.map((r, i) => {
      const from = resolveDate(r.startDate);
      const to = resolveDate(r.endDate);
      if (from > to) throw new BadRequest(`Invalid date range: the start date ${from} is after the end date ${to}.`);
      return { from, to, name: r.name ?? `date_range_${i}` };
    });
    // A second date range makes GA4 add the dateRange dimension, named after each range.
    const headers = resolved.length > 1 ? [...dims, 'dateRange'] : dims;

    const key = JSON.stringify([dataset.version, resolved, dims, metrics, body.dimensionFilter, body.orderBys]);
    const all = cache(key, () => {
      const groups = new Map<string, ReportRow>();
      for (const range of resolved) {
        for (const row of dataset.ga4.range(range.from, range.to)) {
          if (body.dimensionFilter && !matches(body.dimensionFilter, row)) continue;
          const values = dims.map((d) => dimValue(row, d as Dimension));
          if (resolved.length > 1) values.push(range.name);
          const k = values.join('\u0001');
          let g = groups.get(k);
          if (!g) groups.set(k, (g = { dims: values, metrics: metrics.map(() => 0) }));
          metrics.forEach((m, i) => {
            g.metrics[i] = (g.metrics[i] ?? 0) + row[m as Metric];
          });
        }
      }
      return sortRows([...groups.values()], body.orderBys ?? [], headers, metrics);
    });

    const quotaResult = chargeQuota();
    if (quotaResult.exhausted) {
      return googleError(429, `Exhausted property tokens per ${quotaResult.exhausted}. The quota for this property has been exhausted; wait and retry.`);
    }
    const page = all.slice(offset, offset + Math.min(limit || 10_000, settings.maxPageSize));
    const fmt = (m: string, v: number): string => (m === 'purchaseRevenue' ? String(round2(v)) : String(Math.round(v)));
    const out: Record<string, unknown> = {
      dimensionHeaders: headers.map((name) => ({ name })),
      metricHeaders: metrics.map((name) => ({ name, type: name === 'purchaseRevenue' ? 'TYPE_CURRENCY' : 'TYPE_INTEGER' })),
    };
    if (page.length > 0) {
      out.rows = page.map((r) => ({ dimensionValues: r.dims.map((value) => ({ value })), metricValues: r.metrics.map((v, i) => ({ value: fmt(metrics[i] ?? '', v) })) }));
    }
    for (const agg of body.metricAggregations ?? []) {
      const name = ({ TOTAL: 'totals', MAXIMUM: 'maximums', MINIMUM: 'minimums' } as Record<string, string>)[agg];
      if (!name || all.length === 0) continue;
      const values = metrics.map((m, i) => {
        const col = all.map((r) => r.metrics[i] ?? 0);
        return fmt(m, agg === 'TOTAL' ? col.reduce((a, b) => a + b, 0) : agg === 'MAXIMUM' ? Math.max(...col) : Math.min(...col));
      });
      out[name] = [{ dimensionValues: headers.map(() => ({ value: `RESERVED_${agg}` })), metricValues: values.map((value) => ({ value })) }];
    }
    // proto3 JSON leaves out zero values, so an empty report has no rowCount at all.
    if (all.length > 0) out.rowCount = all.length;
    const metadata: Record<string, unknown> = { currencyCode: dataset.ga4.currencyCode, timeZone: dataset.ga4.timeZone };
    if (settings.subjectToThresholding) metadata.subjectToThresholding = true;
    if (settings.sampling) metadata.samplingMetadatas = resolved.map(() => ({ samplesReadCount: '4861902', samplingSpaceSize: '10000000' }));
    out.metadata = metadata;
    if (body.returnPropertyQuota) out.propertyQuota = quotaResult.report;
    out.kind = 'analyticsData#runReport';
    return json(200, out);
  }

  function chargeQuota(): { exhausted?: string; report: Record<string, { consumed: number; remaining: number }> } {
    const q = settings.quota;
    const cost = settings.tokensPerRequest;
    const buckets = [['day', q.tokensPerDay], ['hour', q.tokensPerHour], ['project per hour', q.tokensPerProjectPerHour]] as const;
    const empty = buckets.find(([, b]) => b.used + cost > b.limit);
    if (!empty) for (const [, b] of buckets) b.used += cost;
    const consumed = empty ? 0 : cost;
    const left = (b: QuotaBucket): number => Math.max(0, b.limit - b.used);
    return {
      exhausted: empty?.[0],
      report: {
        tokensPerDay: { consumed, remaining: left(q.tokensPerDay) },
        tokensPerHour: { consumed, remaining: left(q.tokensPerHour) },
        concurrentRequests: { consumed: 0, remaining: 10 },
        serverErrorsPerProjectPerHour: { consumed: 0, remaining: 10 },
        potentiallyThresholdedRequestsPerHour: { consumed: 0, remaining: 120 },
        tokensPerProjectPerHour: { consumed, remaining: left(q.tokensPerProjectPerHour) },
      },
    };
  }

  /** Admin API: the account summaries the caller sees, at most pageSize (default 50, up to 200) a page. */
  function accountSummaries(query: URLSearchParams): FakeResponse {
    const summaries = [
      {
        name: `accountSummaries/${GA4_ACCOUNT.id}`,
        account: `accounts/${GA4_ACCOUNT.id}`,
        displayName: GA4_ACCOUNT.displayName,
        propertySummaries: [
          { property: `properties/${dataset.ga4.propertyId}`, displayName: GA4_PROPERTY_NAME, propertyType: 'PROPERTY_TYPE_ORDINARY', parent: `accounts/${GA4_ACCOUNT.id}` },
        ],
      },
    ];
    const size = query.get('pageSize') === null ? 50 : Number(query.get('pageSize'));
    if (!Number.isInteger(size) || size < 0) return googleError(400, `Invalid value for pageSize: ${String(query.get('pageSize'))}`);
    const token = query.get('pageToken');
    const start = token ? Number(Buffer.from(token, 'base64url').toString('utf8')) : 0;
    if (!Number.isInteger(start) || start < 0) return googleError(400, 'Invalid page token.');
    const take = Math.min(size || 50, 200);
    const out: Record<string, unknown> = {};
    const page = summaries.slice(start, start + take);
    // proto3 JSON leaves out an empty list, and the token on the last page.
    if (page.length > 0) out.accountSummaries = page;
    if (start + take < summaries.length) out.nextPageToken = Buffer.from(String(start + take)).toString('base64url');
    return json(200, out);
  }

  /** Admin API: one property, with the currency and time zone its reports use. */
  function property(id: string): FakeResponse {
    if (id !== dataset.ga4.propertyId) return googleError(403, 'The caller does not have permission');
    return json(200, {
      name: `properties/${id}`,
      propertyType: 'PROPERTY_TYPE_ORDINARY',
      createTime: '2023-03-01T09:00:00.000Z',
      updateTime: '2024-01-15T10:30:00.000Z',
      parent: `accounts/${GA4_ACCOUNT.id}`,
      displayName: GA4_PROPERTY_NAME,
      industryCategory: 'SHOPPING',
      timeZone: dataset.ga4.timeZone,
      currencyCode: dataset.ga4.currencyCode,
      serviceLevel: 'GOOGLE_ANALYTICS_STANDARD',
      account: `accounts/${GA4_ACCOUNT.id}`,
    });
  }

  const api: FakeApi = {
    name: 'ga4',
    credential: bearer,
    error: (kind, _req, fault) =>
      googleAuthOrServerError(kind, 'analyticsdata.googleapis.com', false, fault, {
        forbidden,
        rateLimited: 'Exhausted property tokens per hour. The quota for this property has been exhausted; wait and retry.',
      }),
    typeChangePath: () => 'rows.0.metricValues.0.value',
    handle(req) {
      if (req.path === '/v1beta/accountSummaries') return req.method === 'GET' ? accountSummaries(req.query) : googleError(405, `Method ${req.method} not allowed.`);
      const admin = /^\/v1beta\/properties\/(\d+)$/.exec(req.path);
      if (admin?.[1]) return req.method === 'GET' ? property(admin[1]) : googleError(405, `Method ${req.method} not allowed.`);
      const m = /^\/v1beta\/properties\/([^/:]+)(?::|%3A)runReport$/i.exec(req.path);
      if (!m) return googleError(404, `Method not found: ${req.method} ${req.path}`);
      if (req.method !== 'POST') return googleError(405, `Method ${req.method} not allowed.`);
      if (m[1] !== dataset.ga4.propertyId) return googleError(403, forbidden);
      if (req.badJson || typeof req.body !== 'object' || req.body === null) return googleError(400, 'Invalid JSON payload received.');
      try {
        return runReport(req.body as RunReportBody);
      } catch (err) {
        if (err instanceof BadRequest) return googleError(400, err.message);
        throw err;
      }
    },
  };

  return startFakeServer(api, settings, options.credentials ?? new CredentialStore([GOOGLE_STATIC_TOKEN]));
}

function dimValue(row: Ga4Row, d: Dimension): string {
  return d === 'date' ? compactDate(row.date) : row[d];
}

function matches(expr: FilterExpression, row: Ga4Row): boolean {
  if (expr.andGroup) return (expr.andGroup.expressions ?? []).every((e) => matches(e, row));
  if (expr.orGroup) return (expr.orGroup.expressions ?? []).some((e) => matches(e, row));
  if (expr.notExpression) return !matches(expr.notExpression, row);
  const f = expr.filter;
  if (!f?.fieldName) return true;
  if (!(DIMENSIONS as readonly string[]).includes(f.fieldName)) throw new BadRequest(`Field ${f.fieldName} is not a valid dimension. ${SCHEMA_HELP}`);
  const raw = dimValue(row, f.fieldName as Dimension);
  if (f.inListFilter) {
    const cs = f.inListFilter.caseSensitive ?? true;
    return (f.inListFilter.values ?? []).some((v) => (cs ? v === raw : v.toLowerCase() === raw.toLowerCase()));
  }
  if (f.stringFilter) {
    const cs = f.stringFilter.caseSensitive ?? false;
    const value = cs ? raw : raw.toLowerCase();
    const want = cs ? (f.stringFilter.value ?? '') : (f.stringFilter.value ?? '').toLowerCase();
    switch (f.stringFilter.matchType ?? 'EXACT') {
      case 'EXACT':
        return value === want;
      case 'BEGINS_WITH':
        return value.startsWith(want);
      case 'ENDS_WITH':
        return value.endsWith(want);
      case 'CONTAINS':
        return value.includes(want);
      case 'FULL_REGEXP':
        return new RegExp(`^(?:${f.stringFilter.value ?? ''})$`, cs ? '' : 'i').test(raw);
      case 'PARTIAL_REGEXP':
        return new RegExp(f.stringFilter.value ?? '', cs ? '' : 'i').test(raw);
      default:
        throw new BadRequest(`Unknown matchType ${String(f.stringFilter.matchType)}`);
    }
  }
  return true;
}

/** The requested order first, then every dimension ascending, so pages never overlap. */
function sortRows(rows: ReportRow[], orderBys: OrderBy[], dims: string[], metrics: string[]): ReportRow[] {
  const cmps: Array<(a: ReportRow, b: ReportRow) => number> = [];
  for (const o of orderBys) {
    const sign = o.desc ? -1 : 1;
    if (o.dimension) {
      const i = dims.indexOf(o.dimension.dimensionName ?? '');
      if (i < 0) throw new BadRequest(`Field ${String(o.dimension.dimensionName)} in orderBys is not one of the requested dimensions.`);
      const type = o.dimension.orderType ?? 'ALPHANUMERIC';
      cmps.push((a, b) => {
        const x = a.dims[i] ?? '';
        const y = b.dims[i] ?? '';
        if (type === 'NUMERIC') return sign * (Number(x) - Number(y));
        if (type === 'CASE_INSENSITIVE_ALPHANUMERIC') return sign * cmpStr(x.toLowerCase(), y.toLowerCase());
        return sign * cmpStr(x, y);
      });
    } else if (o.metric) {
      const i = metrics.indexOf(o.metric.metricName ?? '');
      if (i < 0) throw new BadRequest(`Field ${String(o.metric.metricName)} in orderBys is not one of the requested metrics.`);
      cmps.push((a, b) => sign * ((a.metrics[i] ?? 0) - (b.metrics[i] ?? 0)));
    }
  }
  cmps.push((a, b) => cmpStr(a.dims.join('\u0001'), b.dims.join('\u0001')));
  return rows.sort((a, b) => {
    for (const c of cmps) {
      const r = c(a, b);
      if (r !== 0) return r;
    }
    return 0;
  });
}

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
