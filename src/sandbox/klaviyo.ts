import { randomUUID } from 'node:crypto';
import { DateTime } from 'luxon';
import type { Dataset, KlaviyoMetric, KlaviyoRow } from './dataset.ts';
import { addDays, dateRange } from './dates.ts';
import { CredentialStore, json, startFakeServer, type ErrorKind, type FakeApi, type FakeRequest, type FakeResponse, type FakeServer } from './server.ts';

/**
 * Klaviyo's REST API, from its public reference: Query Metric Aggregates,
 * POST /api/metric-aggregates/ (the path without its slash too) with a JSON:API body
 * `{data: {type: "metric-aggregate", attributes: {metric_id, measurements: ["count", "unique",
 * "sum_value"], interval, by, filter, timezone, page_size, page_cursor}}}`; the filter must hold a
 * `greater-or-equal(datetime,…)` and a `less-than(datetime,…)`, at most a year apart. The answer
 * is in columns: `data.attributes.dates` (the start of each interval) beside
 * `data.attributes.data[]`, one row per group of `by` with `dimensions` and
 * `measurements.{count,unique}[]`, one number per date; `links.next` pages through the groups
 * (page_size at most 500). GET /api/accounts/ lists the key's one account (timezone,
 * preferred_currency). The private key goes in `Authorization: Klaviyo-API-Key pk_…`, and every
 * request names an API revision (YYYY-MM-DD) in the `revision` header. Errors are JSON:API
 * `{errors: [{id, status, code, title, detail, source}]}`; a 429 says when to come back in
 * Retry-After.
 *
 * The sandbox serves `interval: day` over whole days of the given timezone, grouped by nothing,
 * `$message` and `Campaign Name`, for the email metrics of the data set.
 */

export const KLAVIYO_API_KEY = 'pk_sandbox_8f3a1c6e2b9d4f7a0c5e1b3d9f2a4c6e8b';

export interface KlaviyoSettings {
  /** Groups served per page at most, whatever page_size asks: a test's way to make many pages. */
  servePageSize: number;
  /**
   * A hostile or broken API: each Query Metric Aggregates answer (status 200) passed through
   * this first, which may change the body in place or return another response. Unset: as served.
   */
  tamper?: (body: KlaviyoAnswer, req: FakeRequest) => FakeResponse | void;
}

/** The body of a Query Metric Aggregates answer, as `tamper` sees it. */
export interface KlaviyoAnswer {
  data: { type: string; id: string; attributes: { dates: unknown[]; data: { dimensions: unknown[]; measurements: Record<string, unknown[]> }[] } | null; links: { self: string } } | null;
  links: { self: string; next?: string };
}

const MEASURES = ['count', 'unique', 'sum_value'] as const;
const BY = ['$message', 'Campaign Name'] as const;
const REVISION = /^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/;

function errors(status: number, code: string, title: string, detail: string, headers?: Record<string, string>, pointer?: string): FakeResponse {
  return json(status, { errors: [{ id: randomUUID(), status, code, title, detail, ...(pointer ? { source: { pointer } } : {}) }] }, headers);
}
const invalid = (detail: string, pointer = '/data/attributes') => errors(400, 'invalid', 'Invalid input.', detail, undefined, pointer);

/** The counts a row holds for one metric: `count` (events) and `unique` (profiles). */
function measuresOf(row: KlaviyoRow, metric: KlaviyoMetric): { count: number; unique: number } {
  switch (metric) {
    case 'received':
      return { count: row.received, unique: row.received };
    case 'opened':
      return { count: row.opened, unique: row.uniqueOpened };
    case 'clicked':
      return { count: row.clicked, unique: row.uniqueClicked };
    case 'bounced':
      return { count: row.bounced, unique: row.bounced };
    case 'unsubscribed':
      return { count: row.unsubscribed, unique: row.unsubscribed };
    case 'spam':
      return { count: row.spam, unique: row.spam };
  }
}

/** `greater-or-equal(datetime,X)` / `less-than(datetime,Y)` as instants: an offset or Z where given, else in `zone`. */
function instantOf(text: string, zone: string): DateTime | undefined {
  const hasOffset = /(Z|[+-]\d{2}:?\d{2})$/.test(text);
  const t = DateTime.fromISO(text, hasOffset ? { setZone: true } : { zone });
  return t.isValid ? t : undefined;
}

export async function startKlaviyoFake(dataset: Dataset, options: { credentials?: CredentialStore; settings?: Partial<KlaviyoSettings> } = {}): Promise<FakeServer<KlaviyoSettings>> {
  const settings: KlaviyoSettings = { servePageSize: 500, ...options.settings };
  const k = dataset.klaviyo;
  const metricById = new Map(Object.entries(k.metrics).map(([key, m]) => [m.id, key as KlaviyoMetric]));

  function errorFor(kind: ErrorKind, _req: FakeRequest, fault?: { retryAfterSec?: number }): FakeResponse {
    switch (kind) {
      case 'missingCredentials':
        return errors(401, 'not_authenticated', 'Authentication credentials were not provided.', 'Missing or invalid private key.', undefined, '/data/');
      case 'invalidCredentials':
      case 'expiredCredentials':
      case 'revokedCredentials':
        return errors(401, 'authentication_failed', 'Incorrect authentication credentials.', 'Incorrect authentication credentials.', undefined, '/data/');
      case 'forbidden':
        return errors(403, 'permission_denied', 'You do not have permission to perform this action.', 'You do not have permission to perform this action.');
      case 'rateLimited': {
        const wait = fault?.retryAfterSec ?? 1;
        return errors(429, 'throttled', 'Request was throttled.', `Request was throttled. Expected available in ${wait} second${wait === 1 ? '' : 's'}.`, { 'Retry-After': String(wait) });
      }
      case 'internal':
        return errors(500, 'error', 'A server error occurred.', 'A server error occurred.');
      case 'unavailable':
        return { status: 503, text: '<html><body><h1>503 Service Unavailable</h1></body></html>', headers: { 'content-type': 'text/html' } };
    }
  }

  function aggregates(req: FakeRequest): FakeResponse {
    if (req.method !== 'POST') return errors(405, 'method_not_allowed', 'Method not allowed.', `Method "${req.method}" not allowed.`);
    if (req.badJson) return errors(400, 'parse_error', 'Malformed JSON.', 'JSON parse error.', undefined, '/data');
    const data = (req.body as { data?: { type?: unknown; attributes?: Record<string, unknown> } } | undefined)?.data;
    if (!data || data.type !== 'metric-aggregate' || !data.attributes) return invalid("expected {data: {type: 'metric-aggregate', attributes: {…}}}", '/data');
    const a = data.attributes;
    const metric = typeof a.metric_id === 'string' ? metricById.get(a.metric_id) : undefined;
    if (!metric) return errors(404, 'not_found', 'Not found.', `Metric with id ${String(a.metric_id)} does not exist.`, undefined, '/data/attributes/metric_id');
    const measurements = a.measurements;
    if (!Array.isArray(measurements) || measurements.length === 0 || !measurements.every((m) => (MEASURES as readonly unknown[]).includes(m))) return invalid(`measurements: a list of ${MEASURES.join(', ')}`, '/data/attributes/measurements');
    if ((a.interval ?? 'day') !== 'day') return invalid('interval: the sandbox serves "day" only', '/data/attributes/interval');
    const by = a.by ?? [];
    if (!Array.isArray(by) || !by.every((b) => (BY as readonly unknown[]).includes(b))) return invalid(`by: the sandbox groups by ${BY.join(', ')}`, '/data/attributes/by');
    const zone = typeof a.timezone === 'string' && a.timezone ? a.timezone : 'UTC';
    if (!DateTime.now().setZone(zone).isValid) return invalid(`timezone: unknown time zone "${zone}"`, '/data/attributes/timezone');
    const filters = Array.isArray(a.filter) ? a.filter.map(String) : typeof a.filter === 'string' ? [a.filter] : [];
    const bound = (op: string) => {
      const m = filters.map((f) => new RegExp(`^${op}\\(datetime,([^)]+)\\)$`).exec(f.trim())).find(Boolean);
      return m ? instantOf(m[1]!, zone) : undefined;
    };
    const start = bound('greater-or-equal');
    const end = bound('less-than');
    if (!start || !end) return invalid('filter: give greater-or-equal(datetime,…) and less-than(datetime,…) with ISO 8601 datetimes', '/data/attributes/filter');
    if (end <= start) return invalid('filter: the end of the time range must be after its start', '/data/attributes/filter');
    if (end.diff(start, 'days').days > 366) return invalid('filter: the time range may span a year at most', '/data/attributes/filter');
    const first = start.setZone(zone);
    const after = end.setZone(zone);
    if (+first !== +first.startOf('day') || +after !== +after.startOf('day')) return invalid(`filter: the sandbox serves whole days of ${zone}`, '/data/attributes/filter');
    const from = first.toISODate()!;
    const to = addDays(after.toISODate()!, -1);
    const dates = dateRange(from, to);
    const pageSize = a.page_size === undefined ? 500 : Number(a.page_size);
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 500) return invalid('page_size: between 1 and 500', '/data/attributes/page_size');

    // One group per distinct value of `by`, holding events of this metric in the range.
    const groups = new Map<string, { dimensions: string[]; count: number[]; unique: number[] }>();
    dates.forEach((date, i) => {
      for (const row of k.day(date)) {
        const m = measuresOf(row, metric);
        if (m.count === 0) continue;
        const dimensions = by.map((b) => (b === '$message' ? row.messageId : row.messageName));
        const key = JSON.stringify(dimensions);
        let g = groups.get(key);
        if (!g) groups.set(key, (g = { dimensions, count: dates.map(() => 0), unique: dates.map(() => 0) }));
        g.count[i]! += m.count;
        g.unique[i]! += m.unique;
      }
    });
    const all = [...groups.values()];
    const cursor = req.query.get('page_cursor') ?? (typeof a.page_cursor === 'string' ? a.page_cursor : '0');
    const offset = /^\d+$/.test(cursor) ? Number(cursor) : Number.NaN;
    if (!Number.isFinite(offset)) return invalid('page_cursor: not a cursor this query gave', '/data/attributes/page_cursor');
    const size = Math.min(pageSize, settings.servePageSize);
    const rows = all.slice(offset, offset + size).map((g) => ({
      dimensions: g.dimensions,
      measurements: Object.fromEntries(measurements.map((m) => [m, m === 'unique' ? g.unique : m === 'count' ? g.count : g.count.map(() => 0)])),
    }));
    const self = `${req.baseUrl}/api/metric-aggregates/`;
    const links = { self, ...(offset + size < all.length ? { next: `${self}?page_cursor=${offset + size}` } : {}) };
    const body: KlaviyoAnswer = {
      data: { type: 'metric-aggregate', id: randomUUID(), attributes: { dates: dates.map((d) => DateTime.fromISO(d, { zone }).toISO({ suppressMilliseconds: true })), data: rows }, links: { self } },
      links,
    };
    return settings.tamper?.(body, req) ?? json(200, body);
  }

  const api: FakeApi = {
    name: 'klaviyo',
    credential: (req) => {
      const m = /^Klaviyo-API-Key (\S+)$/.exec(String(req.headers.authorization ?? ''));
      return m?.[1];
    },
    error: errorFor,
    typeChangePath: () => 'data.attributes.data.0.measurements.count.0',
    handle(req) {
      const revision = req.headers.revision;
      if (typeof revision !== 'string' || !REVISION.test(revision)) return errors(400, 'invalid', 'Invalid input.', 'The revision header is required, a date such as 2024-10-15.', undefined, '/headers/revision');
      const path = req.path.replace(/\/$/, '');
      if (path === '/api/metric-aggregates') return aggregates(req);
      if (path === '/api/accounts' && req.method === 'GET') {
        return json(200, {
          data: [{
            type: 'account', id: k.accountId,
            attributes: {
              test_account: false,
              contact_information: { default_sender_name: k.organization, default_sender_email: 'news@example.com', website_url: 'https://example.com', organization_name: k.organization, street_address: { address1: '1 Main St', address2: '', city: 'Boston', region: 'MA', country: 'US', zip: '02110' } },
              industry: 'Ecommerce', timezone: k.timeZone, preferred_currency: k.currency, public_api_key: 'AbC123', locale: 'en-US',
            },
            links: { self: `${req.baseUrl}/api/accounts/${k.accountId}/` },
          }],
          links: { self: `${req.baseUrl}/api/accounts/` },
        });
      }
      return errors(404, 'not_found', 'Not found.', `No route for ${req.method} ${req.path}.`);
    },
  };
  return startFakeServer(api, settings, options.credentials ?? new CredentialStore([KLAVIYO_API_KEY]));
}
