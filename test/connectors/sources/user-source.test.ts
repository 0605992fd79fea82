import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataset, startShopFake, SHOP_ACCESS_TOKEN, type Dataset, type FakeServer, type ShopSettings } from '../../../src/sandbox/index.ts';
import { openWarehouse } from '../../../src/warehouse/index.ts';
import { runCli, tempProject } from '../../helpers/cli.ts';

/**
 * A source we do not ship, written as a definition file and named by `type: source`: the
 * README's Shopify example against the shop fake, through `kpi validate`, `kpi check` and
 * `kpi sync` as a user runs them.
 */
describe('a user-defined source (type: source)', () => {
  let ds: Dataset;
  let shop: FakeServer<ShopSettings>;
  let project: { dir: string; cleanup(): void };
  const env = () => ({ SHOPIFY_TOKEN: SHOP_ACCESS_TOKEN, SHOP_URL: shop.url });
  const FROM = '2026-03-20';
  const TO = '2026-03-31';

  beforeAll(async () => {
    ds = createDataset({ seed: 7, endDate: TO, days: 30 });
    shop = await startShopFake(ds, { settings: { maxPageSize: 25 } });
    project = tempProject({
      'shopify-orders.yaml': readFileSync(path.join(import.meta.dirname, '../../../config/sources/shopify-orders.yaml'), 'utf8'),
      'broken.yaml': 'type: broken\ntitle: Broken\nbaseUrl: https://example.com\naccounts: { single: account }\nrequest: { path: /x }\ndate: { path: day }\nmetrics: { orders: { count: yes } }\n',
      'kpi.yaml': `dataDir: ./data
reporting: { timezone: Europe/Berlin, currency: EUR }
connectors:
  - name: shop
    type: source
    definition: shopify-orders.yaml
    settings: { shop: example, accessToken: "\${env:SHOPIFY_TOKEN}" }
    baseUrl: "\${var:SHOP_URL}"
    timezone: Europe/Berlin
    startDate: ${FROM}
`,
      'broken-kpi.yaml': `connectors:\n  - { name: b, type: source, definition: broken.yaml }\n  - { name: s, type: source, definition: shopify-orders.yaml, settings: { shop: example } }\n`,
    });
  });
  afterAll(async () => {
    await shop.close();
    project.cleanup();
  });

  it('kpi validate reports a broken definition and missing settings with their paths', async () => {
    const run = await runCli(['validate', '--config', 'broken-kpi.yaml'], { env: env(), cwd: project.dir });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/broken-kpi\.yaml:2:\d+ connectors\[0\]\.definition: broken\.yaml: metrics\.orders/);
    expect(run.stderr).toMatch(/broken-kpi\.yaml:3:\d+ connectors\[1\]\.settings\.accessToken: /);
  });

  it('kpi check asks the API for the first page of yesterday and today', async () => {
    const run = await runCli(['check', 'shop', '--config', 'kpi.yaml'], { env: env(), cwd: project.dir });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/✓ shop \(source\)/);
    expect(run.stdout).not.toContain(SHOP_ACCESS_TOKEN);
  });

  it('kpi sync stores every order of the window by its day in the shop zone, following the Link header', async () => {
    const run = await runCli(['sync', 'shop', '--config', 'kpi.yaml', '--from', FROM, '--to', TO], { env: env(), cwd: project.dir });
    // (stderr may hold the log of a retried request: a reset connection on a loaded machine.)
    expect(run.code).toBe(0);
    expect(run.stdout + run.stderr).not.toContain(SHOP_ACCESS_TOKEN);
    const want = new Map<string, number>();
    for (const o of ds.shop.range(FROM, TO)) {
      const day = new Date(Date.parse(o.created_at) + 3600_000 * (o.created_at.endsWith('+02:00') ? 2 : 1)).toISOString().slice(0, 10);
      if (day < FROM || day > TO) continue;
      want.set(`${day} orders`, (want.get(`${day} orders`) ?? 0) + 1);
      want.set(`${day} revenue`, Math.round(((want.get(`${day} revenue`) ?? 0) + Number(o.total_price)) * 100) / 100);
      if (o.is_new_customer) want.set(`${day} new_customers`, (want.get(`${day} new_customers`) ?? 0) + 1);
    }
    const wh = await openWarehouse({ dataDir: path.join(project.dir, 'data') });
    try {
      const rows = await wh.db.selectFrom('metric_facts').select(['date', 'metric', 'value', 'currency']).where('connector', '=', 'shop').execute();
      const got = new Map<string, number>();
      for (const r of rows) got.set(`${String(r.date)} ${r.metric}`, Math.round(((got.get(`${String(r.date)} ${r.metric}`) ?? 0) + Number(r.value)) * 100) / 100);
      expect(Object.fromEntries([...got].sort())).toEqual(Object.fromEntries([...want].sort()));
      expect(new Set(rows.filter((r) => r.metric === 'revenue').map((r) => r.currency))).toEqual(new Set(['EUR']));
    } finally {
      await wh.close();
    }
    expect(shop.requests.filter((r) => r.path.endsWith('/orders.json')).length).toBeGreaterThan(2);
  });
});
