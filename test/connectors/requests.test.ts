import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPipelineHandlers, type MetricsEngine } from '../../src/app.ts';
import { parseConfig, type Config } from '../../src/config/index.ts';
import { runSync, type ConnectorConfig, type SyncResult } from '../../src/connectors/index.ts';
import { ga4Connector } from '../../src/connectors/ga4/connector.ts';
import { googleAdsConnector } from '../../src/connectors/google-ads/connector.ts';
import { metaAdsConnector } from '../../src/connectors/meta-ads/connector.ts';
import type { AnyConnector } from '../../src/connectors/index.ts';
import { createDataset, SANDBOX_OAUTH_CLIENT, sandboxConnectorEnv, startSandbox, type LoggedRequest, type Sandbox } from '../../src/sandbox/index.ts';
import { createPipelineMetrics, createServer as createHttpServer } from '../../src/server/index.ts';
import { runCli, tempProject } from '../helpers/cli.ts';
import { testPostgres, type TestPostgres } from '../helpers/warehouse.ts';
import { quietLogger, truncateWarehouse } from './google-helpers.ts';
import { waitFor } from '../jobs/helpers.ts';
import { sql } from 'kysely';

/**
 * Every request a sync sends is one the API needs: counted on the sandbox's own request logs
 * against the documented minimum, and recorded on the run (`kpi runs`, /metrics).
 */

const ds = createDataset({ seed: 11, endDate: '2024-03-31', days: 60 });
const TO = '2024-03-31';
/** 30 days: 2024-03-02 … 2024-03-31. */
const FROM = '2024-03-02';
/** Evening in Berlin, afternoon in New York: "today" is TO in every account's zone. */
const NOW = Date.parse('2024-03-31T18:00:00Z');
const now = () => new Date(NOW);
const CUSTOMERS = ds.googleAds.customers.map((c) => c.id);

let sb: Sandbox;
let wh: TestPostgres;
let refreshTokens = 0;

beforeAll(async () => {
  sb = await startSandbox(ds);
  wh = await testPostgres();
});
afterAll(async () => {
  await sb?.close();
  await wh?.close();
});
beforeEach(async () => {
  await truncateWarehouse(wh.db);
  for (const fake of Object.values(sb.fakes)) (fake.requests as LoggedRequest[]).length = 0;
});

/**
 * A refresh token of its own for each test, as another person's grant would be: the process
 * has no access token for it yet, so the test sees every token request its syncs make.
 */
function newRefreshToken(): string {
  const refreshToken = `${SANDBOX_OAUTH_CLIENT.refreshToken}-${++refreshTokens}`;
  sb.fakes.googleToken.settings.clients.push({ ...SANDBOX_OAUTH_CLIENT, refreshToken });
  return refreshToken;
}

const AUTH = '    auth: { type: oauth, clientId: "${var:SANDBOX_G_CLIENT_ID}", clientSecret: "${env:SANDBOX_G_CLIENT_SECRET}", refreshToken: "${env:SANDBOX_G_REFRESH_TOKEN}", tokenUrl: "${var:SANDBOX_TOKEN_URL}" }';

function configText(): string {
  return `
reporting:
  currency: USD
connectors:
  - name: web
    type: ga4
    propertyIds: ["${ds.ga4.propertyId}"]
    baseUrl: "\${var:SANDBOX_GA4_URL}"
    startDate: ${FROM}
${AUTH}
  - name: ads
    type: google_ads
    customerIds: [${CUSTOMERS.map((c) => `"${c}"`).join(', ')}]
    loginCustomerId: "${ds.googleAds.managerCustomerId}"
    developerToken: "\${env:SANDBOX_ADS_DEVELOPER_TOKEN}"
    baseUrl: "\${var:SANDBOX_ADS_URL}"
    startDate: ${FROM}
${AUTH}
  - name: meta
    type: meta_ads
    adAccountIds: ["${ds.meta.accountId}"]
    accessToken: "\${env:SANDBOX_META_TOKEN}"
    baseUrl: "\${var:SANDBOX_META_URL}"
    startDate: 2024-03-18
    lookbackDays: 7
`;
}

function env(refreshToken: string): Record<string, string> {
  return sandboxConnectorEnv(sb, refreshToken);
}

function parsed(refreshToken: string): Config {
  return parseConfig(configText(), 'kpi.yaml', { env: env(refreshToken) });
}

const IMPLEMENTATIONS: Record<string, AnyConnector> = {
  web: ga4Connector as unknown as AnyConnector,
  ads: googleAdsConnector as unknown as AnyConnector,
  meta: metaAdsConnector as unknown as AnyConnector,
};

async function sync(config: Config, name: string): Promise<SyncResult> {
  const cfg = config.connectors.find((c) => c.name === name) as ConnectorConfig;
  const res = await runSync({ db: wh.db, connector: IMPLEMENTATIONS[name]!, config: cfg, log: quietLogger(), now });
  expect(res.error, `${name}: ${String(res.run.error)}`).toBeUndefined();
  return res;
}

/** The requests each fake received since the last call: what one sync sent. */
function taker(): () => { token: LoggedRequest[]; ga4: LoggedRequest[]; ads: LoggedRequest[]; meta: LoggedRequest[] } {
  const seen = { token: 0, ga4: 0, ads: 0, meta: 0 };
  const logs = () => ({ token: sb.fakes.googleToken.requests, ga4: sb.fakes.ga4.requests, ads: sb.fakes.googleAds.requests, meta: sb.fakes.meta.requests });
  return () => {
    const all = logs();
    const out = { token: all.token.slice(seen.token), ga4: all.ga4.slice(seen.ga4), ads: all.ads.slice(seen.ads), meta: all.meta.slice(seen.meta) };
    for (const k of Object.keys(seen) as Array<keyof typeof seen>) seen[k] = all[k].length;
    return out;
  };
}

const total = (sent: Record<string, LoggedRequest[]>): number => Object.values(sent).reduce((n, list) => n + list.length, 0);
const queryOf = (r: LoggedRequest): string => (r.body as { query: string }).query;

describe('requests a sync sends, against the minimum the APIs need', () => {
  it('GA4 and Google Ads on one refresh token: one token request for both; GA4 one report page and no probe; Google Ads one searchStream per customer for a 30-day window, its customer query on the first sync only', async () => {
    const config = parsed(newRefreshToken());
    const take = taker();

    const web1 = await sync(config, 'web');
    const sent1 = take();
    // The property's 30 days fit one page of 10 000 rows: that page is the whole sync, with the one token request.
    expect(sent1.token).toHaveLength(1);
    expect(sent1.ga4).toHaveLength(1);
    expect(sent1.ga4[0]!.body).toMatchObject({ dateRanges: [{ startDate: FROM, endDate: TO }], returnPropertyQuota: true });
    expect(web1.run).toMatchObject({ requests: 2, quota: { ga4_tokens: sb.fakes.ga4.settings.tokensPerRequest } });
    // Currency and zone came with the page.
    expect(web1.run.flags[`stream:${ds.ga4.propertyId}`]).toMatchObject({ currency: 'EUR', timeZone: 'Europe/Berlin' });
    const { rows: currencies } = await sql<{ currency: string | null }>`select distinct currency from metric_facts where connector = 'web' and metric = 'revenue'`.execute(wh.db);
    expect(currencies).toEqual([{ currency: 'EUR' }]);
    // The zone the page told ends the guess for this sync too: complete through yesterday less
    // GA4's settling day, not two days further back as while the zone was guessed (rules on
    // GA4's KPIs waited after a first sync, the demo's and a new installation's).
    const { rows: complete } = await sql<{ d: string }>`select complete_through::text as d from checkpoints where connector = 'web'`.execute(wh.db);
    expect(complete).toEqual([{ d: '2024-03-29' }]);

    const ads1 = await sync(config, 'ads');
    const sent2 = take();
    expect(sent2.token, 'the token GA4 got serves Google Ads too').toHaveLength(0);
    expect(sent2.ads.map((r) => [r.path.split('/')[3], queryOf(r).includes('segments.date') ? 'report' : 'customer'])).toEqual(
      expect.arrayContaining(CUSTOMERS.flatMap((c) => [[c, 'customer'], [c, 'report']])),
    );
    expect(sent2.ads).toHaveLength(2 * CUSTOMERS.length);
    for (const r of sent2.ads.filter((r) => queryOf(r).includes('segments.date'))) expect(queryOf(r)).toContain(`BETWEEN '${FROM}' AND '${TO}'`);
    expect(ads1.run.requests).toBe(total(sent2));

    const web2 = await sync(config, 'web');
    const ads2 = await sync(config, 'ads');
    const sent3 = take();
    expect(sent3.token).toHaveLength(0);
    // GA4: the lookback window in one page; Google Ads: one stream per customer, no customer query.
    expect(sent3.ga4).toHaveLength(1);
    expect(sent3.ads.map((r) => r.path.split('/')[3]).sort()).toEqual([...CUSTOMERS].sort());
    expect(sent3.ads.every((r) => queryOf(r).includes('segments.date'))).toBe(true);
    expect([web2.run.requests, ads2.run.requests]).toEqual([1, CUSTOMERS.length]);
    // The stored currency and zone, kept current by the report rows, are each customer's own.
    for (const c of ds.googleAds.customers) expect(ads2.run.flags[`stream:${c.id}`]).toMatchObject({ currency: c.currencyCode, timeZone: c.timeZone });
  });

  it('Meta: the ad account is asked for its currency and zone on the first sync only; a 14-day window is one insights page; the usage headers are the run quota', async () => {
    const config = parsed(newRefreshToken());
    const take = taker();
    sb.fakes.meta.settings.usagePct = 37;
    try {
      const first = await sync(config, 'meta');
      const sent1 = take().meta;
      expect(sent1.map((r) => r.path.endsWith('/insights') ? 'insights' : 'account')).toEqual(['account', 'insights']);
      expect(String(sent1[1]!.query.fields)).toContain('account_currency');
      expect(first.run).toMatchObject({ requests: 2, quota: { meta_usage_pct: 37 } });

      const second = await sync(config, 'meta');
      const sent2 = take().meta;
      expect(sent2.map((r) => r.path.endsWith('/insights') ? 'insights' : 'account')).toEqual(['insights']);
      expect(second.run).toMatchObject({ requests: 1, quota: { meta_usage_pct: 37 } });
      expect(second.run.flags[`stream:${ds.meta.accountId}`]).toMatchObject({ currency: ds.meta.currency, timeZone: ds.meta.timeZone });
    } finally {
      sb.fakes.meta.settings.usagePct = 2;
    }
  });

  it('kpi runs shows each run\'s requests and quota', async () => {
    const refreshToken = newRefreshToken();
    const config = parsed(refreshToken);
    sb.fakes.meta.settings.usagePct = 12;
    try {
      await sync(config, 'web');
      await sync(config, 'meta');
    } finally {
      sb.fakes.meta.settings.usagePct = 2;
    }
    const project = tempProject({ 'kpi.yaml': configText() });
    try {
      const res = await runCli(['runs', '--config', 'kpi.yaml'], { cwd: project.dir, env: { ...env(refreshToken), DATABASE_URL: wh.url } });
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      const lines = res.stdout.split('\n');
      expect(lines[1]).toMatch(/│ rejected\s+│ requests\s+│ quota\s+│ duration\s+│/);
      expect(res.stdout).toMatch(new RegExp(`│ meta\\s+│ succeeded\\s+│ 2024-03-18\\.\\.${TO}\\s+│ \\d+\\s+│ \\d+\\s+│ 0\\s+│ 0\\s+│ 2\\s+│ 12% Meta usage\\s+│`));
      expect(res.stdout).toMatch(new RegExp(`│ web\\s+│ succeeded\\s+│ ${FROM}\\.\\.${TO}\\s+│ \\d+\\s+│ \\d+\\s+│ 0\\s+│ 0\\s+│ 2\\s+│ 10 GA4 tokens\\s+│`));
    } finally {
      project.cleanup();
    }
  });

  it('/metrics counts the requests and the quota of the syncs this process ran', async () => {
    const config = parsed(newRefreshToken());
    const noMetrics: MetricsEngine = { recompute: async () => {}, recordGoals: async () => {} };
    const metrics = createPipelineMetrics({ db: wh.db });
    const handlers = metrics.instrument(createPipelineHandlers({ config, db: wh.db, log: quietLogger(), metrics: noMetrics, now }));
    sb.fakes.meta.settings.usagePct = 21;
    try {
      for (const connector of ['web', 'meta', 'web']) expect((await handlers.sync({ connector, trigger: 'manual' })).ok).toBe(true);
    } finally {
      sb.fakes.meta.settings.usagePct = 2;
    }
    const app = await createHttpServer({ db: wh.db, metrics });
    try {
      const text = (await app.inject({ url: '/metrics' })).body;
      // web: the token and a page, then a page; meta: the account and a page.
      expect(text).toContain('kpi_source_requests_total{connector="web"} 3');
      expect(text).toContain('kpi_source_requests_total{connector="meta"} 2');
      expect(text).toContain(`kpi_source_quota_used_total{connector="web",unit="ga4_tokens"} ${2 * sb.fakes.ga4.settings.tokensPerRequest}`);
      expect(text).toContain('kpi_source_quota_usage_percent{connector="meta",unit="meta_usage_pct"} 21');
    } finally {
      await app.close();
    }
  });
});

describe('a Google Ads window of any length is one request, read as it arrives', () => {
  const CUSTOMER = '1234567890';
  const DAYS = ['2024-03-29', '2024-03-30', '2024-03-31'];
  let server: ReturnType<typeof createServer>;
  let url = '';
  /** What the test lets the fake send of the stream's answer after its first batch. */
  let release: () => void = () => {};

  const row = (date: string, i: number) => ({
    customer: { resourceName: `customers/${CUSTOMER}`, currencyCode: 'USD', timeZone: 'America/New_York' },
    campaign: { resourceName: `customers/${CUSTOMER}/campaigns/${i}`, id: String(i), name: `Campaign ${i} ${'x'.repeat(200)}` },
    segments: { date, adNetworkType: 'SEARCH' },
    metrics: { impressions: String(100 + i), clicks: String(i % 7), costMicros: String(i * 10_000) },
  });

  /** A Google Ads connector reading the fake below, its batches capped at `maxResponseMb`. */
  const bigConfig = (maxResponseMb: number): ConnectorConfig => {
    const text = `
connectors:
  - name: big
    type: google_ads
    customerIds: ["${CUSTOMER}"]
    developerToken: "\${env:SANDBOX_ADS_DEVELOPER_TOKEN}"
    baseUrl: "\${var:SANDBOX_ADS_URL}"
    maxResponseMb: ${maxResponseMb}
    startDate: ${DAYS[0]}
${AUTH}
`;
    return parseConfig(text, 'kpi.yaml', { env: { ...env(newRefreshToken()), SANDBOX_ADS_URL: url } }).connectors[0]!;
  };

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const query = (JSON.parse(body) as { query: string }).query;
        res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
        if (!query.includes('segments.date')) {
          res.end(JSON.stringify([{ results: [row(DAYS[0]!, 0)], fieldMask: 'customer.currencyCode,customer.timeZone' }]));
          return;
        }
        // A batch per day of 2 000 rows (about 1 MB), like a big account's; the rest of the
        // answer waits until the test has seen the first day committed.
        const batch = (date: string) => JSON.stringify({ results: Array.from({ length: 2_000 }, (_, i) => row(date, i)), fieldMask: 'campaign.id' });
        res.write(`[${batch(DAYS[0]!)},\n${batch(DAYS[1]!)}`);
        release = () => res.end(`,\n${batch(DAYS[2]!)}]`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('rows are committed while the answer is still coming: the first days are in the warehouse before the last batch is sent', async () => {
    await truncateWarehouse(wh.db);
    const cfg = bigConfig(2);
    const running = runSync({ db: wh.db, connector: IMPLEMENTATIONS.ads!, config: cfg, log: quietLogger(), now });
    // A reader that waited for the whole answer would commit nothing until release(): this waits for ever.
    await waitFor(async () => {
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from metric_facts where connector = 'big' and date = ${DAYS[0]}::date`.execute(wh.db);
      return rows[0]!.n > 0;
    }, { timeoutMs: 120_000, what: 'the first day committed while the answer is still open' });
    release();
    const res = await running;
    expect(res.error).toBeUndefined();
    // Three days of 2 000 campaigns, five metrics each, though the answer (about 3 MB) is over the 2 MB cap: the cap holds for each batch.
    expect(res.run).toMatchObject({ status: 'succeeded', rows_read: 6_000, rows_written: 30_000 });
    expect(res.run.requests).toBe(3); // token, customer query, the window's stream
  });

  it('a batch over the size cap stops the download as a config error naming the cap', async () => {
    await truncateWarehouse(wh.db);
    const cfg = bigConfig(0.5);
    const running = runSync({ db: wh.db, connector: IMPLEMENTATIONS.ads!, config: cfg, log: quietLogger(), now });
    const res = await running;
    release();
    expect(res.run).toMatchObject({ status: 'failed', error_kind: 'config' });
    expect(res.run.error).toMatch(/connector "big": the response to one batch of Google Ads searchStream for customer 1234567890 is larger than the 0\.50 MB limit/);
  });
});
