import type { AdNetworkType, Dataset, GoogleAdsCampaign, GoogleAdsCustomer } from './dataset.ts';
import { addDays, isIsoDate } from './dates.ts';
import { camelPath, GaqlError, parseGaql, type GaqlCondition, type GaqlQuery } from './gaql.ts';
import { requestId } from './google-errors.ts';
import { GOOGLE_STATIC_TOKEN } from './google-token.ts';
import { round2 } from './random.ts';
import { bearer, CredentialStore, decodeCursor, encodeCursor, json, startFakeServer, type ErrorKind, type Fault, type FakeApi, type FakeRequest, type FakeResponse, type FakeServer } from './server.ts';

/**
 * Google Ads API over REST: POST /v{N}/customers/{id}/googleAds:searchStream (one JSON array
 * of result batches) and googleAds:search (pages with nextPageToken), and
 * GET /v{N}/customers:listAccessibleCustomers. Queries are GAQL over FROM campaign, or FROM
 * customer for the customer's own fields. int64 fields (ids, impressions, clicks, cost_micros)
 * are JSON strings.
 */

/** The manager account (MCC) the sandbox's client customers sit under. */
export const GOOGLE_ADS_MANAGER = { descriptiveName: 'Example Agency (MCC)', currencyCode: 'USD', timeZone: 'America/New_York' } as const;

export const GOOGLE_ADS_DEVELOPER_TOKEN = 'sandbox-developer-token';

export interface GoogleAdsSettings {
  developerToken: string;
  /** Require a login-customer-id header, as when the credentials belong to a manager account. */
  requireLoginCustomerId: boolean;
  /** Rows per searchStream batch and per search page (10,000 in the real API). */
  batchSize: number;
  /** The day DURING ranges (LAST_7_DAYS, YESTERDAY, …) count back from; default the day after the data ends. */
  today: string;
  /**
   * Customer ids listAccessibleCustomers answers with (the ones the user was invited to
   * directly); default the manager and every client customer.
   */
  accessibleCustomerIds?: string[];
}

interface GoogleAdsFakeOptions {
  credentials?: CredentialStore;
  settings?: Partial<GoogleAdsSettings>;
}

interface AdsError {
  errorCode: Record<string, string>;
  message: string;
  trigger?: { stringValue: string };
  details?: unknown;
}

interface Group {
  customer: GoogleAdsCustomer;
  campaign: GoogleAdsCampaign;
  date?: string;
  network?: AdNetworkType;
  impressions: number;
  clicks: number;
  costMicros: number;
  conversions: number;
  conversionsValue: number;
}

const HTTP_STATUS: Record<number, string> = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE' };
const TOP_MESSAGE: Record<number, string> = {
  400: 'Request contains an invalid argument.',
  401: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
  403: 'The caller does not have permission',
  404: 'Requested entity was not found.',
  429: 'Resource has been exhausted (e.g. check quota).',
  500: 'Internal error encountered.',
  503: 'The service is currently unavailable.',
};

function channelType(c: GoogleAdsCampaign): string {
  if (c.networks.includes('YOUTUBE_WATCH')) return 'VIDEO';
  if (!c.networks.includes('SEARCH')) return 'DISPLAY';
  return 'SEARCH';
}

const FIELDS: Record<string, (g: Group) => unknown> = {
  'campaign.resource_name': (g) => `customers/${g.customer.id}/campaigns/${g.campaign.id}`,
  'campaign.id': (g) => g.campaign.id,
  'campaign.name': (g) => g.campaign.name,
  'campaign.status': (g) => g.campaign.status,
  'campaign.advertising_channel_type': (g) => channelType(g.campaign),
  'customer.resource_name': (g) => `customers/${g.customer.id}`,
  'customer.id': (g) => g.customer.id,
  'customer.descriptive_name': (g) => g.customer.descriptiveName,
  'customer.currency_code': (g) => g.customer.currencyCode,
  'customer.time_zone': (g) => g.customer.timeZone,
  'customer.manager': () => false,
  'segments.date': (g) => g.date,
  'segments.ad_network_type': (g) => g.network,
  'metrics.impressions': (g) => String(g.impressions),
  'metrics.clicks': (g) => String(g.clicks),
  'metrics.cost_micros': (g) => String(g.costMicros),
  'metrics.conversions': (g) => round2(g.conversions),
  'metrics.conversions_value': (g) => round2(g.conversionsValue),
  'metrics.ctr': (g) => (g.impressions ? g.clicks / g.impressions : 0),
  'metrics.average_cpc': (g) => (g.clicks ? g.costMicros / g.clicks : 0),
};
const FILTERABLE = ['segments.date', 'segments.ad_network_type', 'campaign.id', 'campaign.name', 'campaign.status'];

export async function startGoogleAdsFake(dataset: Dataset, options: GoogleAdsFakeOptions = {}): Promise<FakeServer<GoogleAdsSettings>> {
  const settings: GoogleAdsSettings = {
    developerToken: GOOGLE_ADS_DEVELOPER_TOKEN,
    requireLoginCustomerId: false,
    batchSize: 10_000,
    today: addDays(dataset.endDate, 1),
    ...options.settings,
  };

  function failure(status: number, errors: AdsError[], version: string, stream: boolean, headers?: Record<string, string>, message?: string): FakeResponse {
    const body = {
      error: {
        code: status,
        message: message ?? TOP_MESSAGE[status] ?? 'Unknown error.',
        status: HTTP_STATUS[status] ?? 'UNKNOWN',
        details: [{ '@type': `type.googleapis.com/google.ads.googleads.${version}.errors.GoogleAdsFailure`, errors, requestId: requestId() }],
      },
    };
    // searchStream answers with a stream of messages, so even its errors come inside an array.
    return { status, body: stream ? [body] : body, headers };
  }

  function routeOf(req: FakeRequest): { version: string; customerId: string; method: string } | undefined {
    const m = /^\/(v\d+)\/customers\/([^/:]+)\/googleAds(?::|%3A)(searchStream|search)$/i.exec(req.path);
    return m?.[1] && m[2] && m[3] ? { version: m[1], customerId: m[2], method: m[3] } : undefined;
  }

  function errorFor(kind: ErrorKind, req: FakeRequest, fault?: Fault): FakeResponse {
    const route = routeOf(req);
    const version = route?.version ?? 'v21';
    const stream = route?.method === 'searchStream';
    const auth = (code: string, message?: string): FakeResponse =>
      failure(401, [{ errorCode: { authenticationError: code }, message: 'Authentication of the request failed.' }], version, stream, { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' }, message);
    switch (kind) {
      case 'missingCredentials':
        return auth('OAUTH_TOKEN_HEADER_INVALID', 'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.');
      case 'invalidCredentials':
        return auth('OAUTH_TOKEN_INVALID');
      case 'expiredCredentials':
        return auth('OAUTH_TOKEN_EXPIRED');
      case 'revokedCredentials':
        return auth('OAUTH_TOKEN_REVOKED');
      case 'forbidden':
        return permissionDenied(version, stream);
      case 'rateLimited': {
        const delay = fault?.retryAfterSec ?? 30;
        return failure(
          429,
          [{
            errorCode: { quotaError: 'RESOURCE_EXHAUSTED' },
            message: `Too many requests. Retry in ${delay} seconds.`,
            details: { quotaErrorDetails: { rateScope: 'DEVELOPER', rateName: 'Number of operations for basic access', retryDelay: `${delay}s` } },
          }],
          version,
          stream,
          fault?.retryAfterSec !== undefined ? { 'retry-after': String(fault.retryAfterSec) } : undefined,
        );
      }
      case 'internal':
        return failure(500, [{ errorCode: { internalError: 'INTERNAL_ERROR' }, message: 'An internal error has occurred.' }], version, stream);
      case 'unavailable':
        return failure(503, [{ errorCode: { internalError: 'TRANSIENT_ERROR' }, message: 'The service is currently unavailable.' }], version, stream);
    }
  }

  function permissionDenied(version: string, stream: boolean): FakeResponse {
    return failure(
      403,
      [{
        errorCode: { authorizationError: 'USER_PERMISSION_DENIED' },
        message: "User doesn't have permission to access customer. Note: If you're accessing a client customer, the manager's customer id must be set in the 'login-customer-id' header. See https://developers.google.com/google-ads/api/docs/concepts/call-structure#cid",
      }],
      version,
      stream,
    );
  }

  function dateWindow(conds: GaqlCondition[]): { from: string; to: string; filtered: boolean } {
    let from = dataset.startDate;
    let to = dataset.endDate;
    let filtered = false;
    const check = (v: string): string => {
      if (!isIsoDate(v)) throw new GaqlError('BAD_VALUE_IN_WHERE_CLAUSE', `Error in WHERE clause: invalid date '${v}'; dates are YYYY-MM-DD.`, v);
      return v;
    };
    for (const c of conds.filter((c) => c.field === 'segments.date')) {
      filtered = true;
      const [a = '', b = ''] = c.values;
      const lower = (d: string): void => void (from = d > from ? d : from);
      const upper = (d: string): void => void (to = d < to ? d : to);
      switch (c.op) {
        case '=':
          lower(check(a));
          upper(a);
          break;
        case '>=':
          lower(check(a));
          break;
        case '>':
          lower(addDays(check(a), 1));
          break;
        case '<=':
          upper(check(a));
          break;
        case '<':
          upper(addDays(check(a), -1));
          break;
        case 'BETWEEN':
          lower(check(a));
          upper(check(b));
          break;
        case 'DURING': {
          const r = during(a.toUpperCase(), settings.today);
          lower(r.from);
          upper(r.to);
          break;
        }
        default:
          throw new GaqlError('PROHIBITED_FIELD_IN_WHERE_CLAUSE', `Error in WHERE clause: operator ${c.op} is not supported on segments.date.`, c.op);
      }
    }
    return { from, to, filtered };
  }

  function rowsFor(customer: GoogleAdsCustomer, q: GaqlQuery): Group[] {
    if (q.from !== 'campaign') throw new GaqlError('INVALID_RESOURCE_TYPE_IN_FROM_CLAUSE', `Error in FROM clause: the sandbox only serves FROM campaign, not '${q.from}'.`, q.from);
    for (const f of [...q.select, ...q.orderBy.map((o) => o.field)]) {
      if (!FIELDS[f]) throw new GaqlError('UNRECOGNIZED_FIELD', `Error in query: unrecognized field in the query: '${f}'.`, f);
    }
    for (const c of q.where) {
      if (!FIELDS[c.field]) throw new GaqlError('UNRECOGNIZED_FIELD', `Error in query: unrecognized field in the query: '${c.field}'.`, c.field);
      if (!FILTERABLE.includes(c.field)) throw new GaqlError('PROHIBITED_FIELD_IN_WHERE_CLAUSE', `Error in WHERE clause: the sandbox cannot filter on '${c.field}'.`, c.field);
    }
    const window = dateWindow(q.where);
    if (q.select.includes('segments.date') && !window.filtered) {
      throw new GaqlError('EXPECTED_FILTERS_ON_DATE_RANGE', 'Error in query: segments.date in SELECT requires a finite date range on segments.date in the WHERE clause.', 'segments.date');
    }
    const byDate = q.select.includes('segments.date');
    const byNetwork = q.select.includes('segments.ad_network_type');
    const wantsData = byDate || byNetwork || q.select.some((f) => f.startsWith('metrics.'));
    const others = q.where.filter((c) => c.field !== 'segments.date');
    const keep = (g: Group): boolean => others.every((c) => test(c, String(FIELDS[c.field]?.(g) ?? '')));

    const groups = new Map<string, Group>();
    if (wantsData) {
      for (const row of dataset.googleAds.range(window.from, window.to)) {
        if (row.customerId !== customer.id) continue;
        const campaign = customer.campaigns.find((c) => c.id === row.campaignId);
        if (!campaign) continue;
        const probe: Group = { customer, campaign, date: row.date, network: row.adNetworkType, impressions: 0, clicks: 0, costMicros: 0, conversions: 0, conversionsValue: 0 };
        if (!keep(probe)) continue;
        const key = [row.campaignId, byDate ? row.date : '', byNetwork ? row.adNetworkType : ''].join('|');
        let g = groups.get(key);
        if (!g) groups.set(key, (g = { ...probe, date: byDate ? row.date : undefined, network: byNetwork ? row.adNetworkType : undefined }));
        g.impressions += row.impressions;
        g.clicks += row.clicks;
        g.costMicros += row.costMicros;
        g.conversions += row.conversions;
        g.conversionsValue += row.conversionsValue;
      }
    } else {
      for (const campaign of customer.campaigns) {
        const g: Group = { customer, campaign, impressions: 0, clicks: 0, costMicros: 0, conversions: 0, conversionsValue: 0 };
        if (keep(g)) groups.set(campaign.id, g);
      }
    }
    const order = q.orderBy.length > 0 ? q.orderBy : [{ field: 'segments.date', desc: false }, { field: 'campaign.id', desc: false }, { field: 'segments.ad_network_type', desc: false }];
    const sorted = [...groups.values()].sort((a, b) => {
      for (const o of order) {
        const x = FIELDS[o.field]?.(a);
        const y = FIELDS[o.field]?.(b);
        const numeric = /^metrics\.|\.id$/.test(o.field);
        const r = numeric ? Number(x ?? 0) - Number(y ?? 0) : String(x ?? '') < String(y ?? '') ? -1 : String(x ?? '') > String(y ?? '') ? 1 : 0;
        if (r !== 0) return o.desc ? -r : r;
      }
      return 0;
    });
    return q.limit !== undefined ? sorted.slice(0, q.limit) : sorted;
  }

  /** One result row in the REST shape: nested objects keyed by camelCase, plus the FROM resource's resourceName. */
  function toResult(g: Group, select: string[]): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    const put = (field: string): void => {
      const value = FIELDS[field]?.(g);
      if (value === undefined) return;
      const [resource = '', ...rest] = camelPath(field).split('.');
      (out[resource] ??= {})[rest.join('.')] = value;
    };
    put('campaign.resource_name');
    if (select.some((f) => f.startsWith('customer.'))) put('customer.resource_name');
    for (const f of select) put(f);
    return out;
  }

  /** The manager as a customer of its own: it has no campaigns, and is a manager. */
  const manager: GoogleAdsCustomer = { id: dataset.googleAds.managerCustomerId, ...GOOGLE_ADS_MANAGER, campaigns: [] };
  const customerById = (id: string): GoogleAdsCustomer | undefined => (id === manager.id ? manager : dataset.googleAds.customers.find((c) => c.id === id));

  /** GET customers:listAccessibleCustomers: no login-customer-id, only the developer token and OAuth. */
  function listAccessible(req: FakeRequest, version: string): FakeResponse {
    if (req.method !== 'GET') return json(405, { error: { code: 405, message: `Method ${req.method} not allowed.`, status: 'UNIMPLEMENTED' } });
    if (req.headers['developer-token'] !== settings.developerToken) {
      return failure(401, [{ errorCode: { authenticationError: 'DEVELOPER_TOKEN_INVALID' }, message: 'The developer token is not valid.' }], version, false);
    }
    const ids = settings.accessibleCustomerIds ?? [manager.id, ...dataset.googleAds.customers.map((c) => c.id)];
    return json(200, { resourceNames: ids.map((id) => `customers/${id}`) });
  }

  /** FROM customer: one row of the customer's own fields; the sandbox has no metrics at customer level. */
  function customerRows(customer: GoogleAdsCustomer, q: GaqlQuery): Array<Record<string, Record<string, unknown>>> {
    const fields: Record<string, () => unknown> = {
      'customer.resource_name': () => `customers/${customer.id}`,
      'customer.id': () => customer.id,
      'customer.descriptive_name': () => customer.descriptiveName,
      'customer.currency_code': () => customer.currencyCode,
      'customer.time_zone': () => customer.timeZone,
      'customer.manager': () => customer.id === manager.id,
    };
    for (const f of [...q.select, ...q.where.map((c) => c.field), ...q.orderBy.map((o) => o.field)]) {
      if (!fields[f]) throw new GaqlError('UNRECOGNIZED_FIELD', `Error in query: unrecognized field in the query: '${f}'.`, f);
    }
    if (q.where.length > 0) throw new GaqlError('PROHIBITED_FIELD_IN_WHERE_CLAUSE', 'Error in WHERE clause: the sandbox cannot filter FROM customer.', q.where[0]?.field);
    const row: Record<string, Record<string, unknown>> = { customer: { resourceName: `customers/${customer.id}` } };
    for (const f of q.select) {
      const value = fields[f]?.();
      // proto3 JSON leaves false out.
      if (value !== false) row.customer![camelPath(f).split('.').slice(1).join('.')] = value;
    }
    return q.limit === 0 ? [] : [row];
  }

  async function handle(req: FakeRequest): Promise<FakeResponse> {
    const list = /^\/(v\d+)\/customers(?::|%3A)listAccessibleCustomers$/i.exec(req.path);
    if (list?.[1]) return listAccessible(req, list[1]);
    const route = routeOf(req);
    if (!route) return json(404, { error: { code: 404, message: `The requested URL ${req.path} was not found on this server.`, status: 'NOT_FOUND' } });
    const { version, customerId, method } = route;
    const stream = method === 'searchStream';
    if (req.method !== 'POST') return json(405, { error: { code: 405, message: `Method ${req.method} not allowed.`, status: 'UNIMPLEMENTED' } });
    const devToken = req.headers['developer-token'];
    if (devToken !== settings.developerToken) {
      return failure(401, [{ errorCode: { authenticationError: 'DEVELOPER_TOKEN_INVALID' }, message: 'The developer token is not valid.' }], version, stream);
    }
    const login = req.headers['login-customer-id'];
    if (login !== undefined) {
      const id = String(login);
      if (!/^\d{10}$/.test(id)) {
        return failure(400, [{ errorCode: { headerError: 'INVALID_LOGIN_CUSTOMER_ID' }, message: 'The login customer ID header value is invalid; it must be 10 digits without dashes.', trigger: { stringValue: id } }], version, stream);
      }
      if (id !== dataset.googleAds.managerCustomerId && id !== customerId) return permissionDenied(version, stream);
    } else if (settings.requireLoginCustomerId) {
      return permissionDenied(version, stream);
    }
    const customer = customerById(customerId);
    if (!customer) return permissionDenied(version, stream);
    const body = req.body as { query?: unknown; pageToken?: unknown } | undefined;
    if (req.badJson || typeof body?.query !== 'string' || !body.query.trim()) {
      return failure(400, [{ errorCode: { queryError: 'QUERY_ERROR' }, message: 'The query must not be empty.' }], version, stream);
    }

    let results: Array<Record<string, Record<string, unknown>>>;
    let q: GaqlQuery;
    try {
      q = parseGaql(body.query);
      results = q.from === 'customer' ? customerRows(customer, q) : rowsFor(customer, q).map((g) => toResult(g, q.select));
    } catch (err) {
      if (!(err instanceof GaqlError)) throw err;
      const e: AdsError = { errorCode: { queryError: err.code }, message: err.message };
      if (err.trigger !== undefined) e.trigger = { stringValue: err.trigger };
      return failure(400, [e], version, stream);
    }
    const fieldMask = q.select.map(camelPath).join(',');
    const size = Math.max(1, settings.batchSize);

    if (stream) {
      const batches: unknown[] = [];
      for (let i = 0; i < results.length; i += size) batches.push({ results: results.slice(i, i + size), fieldMask, requestId: requestId() });
      if (batches.length === 0) batches.push({ fieldMask, requestId: requestId() });
      return json(200, batches);
    }
    let offset = 0;
    if (typeof body.pageToken === 'string' && body.pageToken) {
      const cur = decodeCursor(body.pageToken);
      if (typeof cur?.offset !== 'number' || cur.q !== body.query) {
        return failure(400, [{ errorCode: { requestError: 'INVALID_PAGE_TOKEN' }, message: 'Page token is invalid.' }], version, false);
      }
      offset = cur.offset;
    }
    const page: Record<string, unknown> = { results: results.slice(offset, offset + size), fieldMask, requestId: requestId() };
    if (offset + size < results.length) page.nextPageToken = encodeCursor({ offset: offset + size, q: body.query });
    return json(200, page);
  }

  const api: FakeApi = {
    name: 'google-ads',
    credential: bearer,
    error: errorFor,
    typeChangePath: (body) => (Array.isArray(body) ? '0.results.0.metrics.clicks' : 'results.0.metrics.clicks'),
    handle,
  };

  return startFakeServer(api, settings, options.credentials ?? new CredentialStore([GOOGLE_STATIC_TOKEN]));
}

function test(c: GaqlCondition, value: string): boolean {
  const [v = ''] = c.values;
  switch (c.op) {
    case '=':
      return value === v;
    case '!=':
      return value !== v;
    case 'IN':
      return c.values.includes(value);
    case 'NOT IN':
      return !c.values.includes(value);
    case 'LIKE':
      return new RegExp(`^${v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*').replace(/_/g, '.')}$`).test(value);
    default:
      throw new GaqlError('PROHIBITED_FIELD_IN_WHERE_CLAUSE', `Error in WHERE clause: operator ${c.op} is not supported here.`, c.op);
  }
}

function during(range: string, today: string): { from: string; to: string } {
  const yesterday = addDays(today, -1);
  const lastN = /^LAST_(\d+)_DAYS$/.exec(range);
  if (lastN) return { from: addDays(today, -Number(lastN[1])), to: yesterday };
  switch (range) {
    case 'TODAY':
      return { from: today, to: today };
    case 'YESTERDAY':
      return { from: yesterday, to: yesterday };
    case 'THIS_MONTH':
      return { from: `${today.slice(0, 7)}-01`, to: today };
    case 'LAST_MONTH': {
      const end = addDays(`${today.slice(0, 7)}-01`, -1);
      return { from: `${end.slice(0, 7)}-01`, to: end };
    }
    default:
      throw new GaqlError('INVALID_VALUE_WITH_DURING_OPERATOR', `Error in WHERE clause: invalid date range '${range}' for DURING.`, range);
  }
}
