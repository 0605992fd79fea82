import { DateTime } from 'luxon';
import type { Dataset, ShopOrder } from './dataset.ts';
import { addDays } from './dates.ts';
import { CredentialStore, decodeCursor, encodeCursor, json, lastResultCache, startFakeServer, type ErrorKind, type FakeApi, type FakeRequest, type FakeResponse, type FakeServer } from './server.ts';

/**
 * A shop's order API in the style of Shopify's REST Admin API: GET /orders (also /orders.json
 * and /admin/api/{version}/orders.json) with created_at filters and cursor pages linked from
 * the Link header. The generic JSON connector reads it.
 */

export const SHOP_ACCESS_TOKEN = 'shpat_sandbox_token';

export interface ShopSettings {
  defaultPageSize: number;
  /** Largest `limit` (250 in Shopify). */
  maxPageSize: number;
}

interface ShopFakeOptions {
  credentials?: CredentialStore;
  settings?: Partial<ShopSettings>;
}

interface Cursor {
  min?: string;
  max?: string;
  order: string;
  offset: number;
  fields?: string;
}

const errors = (status: number, message: unknown, headers?: Record<string, string>): FakeResponse => ({ status, body: { errors: message }, headers });
const ORDERINGS = ['created_at asc', 'created_at desc', 'id asc', 'id desc'];
// With page_info, the cursor already holds the filters, so Shopify refuses any other than these.
const ALLOWED_WITH_PAGE_INFO = new Set(['page_info', 'limit', 'fields']);

export async function startShopFake(dataset: Dataset, options: ShopFakeOptions = {}): Promise<FakeServer<ShopSettings>> {
  const settings: ShopSettings = { defaultPageSize: 50, maxPageSize: 250, ...options.settings };
  const zone = dataset.shop.timeZone;
  const recent: number[] = [];
  const cache = lastResultCache<ShopOrder[]>();

  function errorFor(kind: ErrorKind, req: FakeRequest): FakeResponse {
    switch (kind) {
      case 'missingCredentials':
      case 'invalidCredentials':
      case 'expiredCredentials':
      case 'revokedCredentials':
        return errors(401, '[API] Invalid API key or access token (unrecognized login or wrong password)');
      case 'forbidden':
        return errors(403, '[API] This action requires merchant approval for read_orders scope.');
      case 'rateLimited':
        return errors(429, 'Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.', { 'retry-after': (req.fault?.retryAfterSec ?? 2).toFixed(1) });
      case 'internal':
        return errors(500, 'Internal Server Error');
      case 'unavailable':
        return errors(503, 'Service Unavailable');
    }
  }

  /** ISO 8601 instant; a bare date means midnight in the shop's time zone. */
  function instant(value: string | undefined, name: string): number | undefined {
    if (!value) return undefined;
    const dt = /^\d{4}-\d{2}-\d{2}$/.test(value) ? DateTime.fromISO(value, { zone }) : DateTime.fromISO(value, { setZone: true });
    if (!dt.isValid) throw new BadRequest({ [name]: `${name} is invalid` });
    return dt.toMillis();
  }

  function ordersFor(c: Cursor): ShopOrder[] {
    const min = instant(c.min, 'created_at_min');
    const max = instant(c.max, 'created_at_max');
    return cache(JSON.stringify([dataset.version, c.min, c.max, c.order]), () => {
      // A day either side, since the filter's offset need not be the shop's.
      const from = min === undefined ? dataset.startDate : addDays(new Date(min).toISOString().slice(0, 10), -1);
      const to = max === undefined ? dataset.endDate : addDays(new Date(max).toISOString().slice(0, 10), 1);
      const list: ShopOrder[] = [];
      for (const o of dataset.shop.range(from, to)) {
        const t = Date.parse(o.created_at);
        if ((min === undefined || t >= min) && (max === undefined || t <= max)) list.push(o);
      }
      const [field, dir] = c.order.split(' ');
      const sign = dir === 'desc' ? -1 : 1;
      return list.sort((a, b) => sign * (field === 'id' ? a.id - b.id : Date.parse(a.created_at) - Date.parse(b.created_at) || a.id - b.id));
    });
  }

  function handle(req: FakeRequest): FakeResponse {
    const now = Date.now();
    recent.push(now);
    while (recent.length && (recent[0] ?? now) < now - 20_000) recent.shift();
    const callLimit = { 'x-shopify-shop-api-call-limit': `${Math.min(40, recent.length)}/40` };

    if (req.method !== 'GET') return errors(406, 'Not Acceptable');
    const isOrders = /^\/(?:admin\/api\/[0-9-]+\/)?orders(?:\.json)?$/.test(req.path);
    const isCount = /^\/(?:admin\/api\/[0-9-]+\/)?orders\/count(?:\.json)?$/.test(req.path);
    if (!isOrders && !isCount) return errors(404, 'Not Found');
    const q = req.query;
    try {
      const limitRaw = q.get('limit');
      const limit = limitRaw === null ? settings.defaultPageSize : Number(limitRaw);
      if (!Number.isInteger(limit) || limit < 1 || limit > 250) throw new BadRequest({ limit: 'must be between 1 and 250' });
      let cursor: Cursor;
      const pageInfo = q.get('page_info');
      if (pageInfo !== null && isOrders) {
        for (const key of q.keys()) {
          if (!ALLOWED_WITH_PAGE_INFO.has(key)) throw new BadRequest({ [key]: `${key} cannot be passed when page_info is present.` });
        }
        const raw = decodeCursor(pageInfo);
        if (!raw || typeof raw.offset !== 'number' || typeof raw.order !== 'string') throw new BadRequest({ page_info: 'Invalid value.' });
        cursor = { ...(raw as unknown as Cursor), fields: q.get('fields') ?? undefined };
      } else {
        const order = q.get('order') ?? 'created_at desc';
        if (!ORDERINGS.includes(order)) throw new BadRequest({ order: `order must be one of ${ORDERINGS.join(', ')}` });
        cursor = { min: q.get('created_at_min') ?? undefined, max: q.get('created_at_max') ?? undefined, order, offset: 0, fields: q.get('fields') ?? undefined };
      }
      let all = ordersFor(cursor);
      const sinceId = q.get('since_id');
      if (sinceId !== null && pageInfo === null) all = all.filter((o) => o.id > Number(sinceId)).sort((a, b) => a.id - b.id);
      if (isCount) return json(200, { count: all.length }, callLimit);

      const size = Math.min(limit, settings.maxPageSize);
      const page = all.slice(cursor.offset, cursor.offset + size);
      const wanted = cursor.fields?.split(',').map((f) => f.trim()).filter(Boolean);
      const orders = wanted?.length ? page.map((o) => Object.fromEntries(Object.entries(o).filter(([k]) => wanted.includes(k)))) : page;
      const link = (offset: number): string => {
        const p = new URLSearchParams({ limit: String(limit) });
        if (cursor.fields) p.set('fields', cursor.fields);
        p.set('page_info', encodeCursor({ min: cursor.min, max: cursor.max, order: cursor.order, offset }));
        return `<${req.baseUrl}${req.path}?${p.toString()}>`;
      };
      const rels: string[] = [];
      if (cursor.offset > 0) rels.push(`${link(Math.max(0, cursor.offset - size))}; rel="previous"`);
      if (cursor.offset + size < all.length && sinceId === null) rels.push(`${link(cursor.offset + size)}; rel="next"`);
      const headers: Record<string, string> = { ...callLimit };
      if (rels.length) headers.link = rels.join(', ');
      return json(200, { orders }, headers);
    } catch (err) {
      if (err instanceof BadRequest) return errors(400, err.errors, callLimit);
      throw err;
    }
  }

  const api: FakeApi = {
    name: 'shop',
    credential(req) {
      const token = req.headers['x-shopify-access-token'];
      if (typeof token === 'string' && token) return token;
      const m = /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? '').trim());
      return m?.[1];
    },
    error: errorFor,
    typeChangePath: () => 'orders.0.total_price',
    handle,
  };

  return startFakeServer(api, settings, options.credentials ?? new CredentialStore([SHOP_ACCESS_TOKEN]));
}

class BadRequest extends Error {
  readonly errors: Record<string, string>;

  constructor(errors: Record<string, string>) {
    super(Object.values(errors).join('; '));
    this.errors = errors;
  }
}
