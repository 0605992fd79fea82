import { randomUUID } from 'node:crypto';
import type { Dataset, HubspotDeal } from './dataset.ts';
import { bearer, CredentialStore, json, startFakeServer, type ErrorKind, type FakeApi, type FakeRequest, type FakeResponse, type FakeServer } from './server.ts';

/**
 * HubSpot's CRM search API for deals, from its public reference: POST
 * /crm/v3/objects/deals/search with filterGroups (BETWEEN, GTE, LTE, EQ on a property),
 * properties, sorts, limit (at most 200) and the `after` cursor; the answer is
 * { total, results: [{ id, properties (all texts), createdAt, updatedAt, archived }], paging:
 * { next: { after, link } } } with paging left out on the last page, and at most 10 000 results
 * per query. GET /account-info/v3/details gives the portal's id, time zone and currency. A
 * private app's access token goes in `Authorization: Bearer`. Errors are
 * { status: "error", message, correlationId, category }; a throttle is a 429 with errorType
 * RATE_LIMIT and policyName SECONDLY.
 */

export const HUBSPOT_ACCESS_TOKEN = 'pat-eu1-0a1b2c3d-4e5f-6789-abcd-ef0123456789';

export interface HubspotSettings {
  /** Largest `limit` accepted (200 in the real API; more is a 400). */
  maxPageSize: number;
  /** Results served per page at most, whatever the limit: a test's way to make a window take many pages. */
  servePageSize: number;
}

const error = (status: number, category: string, message: string, extra: Record<string, unknown> = {}, headers?: Record<string, string>): FakeResponse => ({
  status,
  body: { status: 'error', message, correlationId: randomUUID(), category, ...extra },
  ...(headers ? { headers } : {}),
});

const MAX_RESULTS = 10_000;

interface Filter {
  propertyName?: unknown;
  operator?: unknown;
  value?: unknown;
  highValue?: unknown;
}

function properties(d: HubspotDeal): Record<string, string | null> {
  const won = d.dealstage === 'closedwon';
  const closed = won || d.dealstage === 'closedlost';
  return {
    amount: d.amount,
    closedate: d.closedate,
    createdate: new Date(Date.parse(d.closedate) - 21 * 86_400_000).toISOString(),
    dealname: d.dealname,
    dealstage: d.dealstage,
    hs_is_closed: String(closed),
    hs_is_closed_won: String(won),
    hs_lastmodifieddate: d.closedate,
    hs_object_id: d.id,
    pipeline: d.pipeline,
  };
}

/** A filter's value as the epoch milliseconds HubSpot compares dates in (or an ISO date it also takes). */
function millis(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return typeof v === 'string' ? Date.parse(v) : Number.NaN;
}

export async function startHubspotFake(dataset: Dataset, options: { credentials?: CredentialStore; settings?: Partial<HubspotSettings> } = {}): Promise<FakeServer<HubspotSettings>> {
  const settings: HubspotSettings = { maxPageSize: 200, servePageSize: 200, ...options.settings };

  function errorFor(kind: ErrorKind, req: FakeRequest): FakeResponse {
    switch (kind) {
      case 'missingCredentials':
      case 'invalidCredentials':
      case 'expiredCredentials':
      case 'revokedCredentials':
        return error(401, 'INVALID_AUTHENTICATION', 'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview');
      case 'forbidden':
        return error(403, 'MISSING_SCOPES', "This app hasn't been granted all required scopes to make this call.", {
          errors: [{ message: 'One or more of the following scopes are required.', context: { requiredGranularScopes: ['crm.objects.deals.read'] } }],
        });
      case 'rateLimited':
        return {
          status: 429,
          body: { status: 'error', message: 'You have reached your secondly limit.', errorType: 'RATE_LIMIT', correlationId: randomUUID(), policyName: 'SECONDLY', groupName: 'publicapi:search' },
          ...(req.fault?.retryAfterSec !== undefined ? { headers: { 'retry-after': String(req.fault.retryAfterSec) } } : {}),
        };
      case 'internal':
        return error(500, 'INTERNAL_ERROR', 'internal error');
      case 'unavailable':
        return error(503, 'SERVICE_UNAVAILABLE', 'Service Unavailable');
    }
  }

  function search(req: FakeRequest): FakeResponse {
    if (req.badJson || req.body === null || typeof req.body !== 'object') return error(400, 'VALIDATION_ERROR', 'Invalid input JSON on line 1');
    const body = req.body as { filterGroups?: Array<{ filters?: Filter[] }>; limit?: unknown; after?: unknown; properties?: unknown; sorts?: unknown };
    const limit = body.limit === undefined ? 10 : Number(body.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > settings.maxPageSize) return error(400, 'VALIDATION_ERROR', `limit must be between 1 and ${settings.maxPageSize}`);
    const after = body.after === undefined ? 0 : Number(body.after);
    if (!Number.isInteger(after) || after < 0) return error(400, 'VALIDATION_ERROR', 'after must be a non-negative integer in a string');
    if (after + limit > MAX_RESULTS) return error(400, 'VALIDATION_ERROR', `Search API can only return ${MAX_RESULTS} results`);
    const groups = body.filterGroups ?? [];
    if (groups.length > 5) return error(400, 'VALIDATION_ERROR', 'Too many filter groups (max 5)');
    const matchesFilter = (d: HubspotDeal, f: Filter): boolean => {
      const value = properties(d)[String(f.propertyName)];
      if (value === undefined || value === null) return false;
      const isDate = f.propertyName === 'closedate' || f.propertyName === 'createdate' || f.propertyName === 'hs_lastmodifieddate';
      const v = isDate ? Date.parse(value) : Number(value);
      switch (f.operator) {
        case 'BETWEEN':
          return v >= millis(f.value) && v <= millis(f.highValue);
        case 'GTE':
          return v >= millis(f.value);
        case 'LTE':
          return v <= millis(f.value);
        case 'EQ':
          return value === String(f.value);
        default:
          throw new Error(`unsupported operator ${String(f.operator)}`);
      }
    };
    let all: HubspotDeal[];
    try {
      all = [...dataset.hubspot.range()].filter((d) => groups.length === 0 || groups.some((g) => (g.filters ?? []).every((f) => matchesFilter(d, f))));
    } catch (err) {
      return error(400, 'VALIDATION_ERROR', (err as Error).message);
    }
    // Sorted as asked when by close date; by id otherwise (HubSpot's default order).
    const sorts = Array.isArray(body.sorts) ? body.sorts : [];
    const byClose = sorts.some((s) => s === 'closedate' || (s as { propertyName?: unknown })?.propertyName === 'closedate');
    all.sort((a, b) => (byClose ? a.closedate.localeCompare(b.closedate) : a.id.localeCompare(b.id)));
    const wanted = Array.isArray(body.properties) && body.properties.length > 0 ? new Set(body.properties.map(String)) : new Set(['createdate', 'hs_lastmodifieddate', 'hs_object_id', 'dealname', 'amount', 'closedate', 'dealstage', 'pipeline']);
    const served = Math.min(limit, settings.servePageSize);
    const page = all.slice(after, after + served).map((d) => {
      const props = properties(d);
      return {
        id: d.id,
        properties: Object.fromEntries(Object.entries(props).filter(([k]) => wanted.has(k) || k === 'hs_object_id' || k === 'createdate' || k === 'hs_lastmodifieddate')),
        createdAt: props.createdate,
        updatedAt: d.closedate,
        archived: false,
      };
    });
    const next = after + served;
    return json(200, {
      total: all.length,
      results: page,
      ...(next < all.length ? { paging: { next: { after: String(next), link: `${req.baseUrl}/crm/v3/objects/deals/search?after=${next}` } } } : {}),
    });
  }

  const api: FakeApi = {
    name: 'hubspot',
    credential: bearer,
    error: errorFor,
    typeChangePath: () => 'results.0.properties.closedate',
    handle(req) {
      if (req.path === '/crm/v3/objects/deals/search') return req.method === 'POST' ? search(req) : error(405, 'VALIDATION_ERROR', 'Method Not Allowed');
      if (req.path === '/account-info/v3/details' && req.method === 'GET') {
        return json(200, { portalId: dataset.hubspot.portalId, accountType: 'STANDARD', timeZone: dataset.hubspot.timeZone, companyCurrency: dataset.hubspot.currency, additionalCurrencies: [], utcOffset: '+00:00', utcOffsetMilliseconds: 0, uiDomain: 'app-eu1.hubspot.com', dataHostingLocation: 'eu1' });
      }
      return error(404, 'OBJECT_NOT_FOUND', 'resource not found');
    },
  };
  return startFakeServer(api, settings, options.credentials ?? new CredentialStore([HUBSPOT_ACCESS_TOKEN]));
}
