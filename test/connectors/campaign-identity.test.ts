import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { createGoogleAdsConnector } from '../../src/connectors/google-ads/connector.ts';
import { connectorFor, runSync, type AnyConnector, type ConnectorConfig } from '../../src/connectors/index.ts';
import { kpiSeries, kpiWindows } from '../../src/metrics/index.ts';
import { createDataset, GOOGLE_ADS_DEVELOPER_TOKEN, startGoogleAdsFake } from '../../src/sandbox/index.ts';
import type { Warehouse } from '../../src/warehouse/index.ts';
import { metricsConfig } from '../metrics/helpers.ts';
import { googleAuthYaml, googleEnv, quietLogger, useGoogle } from './google-helpers.ts';
import { testWarehouse, warehouseKinds } from '../helpers/warehouse.ts';

/**
 * Campaigns keyed by the platform's id: a rename keeps one series under the new name, two
 * campaigns with one name stay two, and sources without ids stay keyed by name.
 */

const ds = createDataset({ seed: 7, endDate: '2024-03-31', days: 40 });
const US = '1234567890';
const FROM = '2024-03-18';
const TO = '2024-03-31';
const google = useGoogle(ds, startGoogleAdsFake);
const log = quietLogger();
const config = metricsConfig();

function adsConfig(): ConnectorConfig {
  const text = `
connectors:
  - name: gads
    type: google_ads
    customerIds: ["123-456-7890"]
    loginCustomerId: "987-654-3210"
    developerToken: "\${env:ADS_DEVELOPER_TOKEN}"
    baseUrl: "\${var:ADS_URL}"
    startDate: ${FROM}
    lookbackDays: 3
${googleAuthYaml()}
`;
  return parseConfig(text, 'kpi.yaml', { env: googleEnv(google.token, { ADS_URL: google.api.url, ADS_DEVELOPER_TOKEN: GOOGLE_ADS_DEVELOPER_TOKEN }) }).connectors[0]!;
}

const ads = () => createGoogleAdsConnector({ retry: { baseDelayMs: 1, maxDelayMs: 5 }, timeoutMs: 5_000 }) as unknown as AnyConnector;
const campaignOf = (id: string) => ds.googleAds.customers.find((c) => c.id === US)!.campaigns.find((c) => c.id === id)!;

/** Spend of the US customer's campaign `id` (all when undefined) over [FROM, TO], from the data set, in cents. */
function spendCents(id?: string): number {
  let micros = 0;
  for (const r of ds.googleAds.range(FROM, TO)) if (r.customerId === US && (id === undefined || r.campaignId === id)) micros += r.costMicros;
  return Math.round(micros / 1e4);
}
const cents = (v: number | null | undefined) => Math.round((v ?? Number.NaN) * 100);

describe.each(warehouseKinds)('campaigns keyed by id (Google Ads sandbox) on %s', (kind) => {
  let wh: Warehouse;
  const names = new Map<string, string>();
  beforeAll(async () => {
    wh = await testWarehouse(kind);
  });
  afterAll(async () => {
    await wh.close();
  });
  afterEach(async () => {
    for (const [id, name] of names) campaignOf(id).name = name;
    names.clear();
    await sql`truncate metric_facts, checkpoints, sync_runs, quarantine, campaigns`.execute(wh.db);
  });
  const rename = (id: string, name: string) => {
    if (!names.has(id)) names.set(id, campaignOf(id).name);
    campaignOf(id).name = name;
  };
  const sync = async (nowIso: string) => {
    const res = await runSync({ db: wh.db, connector: ads(), config: adsConfig(), log, now: () => new Date(nowIso) });
    expect(res.error).toBeUndefined();
    return res;
  };

  it('a campaign renamed between two syncs is one series under its new name, its history whole and counted once', async () => {
    const GENERIC = '21000000002';
    expect(campaignOf(GENERIC).name).toBe('Generic - Search');
    // Through the 25th (in New York), then renamed; the next sync re-reads from the 22nd (lookback 3).
    await sync('2024-03-25T18:00:00Z');
    const before = await wh.db.selectFrom('metric_facts').select(({ fn }) => fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    rename(GENERIC, 'Generic - Search 2024');
    await sync('2024-03-31T18:00:00Z');

    // Every day of the campaign once, under its id; the days read again carry the new name, the older ones the old.
    const rows = await sql<{ date: string; campaign: string; n: number }>`
      select date::text as date, campaign, count(*)::int as n from metric_facts
      where connector = 'gads' and campaign_id = ${GENERIC} and metric = 'spend' group by 1, 2 order by 1
    `.execute(wh.db);
    const days = rows.rows.map((r) => r.date);
    expect(new Set(days).size).toBe(days.length);
    expect(days[0]).toBe(FROM);
    expect(days.at(-1)).toBe(TO);
    expect(rows.rows.filter((r) => r.date < '2024-03-22').every((r) => r.campaign === 'Generic - Search')).toBe(true);
    expect(rows.rows.filter((r) => r.date >= '2024-03-22').every((r) => r.campaign === 'Generic - Search 2024')).toBe(true);
    // No fact without its id: the rename added no rows for the days both syncs read.
    const orphans = await sql<{ n: number }>`select count(*)::int as n from metric_facts where connector = 'gads' and campaign_id = ''`.execute(wh.db);
    expect(orphans.rows[0]!.n).toBe(0);
    expect(Number(before.n)).toBeGreaterThan(0);

    const dimension = await wh.db.selectFrom('campaigns').select(['connector', 'account', 'campaign_id', 'name', 'first_seen', 'last_seen']).where('campaign_id', '=', GENERIC).execute();
    expect(dimension.map((c) => ({ ...c, first_seen: String(c.first_seen), last_seen: String(c.last_seen) }))).toEqual([
      { connector: 'gads', account: US, campaign_id: GENERIC, name: 'Generic - Search 2024', first_seen: FROM, last_seen: TO },
    ]);

    // The report: one series for the campaign, by its new name, with all its spend; totals as the data set has them.
    const [series] = await Promise.all([kpiWindows(wh.db, config, { kpi: 'spend', windows: [{ start: FROM, end: TO }], dimension: 'campaign' })]);
    const generic = series!.filter((s) => s.dimensionValue === `gads:${US}:${GENERIC}`);
    expect(generic.map((s) => [s.dimensionLabel, cents(s.values[0])])).toEqual([['Generic - Search 2024', spendCents(GENERIC)]]);
    expect(series!.map((s) => s.dimensionLabel)).not.toContain('Generic - Search');
    const ids = new Set([...ds.googleAds.range(FROM, TO)].filter((r) => r.customerId === US).map((r) => r.campaignId));
    expect(series).toHaveLength(ids.size);
    expect(cents(series!.reduce((sum, s) => sum + (s.values[0] ?? 0), 0))).toBe(spendCents());
    const [total] = await kpiWindows(wh.db, config, { kpi: 'spend', windows: [{ start: FROM, end: TO }] });
    expect(cents(total!.values[0])).toBe(spendCents());

    // Day by day the series runs without a gap across the rename.
    const daily = (await kpiSeries(wh.db, config, { kpi: 'spend', grain: 'day', dimension: 'campaign', from: FROM, to: TO })).filter((p) => p.dimensionValue === `gads:${US}:${GENERIC}`);
    expect(daily).toHaveLength(14);
    expect(daily.every((p) => p.value !== null && p.dimensionLabel === 'Generic - Search 2024')).toBe(true);
    // A filter by the campaign's current name finds all of it, the days stored under the old name too.
    const [filtered] = await kpiWindows(wh.db, config, { kpi: 'spend', windows: [{ start: FROM, end: TO }], filter: { campaign: 'Generic - Search 2024' } });
    expect(cents(filtered!.values[0])).toBe(spendCents(GENERIC));
  });

  it('two campaigns with one name and different ids stay two series, told apart by their ids', async () => {
    const BRAND = '21000000001';
    const REMARKETING = '21000000003';
    rename(REMARKETING, campaignOf(BRAND).name);
    await sync('2024-03-31T18:00:00Z');

    const [series] = [await kpiWindows(wh.db, config, { kpi: 'spend', windows: [{ start: FROM, end: TO }], dimension: 'campaign' })];
    const brand = series.filter((s) => s.dimensionLabel.startsWith('Brand - Search'));
    expect(brand.map((s) => [s.dimensionLabel, cents(s.values[0])])).toEqual([
      [`Brand - Search (${BRAND})`, spendCents(BRAND)],
      [`Brand - Search (${REMARKETING})`, spendCents(REMARKETING)],
    ]);
    expect(spendCents(BRAND)).not.toBe(spendCents(REMARKETING));
    // A filter by the shared name means both.
    const [both] = await kpiWindows(wh.db, config, { kpi: 'spend', windows: [{ start: FROM, end: TO }], filter: { campaign: 'Brand - Search' } });
    expect(cents(both!.values[0])).toBe(spendCents(BRAND) + spendCents(REMARKETING));
  });
});

describe.each(warehouseKinds)('csv and http_json: keyed by an id column or field when one is mapped, by name otherwise, on %s', (kind) => {
  let wh: Warehouse;
  let dir: string;
  let server: Server;
  let base: string;
  let records: Array<Record<string, unknown>> = [];
  beforeAll(async () => {
    wh = await testWarehouse(kind);
    dir = mkdtempSync(path.join(tmpdir(), 'kpi-campaign-id-'));
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ items: records }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.close();
    await wh.close();
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await sql`truncate metric_facts, checkpoints, sync_runs, quarantine, campaigns`.execute(wh.db);
  });

  const stored = async (connector: string) =>
    (
      await sql<{ date: string; campaign: string; campaign_id: string; value: number }>`
        select date::text as date, campaign, campaign_id, value::float8 as value from metric_facts where connector = ${connector} order by date, campaign_id, campaign
      `.execute(wh.db)
    ).rows.map((r) => `${r.date} ${r.campaign_id || '-'} ${r.campaign} ${r.value}`);
  const labelled = async (connector: string) =>
    (await kpiWindows(wh.db, metricsConfig({ kpis: [{ name: 'leads_n', formula: 'leads', unit: 'count', direction: 'higher', filter: { connector } }] }), { kpi: 'leads_n', windows: [{ start: '2026-01-01', end: '2026-01-31' }], dimension: 'campaign' })).map(
      (s) => `${s.dimensionLabel}=${s.values[0]}`,
    );

  function csvConfig(name: string, file: string, dimensions: string): ConnectorConfig {
    return parseConfig(
      `
connectors:
  - name: ${name}
    type: csv
    path: ${file}
    date: { column: Day }
    dimensions: ${dimensions}
    metrics: { leads: Leads }
`,
      'kpi.yaml',
      { env: {} },
    ).connectors[0]!;
  }
  const csvSync = async (cfg: ConnectorConfig) => {
    const res = await runSync({ db: wh.db, connector: await connectorFor('csv'), config: cfg, log, configDir: dir });
    expect(res.error).toBeUndefined();
  };

  it('csv: with campaignId mapped, a campaign renamed in a later file is one campaign; without it, the name is the key', async () => {
    writeFileSync(path.join(dir, 'with-id.csv'), 'Day,Id,Campaign,Leads\n2026-01-01,7,Spring sale,3\n2026-01-02,7,Spring sale,4\n2026-01-02,8,Spring sale,10\n');
    const withId = csvConfig('crm-ids', 'with-id.csv', '{ campaign: Campaign, campaignId: Id }');
    await csvSync(withId);
    // The export is rewritten with the new name for the same id on a new day.
    writeFileSync(path.join(dir, 'with-id.csv'), 'Day,Id,Campaign,Leads\n2026-01-01,7,Spring sale,3\n2026-01-02,7,Spring sale,4\n2026-01-02,8,Spring sale,10\n2026-01-03,7,Spring sale 2026,5\n');
    await csvSync(withId);
    expect(await stored('crm-ids')).toEqual(['2026-01-01 7 Spring sale 3', '2026-01-02 7 Spring sale 4', '2026-01-02 8 Spring sale 10', '2026-01-03 7 Spring sale 2026 5']);
    expect(await labelled('crm-ids')).toEqual(['Spring sale=10', 'Spring sale 2026=12']);
    const names = await wh.db.selectFrom('campaigns').select(['campaign_id', 'name']).where('connector', '=', 'crm-ids').orderBy('campaign_id').execute();
    expect(names).toEqual([
      { campaign_id: '7', name: 'Spring sale 2026' },
      { campaign_id: '8', name: 'Spring sale' },
    ]);

    writeFileSync(path.join(dir, 'by-name.csv'), 'Day,Id,Campaign,Leads\n2026-01-01,7,Spring sale,3\n2026-01-02,8,Spring sale,10\n');
    await csvSync(csvConfig('crm-names', 'by-name.csv', '{ campaign: Campaign }'));
    expect(await stored('crm-names')).toEqual(['2026-01-01 - Spring sale 3', '2026-01-02 - Spring sale 10']);
    expect(await labelled('crm-names')).toEqual(['Spring sale=13']);
  });

  it('http_json: with fields.campaignId, two ids of one name are two campaigns; without it, one', async () => {
    const yaml = (name: string, idField: string) => `
connectors:
  - name: ${name}
    type: http_json
    url: ${base}/leads
    recordsPath: items
    startDate: 2026-01-01
    fields:
      date: day
      campaign: campaign.name
${idField}
      metrics: { leads: count }
`;
    records = [
      { day: '2026-01-01', campaign: { id: 501, name: 'Webinar' }, count: 2 },
      { day: '2026-01-01', campaign: { id: 502, name: 'Webinar' }, count: 5 },
      { day: '2026-01-02', campaign: { id: 501, name: 'Webinar' }, count: 1 },
    ];
    const now = () => new Date('2026-01-02T12:00:00Z');
    for (const [name, idField] of [
      ['api-ids', '      campaignId: campaign.id'],
      ['api-names', ''],
    ] as const) {
      const cfg = parseConfig(yaml(name, idField), 'kpi.yaml', { env: {} }).connectors[0]!;
      const res = await runSync({ db: wh.db, connector: await connectorFor('http_json'), config: cfg, log, now });
      expect(res.error).toBeUndefined();
    }
    expect(await stored('api-ids')).toEqual(['2026-01-01 501 Webinar 2', '2026-01-01 502 Webinar 5', '2026-01-02 501 Webinar 1']);
    expect(await labelled('api-ids')).toEqual(['Webinar (501)=3', 'Webinar (502)=5']);
    expect(await stored('api-names')).toEqual(['2026-01-01 - Webinar 7', '2026-01-02 - Webinar 1']);
    expect(await labelled('api-names')).toEqual(['Webinar=8']);
  });
});
