import type { Dataset, SearchConsoleRow } from './dataset.ts';
import { addDays, isIsoDate } from './dates.ts';
import { googleAuthOrServerError, googleError } from './google-errors.ts';
import { GOOGLE_STATIC_TOKEN } from './google-token.ts';
import { bearer, CredentialStore, json, lastResultCache, startFakeServer, type FakeApi, type FakeResponse, type FakeServer } from './server.ts';

/**
 * Search Console API (webmasters v3): POST /webmasters/v3/sites/{siteUrl}/searchAnalytics/query
 * and GET /webmasters/v3/sites. Rows come sorted by clicks, highest first, as the real API does.
 */

const DIMENSIONS = ['date', 'query', 'page'] as const;
type Dimension = (typeof DIMENSIONS)[number];
const OTHER_DIMENSIONS = ['country', 'device', 'searchAppearance', 'hour'];

export interface SearchConsoleSettings {
  /** Newest days that only dataState 'all' shows; 'final' data lags this many days behind. */
  freshDays: number;
  /** Server-side cap on rowLimit (the real API allows 25,000). */
  maxPageSize: number;
}

interface SearchConsoleFakeOptions {
  credentials?: CredentialStore;
  settings?: Partial<SearchConsoleSettings>;
}

interface QueryBody {
  startDate?: string;
  endDate?: string;
  dimensions?: string[];
  type?: string;
  searchType?: string;
  aggregationType?: string;
  rowLimit?: number;
  startRow?: number;
  dataState?: string;
  dimensionFilterGroups?: Array<{ groupType?: string; filters?: Array<{ dimension?: string; operator?: string; expression?: string }> }>;
}

interface OutRow {
  keys: string[];
  clicks: number;
  impressions: number;
  ctr: number;
  position: number;
}

class BadRequest extends Error {}

export async function startSearchConsoleFake(dataset: Dataset, options: SearchConsoleFakeOptions = {}): Promise<FakeServer<SearchConsoleSettings>> {
  const settings: SearchConsoleSettings = { freshDays: 2, maxPageSize: 25_000, ...options.settings };
  const cache = lastResultCache<OutRow[]>();
  const siteUrl = dataset.searchConsole.siteUrl;
  const forbiddenFor = (site: string): string => `User does not have sufficient permission for site '${site}'. See also: https://support.google.com/webmasters/answer/2451999.`;
  const bad = (message: string): FakeResponse => googleError(400, message, { legacy: [{ message, domain: 'global', reason: 'invalidParameter' }] });

  function query(body: QueryBody): FakeResponse {
    if (!body.startDate || !isIsoDate(body.startDate)) throw new BadRequest(body.startDate ? `Invalid value for startDate: ${body.startDate}` : 'Required field startDate is missing.');
    if (!body.endDate || !isIsoDate(body.endDate)) throw new BadRequest(body.endDate ? `Invalid value for endDate: ${body.endDate}` : 'Required field endDate is missing.');
    if (body.startDate > body.endDate) throw new BadRequest('startDate must be earlier than or equal to endDate.');
    const dims = body.dimensions ?? [];
    for (const d of dims) {
      if (OTHER_DIMENSIONS.includes(d)) throw new BadRequest(`The sandbox data set has no '${d}' dimension; use date, query or page.`);
      if (!(DIMENSIONS as readonly string[]).includes(d)) throw new BadRequest(`Invalid value at 'dimensions': "${d}"`);
    }
    const rowLimit = body.rowLimit ?? 1000;
    const startRow = body.startRow ?? 0;
    if (!Number.isInteger(rowLimit) || rowLimit < 1 || rowLimit > 25_000) throw new BadRequest('rowLimit must be between 1 and 25000.');
    if (!Number.isInteger(startRow) || startRow < 0) throw new BadRequest('startRow must be a non-negative integer.');
    const dataState = body.dataState ?? 'final';
    if (!['final', 'all', 'hourly_all'].includes(dataState)) throw new BadRequest(`Invalid value for dataState: ${dataState}`);
    const aggregation = body.aggregationType ?? 'auto';
    if (aggregation === 'byProperty' && dims.includes('page')) throw new BadRequest('Cannot aggregate by property when grouping or filtering by page.');
    const type = (body.type ?? body.searchType ?? 'web').toLowerCase();

    const lastDay = dataState === 'final' ? addDays(dataset.endDate, -settings.freshDays) : dataset.endDate;
    const to = body.endDate < lastDay ? body.endDate : lastDay;
    const key = JSON.stringify([dataset.version, body.startDate, to, dims, type, body.dimensionFilterGroups]);
    const all = cache(key, () => {
      // Only web search is in the data set; the other search types simply have no rows.
      if (type !== 'web') return [];
      const groups = new Map<string, OutRow & { weighted: number }>();
      for (const row of dataset.searchConsole.range(body.startDate, to)) {
        if (!passes(body.dimensionFilterGroups, row)) continue;
        const keys = dims.map((d) => row[d as Dimension]);
        const k = keys.join('\u0001');
        let g = groups.get(k);
        if (!g) groups.set(k, (g = { keys, clicks: 0, impressions: 0, ctr: 0, position: 0, weighted: 0 }));
        g.clicks += row.clicks;
        g.impressions += row.impressions;
        g.weighted += row.position * row.impressions;
      }
      return [...groups.values()]
        .map(({ weighted, ...g }) => ({ ...g, ctr: g.impressions ? g.clicks / g.impressions : 0, position: g.impressions ? weighted / g.impressions : 0 }))
        .sort((a, b) => b.clicks - a.clicks || b.impressions - a.impressions || cmp(a.keys.join('\u0001'), b.keys.join('\u0001')));
    });
    const page = all.slice(startRow, startRow + Math.min(rowLimit, settings.maxPageSize));
    const out: Record<string, unknown> = {};
    if (page.length > 0) out.rows = page;
    out.responseAggregationType = aggregation === 'auto' ? (dims.includes('page') ? 'byPage' : 'byProperty') : aggregation;
    return json(200, out);
  }

  const api: FakeApi = {
    name: 'search-console',
    credential: bearer,
    error: (kind, _req, fault) =>
      googleAuthOrServerError(kind, 'searchconsole.googleapis.com', true, fault, {
        forbidden: forbiddenFor(siteUrl),
        rateLimited: "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service 'searchconsole.googleapis.com'.",
      }),
    typeChangePath: () => 'rows.0.clicks',
    handle(req) {
      if (req.path === '/webmasters/v3/sites' && req.method === 'GET') {
        return json(200, { siteEntry: [{ siteUrl, permissionLevel: 'siteOwner' }] });
      }
      const m = /^\/webmasters\/v3\/sites\/([^/]+)\/searchAnalytics\/query$/.exec(req.path);
      if (!m?.[1]) return googleError(404, `Not Found: ${req.path}`);
      if (req.method !== 'POST') return googleError(405, `Method ${req.method} not allowed.`);
      let site: string;
      try {
        site = decodeURIComponent(m[1]);
      } catch {
        return bad(`Invalid site URL: ${m[1]}`);
      }
      if (site !== siteUrl) return googleError(403, forbiddenFor(site), { legacy: [{ message: forbiddenFor(site), domain: 'global', reason: 'forbidden' }] });
      if (req.badJson || typeof req.body !== 'object' || req.body === null) return bad('Invalid JSON payload received.');
      try {
        return query(req.body as QueryBody);
      } catch (err) {
        if (err instanceof BadRequest) return bad(err.message);
        throw err;
      }
    },
  };

  return startFakeServer(api, settings, options.credentials ?? new CredentialStore([GOOGLE_STATIC_TOKEN]));
}

function passes(groups: QueryBody['dimensionFilterGroups'], row: SearchConsoleRow): boolean {
  for (const group of groups ?? []) {
    const results = (group.filters ?? []).map((f) => {
      if (!f.dimension || !(['query', 'page'] as string[]).includes(f.dimension)) throw new BadRequest(`Cannot filter on dimension '${String(f.dimension)}' in the sandbox.`);
      const value = row[f.dimension as 'query' | 'page'];
      const expr = f.expression ?? '';
      switch (f.operator ?? 'equals') {
        case 'equals':
          return value === expr;
        case 'notEquals':
          return value !== expr;
        case 'contains':
          return value.toLowerCase().includes(expr.toLowerCase());
        case 'notContains':
          return !value.toLowerCase().includes(expr.toLowerCase());
        case 'includingRegex':
          return new RegExp(expr).test(value);
        case 'excludingRegex':
          return !new RegExp(expr).test(value);
        default:
          throw new BadRequest(`Invalid operator: ${String(f.operator)}`);
      }
    });
    if (!results.every(Boolean)) return false;
  }
  return true;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
