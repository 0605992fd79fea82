import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { parseConfig } from '../../src/config/index.ts';
import { connectorFor, runSync } from '../../src/connectors/index.ts';
import { createLogger } from '../../src/core/log.ts';
import { listQuarantine, type Warehouse } from '../../src/warehouse/index.ts';
import { testWarehouse } from '../helpers/warehouse.ts';

interface Order {
  id: number;
  created_at: string;
  total_price: string;
  currency: string;
  customer: { orders_count: number };
}

// 40 orders over 10 days. Two sit on a day boundary as the API's naive date filter sees it:
// one at 23:30 -05:00 on the day New York moved to summer time (already the 9th locally), one
// at 23:30 -06:00 on the 6th (00:30 on the 7th in New York), the first day of a 3-day lookback.
const boundary: Record<number, string> = { 7: '2026-03-08T23:30:00-05:00', 5: '2026-03-06T23:30:00-06:00' };
const orders: Order[] = Array.from({ length: 40 }, (_, i) => ({
  id: i + 1,
  created_at: boundary[i] ?? `2026-03-${String(1 + (i % 10)).padStart(2, '0')}T10:00:00-05:00`,
  total_price: (10 + i * 1.25).toFixed(2),
  currency: 'USD',
  customer: { orders_count: i % 3 === 0 ? 1 : 4 },
}));

const TOKEN = 'shop-token-abcdef123456';
const seen: string[] = [];

function inWindow(o: Order, url: URL): boolean {
  const from = url.searchParams.get('created_at_min') ?? '0000';
  const to = url.searchParams.get('created_at_max') ?? '9999';
  const day = o.created_at.slice(0, 10);
  return day >= from.slice(0, 10) && day <= to.slice(0, 10);
}

function handle(req: IncomingMessage, base: string): { status: number; body: unknown; headers?: Record<string, string> } {
  const url = new URL(req.url ?? '/', base);
  seen.push(`${url.pathname}?${url.searchParams.toString()}`);
  if (req.headers['x-shop-token'] !== TOKEN) return { status: 401, body: { errors: '[API] Invalid API key or access token' } };
  const all = orders.filter((o) => inWindow(o, url)).reverse(); // newest first, as shops answer
  const size = 7;
  switch (url.pathname) {
    case '/link/orders': {
      const start = Number(url.searchParams.get('page_info') ?? 0);
      const next = start + size < all.length ? `<${base}/link/orders?page_info=${start + size}&created_at_min=${url.searchParams.get('created_at_min')}&created_at_max=${url.searchParams.get('created_at_max')}>; rel="next"` : '';
      return { status: 200, body: { orders: all.slice(start, start + size) }, headers: next ? { link: next } : {} };
    }
    case '/page/orders': {
      const page = Number(url.searchParams.get('page'));
      return { status: 200, body: { data: { items: all.slice((page - 1) * size, page * size) } } };
    }
    case '/offset/orders': {
      const offset = Number(url.searchParams.get('offset'));
      return { status: 200, body: all.slice(offset, offset + Number(url.searchParams.get('limit'))) };
    }
    case '/cursor/orders': {
      const start = Number(url.searchParams.get('cursor') ?? 0);
      return { status: 200, body: { results: all.slice(start, start + size), next_cursor: start + size < all.length ? String(start + size) : null } };
    }
    case '/broken/orders':
      return { status: 200, body: { orders: [{ ...orders[0], total_price: { amount: 3 } }, { ...orders[1], created_at: 'yesterday' }, orders[2]] } };
    default:
      return { status: 404, body: { errors: 'Not Found' } };
  }
}

const log = createLogger({ destination: new Writable({ write: (_c, _e, cb) => cb() }) });

function connectorYaml(path: string, pagination: string, recordsPath: string) {
  const text = `
connectors:
  - name: shop
    type: http_json
    url: https://shop.example.com${path}
    baseUrl: \${env:SHOP_BASE}
    timezone: America/New_York
    startDate: 2026-03-01
    chunkDays: 4
    params: { created_at_min: "{from}T00:00:00", created_at_max: "{to}T23:59:59" }
    auth: { type: header, name: X-Shop-Token, value: "\${env:SHOP_TOKEN}" }
    pagination: ${pagination}
    recordsPath: "${recordsPath}"
    fields:
      date: created_at
      currency: currency
      metrics:
        orders: { count: true }
        revenue: { sum: total_price }
        new_customers: { count: true, where: { customer.orders_count: 1 } }
`;
  return text;
}

/** Expected facts, computed straight from the orders above. */
function expectedFacts(from: string, to: string) {
  const byDay = new Map<string, { orders: number; revenue: number; new_customers: number }>();
  for (const o of orders) {
    // The local date in New York: 2026-03-08 23:30 at -05:00 is already 00:30 on the 9th (EDT began that day).
    const day = DateTime.fromISO(o.created_at, { setZone: true }).setZone('America/New_York').toISODate()!;
    if (day < from || day > to) continue;
    const d = byDay.get(day) ?? { orders: 0, revenue: 0, new_customers: 0 };
    d.orders++;
    d.revenue += Number(o.total_price);
    if (o.customer.orders_count === 1) d.new_customers++;
    byDay.set(day, d);
  }
  return [...byDay.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([day, d]) => [`${day} new_customers=${d.new_customers}`, `${day} orders=${d.orders}`, `${day} revenue=${Math.round(d.revenue * 100) / 100}`].filter((l) => !l.endsWith('=0')));
}

describe('http_json connector', () => {
  let server: Server;
  let base: string;
  let wh: Warehouse;
  beforeAll(async () => {
    server = createServer((req, res) => {
      const out = handle(req, base);
      res.writeHead(out.status, { 'content-type': 'application/json', ...(out.headers ?? {}) });
      res.end(JSON.stringify(out.body));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    wh = await testWarehouse('postgres');
  });
  afterAll(async () => {
    server.close();
    await wh.close();
  });
  beforeEach(async () => {
    await sql`truncate metric_facts, checkpoints, sync_runs, quarantine`.execute(wh.db);
    seen.length = 0;
  });

  const env = () => ({ SHOP_BASE: base, SHOP_TOKEN: TOKEN });
  const now = () => new Date('2026-03-10T18:00:00Z');
  async function facts() {
    const rows = await wh.db.selectFrom('metric_facts').select(['date', 'metric', 'value', 'currency']).orderBy('date').orderBy('metric').execute();
    return rows.map((r) => `${r.date} ${r.metric}=${r.value}`);
  }

  it.each([
    ['Link header', '/link/orders', '{ type: link_header }', 'orders'],
    ['page number', '/page/orders', '{ type: page, param: page, start: 1 }', 'data.items'],
    ['offset', '/offset/orders', '{ type: offset, param: offset, sizeParam: limit, size: 7 }', ''],
    ['cursor in body', '/cursor/orders', '{ type: cursor, param: cursor, cursorPath: next_cursor }', 'results'],
  ])('reads every record exactly once with %s pagination and aggregates it by local date', async (_name, path, pagination, recordsPath) => {
    const config = parseConfig(connectorYaml(path, pagination, recordsPath), 'kpi.yaml', { env: env() }).connectors[0]!;
    const res = await runSync({ db: wh.db, connector: await connectorFor('http_json'), config, log, now });
    expect(res.error).toBeUndefined();
    expect(res.run).toMatchObject({ status: 'succeeded', rows_read: 40, rows_rejected: 0 });
    expect(await facts()).toEqual(expectedFacts('2026-03-01', '2026-03-10'));
    // The window went out in chunks of 4 days (01-04, 05-08, 09-10), its outer edges a day wider.
    const params = (name: string) => new Set(seen.map((s) => new URLSearchParams(s.split('?')[1]).get(name)));
    expect(params('created_at_min')).toEqual(new Set(['2026-02-28T00:00:00', '2026-03-05T00:00:00', '2026-03-09T00:00:00']));
    expect(params('created_at_max')).toEqual(new Set(['2026-03-04T23:59:59', '2026-03-08T23:59:59', '2026-03-11T23:59:59']));

    // The next sync reads checkpoint - 3 days = 03-07..03-10; the order filed under the 6th by
    // the API still belongs to the 7th, so nothing may change.
    const again = await runSync({ db: wh.db, connector: await connectorFor('http_json'), config, log, now });
    expect(again.run.flags['stream:api']).toMatchObject({ window: { from: '2026-03-07', to: '2026-03-10' } });
    expect(again.run).toMatchObject({ status: 'succeeded', rows_written: 0, rows_deleted: 0 });
  });

  it('replaces a restated day inside the lookback: a changed amount and a cancelled order', async () => {
    const config = parseConfig(connectorYaml('/link/orders', '{ type: link_header }', 'orders'), 'kpi.yaml', { env: env() }).connectors[0]!;
    await runSync({ db: wh.db, connector: await connectorFor('http_json'), config, log, now });
    const changed = orders.find((o) => o.created_at.startsWith('2026-03-09T10'))!;
    const cancelled = orders.findIndex((o) => o.created_at.startsWith('2026-03-10T10'));
    const saved = { price: changed.total_price, order: orders[cancelled]! };
    changed.total_price = '999.99';
    orders.splice(cancelled, 1);
    try {
      const res = await runSync({ db: wh.db, connector: await connectorFor('http_json'), config, log, now });
      expect(res.run).toMatchObject({ status: 'succeeded', touched_from: '2026-03-09', touched_to: '2026-03-10' });
      expect(await facts()).toEqual(expectedFacts('2026-03-01', '2026-03-10'));
    } finally {
      changed.total_price = saved.price;
      orders.splice(cancelled, 0, saved.order);
    }
  });

  it('quarantines a record whose amount is not a number or whose date cannot be read', async () => {
    const config = parseConfig(connectorYaml('/broken/orders', '{ type: none }', 'orders'), 'kpi.yaml', { env: env() }).connectors[0]!;
    const res = await runSync({ db: wh.db, connector: await connectorFor('http_json'), config: { ...config, chunkDays: 31 } as typeof config, log, now });
    expect(res.run).toMatchObject({ status: 'succeeded', rows_rejected: 2 });
    const reasons = (await listQuarantine(wh.db, { syncRunId: res.run.id })).map((q) => q.reason).sort();
    expect(reasons).toEqual(['field "created_at" ("yesterday") is not a date in format iso', 'field "total_price" (metric revenue) is {"amount":3}, not a number']);
  });

  it('a rejected token fails the run as a config error, without the token in the message', async () => {
    const config = parseConfig(connectorYaml('/link/orders', '{ type: link_header }', 'orders'), 'kpi.yaml', { env: { ...env(), SHOP_TOKEN: 'wrong-token-999999' } }).connectors[0]!;
    const res = await runSync({ db: wh.db, connector: await connectorFor('http_json'), config, log, now });
    expect(res.run).toMatchObject({ status: 'failed', error_kind: 'config' });
    expect(res.run.error).toMatch(/credentials were rejected/);
    expect(res.run.error).not.toContain('wrong-token-999999');
  });

  it.each([
    ['a cursor parameter', '/cursor/orders', '{ type: cursor, param: page_token, cursorPath: next_cursor }', 'results'],
    ['an offset parameter', '/offset/orders', '{ type: offset, param: start, sizeParam: limit, size: 7 }', ''],
  ])('%s the API ignores (misspelt) is a runaway: a config error at the second page, which repeats the first; nothing written', async (_name, path, pagination, recordsPath) => {
    const config = parseConfig(connectorYaml(path, pagination, recordsPath), 'kpi.yaml', { env: env() }).connectors[0]!;
    const res = await runSync({ db: wh.db, connector: await connectorFor('http_json'), config, log, now });
    expect(res.run).toMatchObject({
      status: 'failed',
      error_kind: 'config',
      error: 'connector "shop": pagination of 2026-02-28..2026-03-04 sent the same page twice in a row after 2 pages; check the pagination settings',
    });
    expect(seen).toHaveLength(2);
    expect(await facts()).toEqual([]);
  });

  it('a recordsPath that leads nowhere is a config error naming it', async () => {
    const config = parseConfig(connectorYaml('/link/orders', '{ type: link_header }', 'data.orders'), 'kpi.yaml', { env: env() }).connectors[0]!;
    const res = await runSync({ db: wh.db, connector: await connectorFor('http_json'), config, log, now });
    expect(res.run).toMatchObject({ status: 'failed', error_kind: 'config', error: 'connector "shop": recordsPath "data.orders" does not lead to an array in the response of /link/orders' });
  });
});

describe('http_json templates and paths', () => {
  it('fills {from_unix}/{to_unix} with the first and last second of the days in the zone', async () => {
    const { fillTemplate, getPath } = await import('../../src/connectors/http-json/extract.ts');
    expect(fillTemplate('{from}..{to} {from_unix}-{to_unix}', { from: '2026-01-01', to: '2026-01-02' }, 'Europe/Berlin')).toBe(
      `2026-01-01..2026-01-02 ${Date.UTC(2025, 11, 31, 23) / 1000}-${Date.UTC(2026, 0, 2, 22, 59, 59) / 1000}`,
    );
    expect(getPath({ data: [{ id: 'a' }, { id: 'b' }] }, 'data.-1.id')).toBe('b');
    expect(getPath({ a: 1 }, '__proto__')).toBeUndefined();
    expect(getPath({ a: 1 }, 'constructor.name')).toBeUndefined();
  });
});
