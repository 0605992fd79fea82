import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { createGoogleAdsConnector, type GoogleAdsOptions } from '../../src/connectors/google-ads/index.ts';
import { runSync, type AnyConnector, type ConnectorConfig } from '../../src/connectors/index.ts';
import type { Logger } from '../../src/log.ts';
import { channelFromAdNetwork } from '../../src/metrics/vocabulary.ts';
import { createDataset, GOOGLE_ADS_DEVELOPER_TOKEN, restate, startGoogleAdsFake, type GoogleAdsRow, type GoogleAdsSettings } from '../../src/sandbox/index.ts';
import { listQuarantine, type Warehouse } from '../../src/warehouse/index.ts';
import { testWarehouse, warehouseKinds } from '../helpers/warehouse.ts';
import {
  capturingLogger,
  expectNoSecrets,
  expectSameFacts,
  fakeSleep,
  Facts,
  googleAuthYaml,
  googleEnv,
  OAUTH,
  quietLogger,
  startGoogle,
  storedFacts,
  truncateWarehouse,
} from './google-helpers.ts';

const ds = createDataset({ seed: 7, endDate: '2024-03-31', days: 40 });
const US = '1234567890';
const DE = '2345678901';
const CURRENCY: Record<string, string> = { [US]: 'USD', [DE]: 'EUR' };
const FROM = '2024-03-18';
const TO = '2024-03-31';
/** Afternoon in New York, evening in Berlin: "today" is TO for both customers. */
const NOW = Date.parse('2024-03-31T18:00:00Z');
const now = () => new Date(NOW);

let google: Awaited<ReturnType<typeof startGoogle<GoogleAdsSettings>>>;

function config(extra = '', customers = '["123-456-7890", "234-567-8901"]', devToken = GOOGLE_ADS_DEVELOPER_TOKEN): ConnectorConfig {
  const text = `
connectors:
  - name: gads
    type: google_ads
    customerIds: ${customers}
    loginCustomerId: "987-654-3210"
    developerToken: "\${env:ADS_DEVELOPER_TOKEN}"
    baseUrl: "\${var:ADS_URL}"
    startDate: ${FROM}
${googleAuthYaml()}
${extra}`;
  return parseConfig(text, 'kpi.yaml', { env: googleEnv(google.token, { ADS_URL: google.api.url, ADS_DEVELOPER_TOKEN: devToken }) }).connectors[0]!;
}

function connector(options: GoogleAdsOptions = {}): AnyConnector {
  return createGoogleAdsConnector({ retry: { baseDelayMs: 1, maxDelayMs: 5 }, timeoutMs: 5_000, ...options }) as unknown as AnyConnector;
}

function expected(customers = [US, DE], skip?: (r: GoogleAdsRow) => boolean): Facts {
  const out = new Facts();
  for (const r of ds.googleAds.range(FROM, TO)) {
    if (!customers.includes(r.customerId) || skip?.(r)) continue;
    const add = (metric: string, value: number, money = false) =>
      out.add(r.customerId, r.date, r.campaignName, channelFromAdNetwork(r.adNetworkType), metric, value, money ? CURRENCY[r.customerId]! : null);
    add('impressions', r.impressions);
    add('clicks', r.clicks);
    add('spend', r.costMicros / 1e6, true);
    add('conversions', r.conversions);
    add('conversion_value', r.conversionsValue, true);
  }
  return out;
}

const streamCalls = () => google.api.requests.filter((r) => r.path.endsWith('googleAds:searchStream'));

beforeAll(async () => {
  google = await startGoogle(ds, startGoogleAdsFake);
});
afterAll(async () => {
  await google.close();
});

describe.each(warehouseKinds)('google ads connector on %s', (kind) => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await testWarehouse(kind);
  });
  afterAll(async () => {
    await wh.close();
  });

  it('streams every customer, campaign and network by day in its own currency; a re-run writes nothing', async () => {
    await truncateWarehouse(wh.db);
    google.api.requests.length = 0;
    const res = await runSync({ db: wh.db, connector: connector(), config: config(), log: quietLogger(), now });
    expect(res.error).toBeUndefined();
    const rows = [...ds.googleAds.range(FROM, TO)].length;
    expect(res.run).toMatchObject({ status: 'succeeded', rows_read: rows, rows_rejected: 0 });
    expectSameFacts(await storedFacts(wh.db, 'gads'), expected());
    expect(res.run.flags[`stream:${US}`]).toMatchObject({ currency: 'USD', timeZone: 'America/New_York', window: { from: FROM, to: TO } });
    expect(res.run.flags[`stream:${DE}`]).toMatchObject({ currency: 'EUR', timeZone: 'Europe/Berlin' });

    const calls = streamCalls();
    for (const c of calls) {
      expect(c.headers['developer-token']).toBe(GOOGLE_ADS_DEVELOPER_TOKEN);
      expect(c.headers['login-customer-id']).toBe('9876543210');
      expect(c.headers.authorization).toMatch(/^Bearer \S+$/);
    }
    // Per customer: one customer query, then the 14-day window in two weeks, ordered by date.
    const queries = calls.map((c) => (c.body as { query: string }).query).filter((q) => q.includes('segments.date'));
    expect(queries).toHaveLength(4);
    expect(queries.every((q) => q.endsWith('ORDER BY segments.date'))).toBe(true);
    expect(queries.filter((q) => q.includes(`BETWEEN '${FROM}' AND '2024-03-24'`))).toHaveLength(2);

    const again = await runSync({ db: wh.db, connector: connector(), config: config(), log: quietLogger(), now });
    expect(again.run).toMatchObject({ status: 'succeeded', rows_written: 0, rows_deleted: 0 });
  });
});

describe('google ads connector behaviour and failures', () => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await testWarehouse('postgres');
  });
  afterAll(async () => {
    await wh.close();
  });
  beforeEach(async () => {
    await truncateWarehouse(wh.db);
    google.api.faults.length = 0;
    google.api.requests.length = 0;
  });
  afterEach(() => {
    google.api.faults.length = 0;
  });

  const sync = (options: GoogleAdsOptions = {}, cfg = config(), log: Logger = quietLogger()) => runSync({ db: wh.db, connector: connector(options), config: cfg, log, now });
  const customerOf = (path: string) => /customers\/(\d+)\//.exec(path)?.[1];

  it('runs the customers side by side with concurrency 2, one after the other with 1', async () => {
    await sync({}, config('    concurrency: 2'));
    const parallel = streamCalls().slice(0, 2).map((r) => customerOf(r.path));
    expect(new Set(parallel)).toEqual(new Set([US, DE]));
    expectSameFacts(await storedFacts(wh.db, 'gads'), expected());

    google.api.requests.length = 0;
    await truncateWarehouse(wh.db);
    await sync({}, config('    concurrency: 1'));
    const serial = streamCalls().map((r) => customerOf(r.path));
    expect(serial).toEqual([US, US, US, DE, DE, DE]);
  });

  it('replaces a day that the source restated within the conversion window', async () => {
    await sync();
    try {
      restate(ds, { source: 'googleAds', date: '2024-03-25', factor: 1.4 });
      const res = await sync();
      expect(res.run.status).toBe('succeeded');
      expect(res.run.rows_written).toBeGreaterThan(0);
      expectSameFacts(await storedFacts(wh.db, 'gads'), expected());
    } finally {
      restate(ds, { source: 'googleAds', date: '2024-03-25', factor: 1 });
    }
  });

  it.each([
    ['a 429 with Retry-After', { kind: '429', retryAfterSec: 3 }],
    ['a burst of 5xx', { kind: '500', times: 3 }],
    ['a 503', { kind: '503', times: 2 }],
    ['a hanging response (timeout)', { kind: 'hang' }],
    ['a truncated JSON body', { kind: 'malformed', after: 2 }],
  ] as const)('retries %s and still writes exactly the expected facts', async (_name, fault) => {
    const { sleeps, sleep } = fakeSleep();
    google.api.faults.push({ ...fault, path: 'googleAds:searchStream' });
    // Only the hang needs a short deadline; elsewhere a slow machine must not look like a hang.
    const res = await sync({ sleep, ...(fault.kind === 'hang' ? { timeoutMs: 300 } : {}) });
    expect(res.error).toBeUndefined();
    expectSameFacts(await storedFacts(wh.db, 'gads'), expected());
    expect(google.api.requests.filter((r) => r.fault === fault.kind)).toHaveLength('times' in fault ? fault.times : 1);
    if ('retryAfterSec' in fault) expect(sleeps).toContain(fault.retryAfterSec * 1000);
  });

  it("waits out RESOURCE_EXHAUSTED for the quota error's own retryDelay", async () => {
    const { sleeps, sleep } = fakeSleep();
    // No Retry-After header: the 30 s come from quotaErrorDetails.retryDelay.
    google.api.faults.push({ kind: '429', path: 'googleAds:searchStream', after: 3, times: 2 });
    const res = await sync({ sleep });
    expect(res.run.status).toBe('succeeded');
    expect(sleeps.filter((ms) => ms === 30_000)).toHaveLength(2);
    expectSameFacts(await storedFacts(wh.db, 'gads'), expected());
  });

  it('quarantines a row whose clicks changed type and keeps the rest', async () => {
    google.api.faults.push({ kind: 'typeChange', path: `customers/${US}/googleAds:searchStream`, after: 1 });
    const res = await sync({}, config('', '["123-456-7890"]'));
    expect(res.run).toMatchObject({ status: 'succeeded', rows_rejected: 1 });
    const [q] = await listQuarantine(wh.db, { syncRunId: res.run.id });
    expect(q?.reason).toMatch(/^metrics\.clicks: /);
    const first = [...ds.googleAds.range(FROM, FROM)].filter((r) => r.customerId === US).sort((a, b) => Number(a.campaignId) - Number(b.campaignId) || (a.adNetworkType < b.adNetworkType ? -1 : 1))[0]!;
    expect(q?.record).toMatchObject({ campaign: { id: first.campaignId }, segments: { date: FROM, adNetworkType: first.adNetworkType } });
    expectSameFacts(await storedFacts(wh.db, 'gads'), expected([US], (r) => r === first));
  });

  it('refreshes an access token the API stopped accepting, once, and succeeds', async () => {
    const issued = google.token.issued.length;
    google.api.faults.push({ kind: 'expiredToken', path: 'googleAds:searchStream', after: 2 });
    const res = await sync();
    expect(res.run.status).toBe('succeeded');
    // Both customers' requests in flight may meet the dead token; they share one refresh.
    expect(google.token.issued.length - issued).toBe(2);
    expect(google.api.requests.filter((r) => r.status === 401).length).toBeGreaterThanOrEqual(1);
    expect(google.api.requests.filter((r) => r.status === 401).length).toBeLessThanOrEqual(2);
    expectSameFacts(await storedFacts(wh.db, 'gads'), expected());
  });

  it('fails as a config error when the token is revoked, with no secret in the message or the logs', async () => {
    const { log, text } = capturingLogger();
    google.api.faults.push({ kind: 'revokedToken', path: 'googleAds:searchStream' });
    const res = await sync({}, config(), log);
    expect(res.run).toMatchObject({ status: 'failed', error_kind: 'config' });
    expect(res.run.error).toMatch(/credentials were rejected by .* \(HTTP 401\)/);
    const secrets = [OAUTH.clientSecret, OAUTH.refreshToken, GOOGLE_ADS_DEVELOPER_TOKEN, ...google.token.issued];
    expectNoSecrets(String(res.run.error), secrets);
    expectNoSecrets(text(), secrets);
    expect(text()).toContain('refreshing credentials after 401');
  });

  it('fails as a config error, without refreshing, on a developer token Google does not know', async () => {
    const issued = google.token.issued.length;
    const res = await sync({}, config('', undefined, 'not-the-developer-token'));
    expect(res.run).toMatchObject({ status: 'failed', error_kind: 'config' });
    expect(res.run.error).toMatch(/The developer token is not valid\. \(authenticationError\.DEVELOPER_TOKEN_INVALID\)/);
    expect(res.run.error).not.toContain('not-the-developer-token');
    expect(google.token.issued.length - issued).toBe(1);
  });

  it("fails as a config error with the API's hint on a customer the credentials cannot reach", async () => {
    const res = await sync({}, config('', '["111-111-1111"]'));
    expect(res.run).toMatchObject({ status: 'failed', error_kind: 'config' });
    expect(res.run.error).toMatch(/login-customer-id.*authorizationError\.USER_PERMISSION_DENIED/);
  });
});
