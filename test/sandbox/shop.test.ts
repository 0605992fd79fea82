import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataset, SHOP_ACCESS_TOKEN, startShopFake, type Dataset, type FakeServer, type ShopSettings } from '../../src/sandbox/index.ts';
import { nextLink } from './helpers.ts';

let ds: Dataset;
let shop: FakeServer<ShopSettings>;

beforeAll(async () => {
  ds = createDataset({ seed: 41, endDate: '2024-03-31', days: 60 });
  shop = await startShopFake(ds);
});
afterAll(async () => {
  await shop.close();
});

const headers = { 'x-shopify-access-token': SHOP_ACCESS_TOKEN };

async function all(first: string): Promise<{ orders: any[]; pages: number }> {
  const orders: any[] = [];
  let pages = 0;
  let url: string | undefined = first;
  while (url) {
    const res = await fetch(url, { headers });
    expect(res.status).toBe(200);
    orders.push(...((await res.json()) as { orders: any[] }).orders);
    pages++;
    url = nextLink(res.headers.get('link'));
  }
  return { orders, pages };
}

describe('shop orders fake', () => {
  it('follows Link rel="next" through every order in the window exactly once', async () => {
    const min = '2024-03-01T00:00:00+01:00';
    const max = '2024-03-15T23:59:59+01:00';
    const { orders, pages } = await all(`${shop.url}/admin/api/2024-01/orders.json?${new URLSearchParams({ created_at_min: min, created_at_max: max, limit: '50', status: 'any' })}`);
    const expected = ds.shop.rows.filter((o) => Date.parse(o.created_at) >= Date.parse(min) && Date.parse(o.created_at) <= Date.parse(max));
    expect(pages).toBe(Math.ceil(expected.length / 50));
    expect(orders.map((o) => o.id).sort()).toEqual(expected.map((o) => o.id).sort());
    expect(new Set(orders.map((o) => o.id)).size).toBe(orders.length);
    const times = orders.map((o) => Date.parse(o.created_at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(orders[0]).toEqual(expected.find((o) => o.id === orders[0].id));
    expect(Object.keys(orders[0])).toEqual(['id', 'created_at', 'total_price', 'currency', 'customer_id', 'is_new_customer']);
  });

  it('sends both rels once past the first page, and only limit and page_info in them', async () => {
    const res = await fetch(`${shop.url}/orders?created_at_min=2024-03-01&limit=10`, { headers });
    const second = nextLink(res.headers.get('link'));
    expect(second).toBeDefined();
    expect([...new URL(second ?? '').searchParams.keys()].sort()).toEqual(['limit', 'page_info']);
    const page2 = await fetch(second ?? '', { headers });
    expect(page2.headers.get('link')).toMatch(/rel="previous".*rel="next"/);
    expect(page2.headers.get('x-shopify-shop-api-call-limit')).toMatch(/^\d+\/40$/);
  });

  it('refuses filters next to page_info, as Shopify does', async () => {
    const res = await fetch(`${shop.url}/orders.json?created_at_min=2024-03-01&limit=10`, { headers });
    const next = nextLink(res.headers.get('link')) ?? '';
    const bad = await axios.get(`${next}&created_at_min=2024-03-01`, { headers, validateStatus: () => true });
    expect(bad.status).toBe(400);
    expect(bad.data).toEqual({ errors: { created_at_min: 'created_at_min cannot be passed when page_info is present.' } });
    const tooMany = await axios.get(`${shop.url}/orders.json?limit=500`, { headers, validateStatus: () => true });
    expect(tooMany.status).toBe(400);
  });

  it('reads a bare date as midnight in the shop\'s time zone, and orders ascending on request', async () => {
    const res = await axios.get(`${shop.url}/orders.json`, { headers, params: { created_at_min: '2024-03-10', created_at_max: '2024-03-11', order: 'created_at asc', limit: 250 } });
    const day = ds.shop.day('2024-03-10');
    expect(res.data.orders.map((o: { id: number }) => o.id)).toEqual(day.map((o) => o.id));
  });

  it('counts, projects fields, and accepts a Bearer token', async () => {
    const count = await axios.get(`${shop.url}/orders/count.json`, { headers: { authorization: `Bearer ${SHOP_ACCESS_TOKEN}` }, params: { created_at_min: '2024-03-10', created_at_max: '2024-03-11' } });
    expect(count.data).toEqual({ count: ds.shop.day('2024-03-10').length });
    const slim = await axios.get(`${shop.url}/orders.json`, { headers, params: { limit: 2, fields: 'id,total_price' } });
    expect(Object.keys(slim.data.orders[0])).toEqual(['id', 'total_price']);
    expect(slim.headers.link).toContain('fields=id%2Ctotal_price');
  });
});
