import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { runSync, type AnyConnector, type ConnectorConfig } from '../../src/connectors/index.ts';
import { createSearchConsoleConnector, type SearchConsoleOptions } from '../../src/connectors/search-console/index.ts';
import type { Logger } from '../../src/log.ts';
import { createDataset, restate, startSearchConsoleFake, type SearchConsoleRow, type SearchConsoleSettings } from '../../src/sandbox/index.ts';
import { getCheckpoint, listQuarantine, type Warehouse } from '../../src/warehouse/index.ts';
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
const SITE = ds.searchConsole.siteUrl;
const FROM = '2024-03-22';
const TO = '2024-03-31';
/** 13:00 in Los Angeles on the last day of data, the zone Search Console dates are in. */
const NOW = Date.parse('2024-03-31T20:00:00Z');
const now = () => new Date(NOW);
const ROW_LIMIT = 5;

let google: Awaited<ReturnType<typeof startGoogle<SearchConsoleSettings>>>;

function config(extra = 'dataState: all', sites = `["${SITE}"]`): ConnectorConfig {
  const text = `
connectors:
  - name: gsc
    type: search_console
    siteUrls: ${sites}
    baseUrl: "\${var:GSC_URL}"
    startDate: ${FROM}
    rowLimit: ${ROW_LIMIT}
${googleAuthYaml()}
    ${extra}
`;
  return parseConfig(text, 'kpi.yaml', { env: googleEnv(google.token, { GSC_URL: google.api.url }) }).connectors[0]!;
}

function connector(options: SearchConsoleOptions = {}): AnyConnector {
  return createSearchConsoleConnector({ retry: { baseDelayMs: 1, maxDelayMs: 5 }, timeoutMs: 5_000, ...options }) as unknown as AnyConnector;
}

function expected(dimension: 'query' | 'page' = 'query', from = FROM, to = TO, skip?: (r: SearchConsoleRow) => boolean): Facts {
  const out = new Facts();
  for (const r of ds.searchConsole.range(from, to)) {
    if (skip?.(r)) continue;
    out.add(SITE, r.date, r[dimension], 'organic_search', 'search_clicks', r.clicks, null);
    out.add(SITE, r.date, r[dimension], 'organic_search', 'search_impressions', r.impressions, null);
    out.add(SITE, r.date, r[dimension], 'organic_search', 'search_position_sum', r.position * r.impressions, null);
  }
  return out;
}

const queries = () => google.api.requests.filter((r) => r.path.endsWith('/searchAnalytics/query')).map((r) => r.body as Record<string, any>);

beforeAll(async () => {
  google = await startGoogle(ds, startSearchConsoleFake);
});
afterAll(async () => {
  await google.close();
});

describe.each(warehouseKinds)('search console connector on %s', (kind) => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await testWarehouse(kind);
  });
  afterAll(async () => {
    await wh.close();
  });

  it('reads one day at a time, paging by startRow, and sums the pages of a query; a re-run writes nothing', async () => {
    await truncateWarehouse(wh.db);
    google.api.requests.length = 0;
    const res = await runSync({ db: wh.db, connector: connector(), config: config(), log: quietLogger(), now });
    expect(res.error).toBeUndefined();
    expect(res.run).toMatchObject({ status: 'succeeded', rows_read: [...ds.searchConsole.range(FROM, TO)].length, rows_rejected: 0 });
    expectSameFacts(await storedFacts(wh.db, 'gsc'), expected());
    expect(res.run.flags[`stream:${SITE}`]).toMatchObject({ currency: null, timeZone: 'America/Los_Angeles', window: { from: FROM, to: TO } });

    const bodies = queries();
    expect(bodies.every((b) => b.startDate === b.endDate && b.dataState === 'all' && b.rowLimit === ROW_LIMIT)).toBe(true);
    expect(bodies.map((b) => b.startDate)).toEqual([...bodies.map((b) => b.startDate)].sort());
    const firstDay = bodies.filter((b) => b.startDate === FROM).map((b) => b.startRow);
    const rowsFirstDay = ds.searchConsole.day(FROM).length;
    expect(firstDay).toEqual(Array.from({ length: Math.floor(rowsFirstDay / ROW_LIMIT) + 1 }, (_, i) => i * ROW_LIMIT));

    const again = await runSync({ db: wh.db, connector: connector(), config: config(), log: quietLogger(), now });
    expect(again.run).toMatchObject({ status: 'succeeded', rows_written: 0, rows_deleted: 0 });
  });
});

describe('search console connector behaviour and failures', () => {
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

  const sync = (options: SearchConsoleOptions = {}, cfg = config(), log: Logger = quietLogger()) => runSync({ db: wh.db, connector: connector(options), config: cfg, log, now });

  it('puts the page in the campaign column when dimension is page', async () => {
    const res = await sync({}, config('dataState: all\n    dimension: page'));
    expect(res.run.status).toBe('succeeded');
    expectSameFacts(await storedFacts(wh.db, 'gsc'), expected('page'));
  });

  it('with dataState final, ends the window at the last day that has final data', async () => {
    const res = await sync({}, config('dataState: final'));
    expect(res.run.status).toBe('succeeded');
    // The fake holds back the newest two days from final data.
    const lastFinal = '2024-03-29';
    expect(res.run.flags[`stream:${SITE}`]).toMatchObject({ window: { from: FROM, to: lastFinal } });
    expectSameFacts(await storedFacts(wh.db, 'gsc'), expected('query', FROM, lastFinal));
    expect(await getCheckpoint(wh.db, 'gsc', SITE)).toBe(lastFinal);
    expect(queries().slice(1).every((b) => b.dataState === 'final')).toBe(true);
  });

  it('replaces a day that the source restated within the lookback', async () => {
    await sync();
    try {
      restate(ds, { source: 'searchConsole', date: '2024-03-29', factor: 0.5 });
      const res = await sync();
      expect(res.run.status).toBe('succeeded');
      expect((res.run.flags[`stream:${SITE}`] as any).window).toEqual({ from: '2024-03-28', to: TO });
      expect(res.run.rows_written).toBeGreaterThan(0);
      expectSameFacts(await storedFacts(wh.db, 'gsc'), expected());
    } finally {
      restate(ds, { source: 'searchConsole', date: '2024-03-29', factor: 1 });
    }
  });

  it.each([
    ['a 429 with Retry-After', { kind: '429', retryAfterSec: 4 }],
    ['a burst of 5xx', { kind: '500', times: 3 }],
    ['a 503', { kind: '503', times: 2 }],
    ['a hanging response (timeout)', { kind: 'hang' }],
    ['a truncated JSON body', { kind: 'malformed', after: 3 }],
  ] as const)('retries %s and still writes exactly the expected facts', async (_name, fault) => {
    const { sleeps, sleep } = fakeSleep();
    google.api.faults.push({ ...fault, path: '/searchAnalytics/query' });
    // Only the hang needs a short deadline; elsewhere a slow machine must not look like a hang.
    const res = await sync({ sleep, ...(fault.kind === 'hang' ? { timeoutMs: 300 } : {}) });
    expect(res.error).toBeUndefined();
    expectSameFacts(await storedFacts(wh.db, 'gsc'), expected());
    expect(google.api.requests.filter((r) => r.fault === fault.kind)).toHaveLength('times' in fault ? fault.times : 1);
    if ('retryAfterSec' in fault) expect(sleeps).toContain(fault.retryAfterSec * 1000);
  });

  it('quarantines a row whose clicks changed type and keeps the rest', async () => {
    google.api.faults.push({ kind: 'typeChange', path: '/searchAnalytics/query' });
    const res = await sync();
    expect(res.run).toMatchObject({ status: 'succeeded', rows_rejected: 1 });
    const [q] = await listQuarantine(wh.db, { syncRunId: res.run.id });
    expect(q?.reason).toMatch(/^clicks: /);
    // The first row of the first day: the most clicks, then impressions, then keys.
    const top = [...ds.searchConsole.day(FROM)].sort((a, b) => b.clicks - a.clicks || b.impressions - a.impressions || (`${a.query}\u0001${a.page}` < `${b.query}\u0001${b.page}` ? -1 : 1))[0]!;
    expect(q?.record).toMatchObject({ date: FROM, query: top.query, page: top.page, clicks: { value: top.clicks } });
    expectSameFacts(await storedFacts(wh.db, 'gsc'), expected('query', FROM, TO, (r) => r === top));
  });

  it('refreshes an access token the API stopped accepting, once, and succeeds', async () => {
    const issued = google.token.issued.length;
    google.api.faults.push({ kind: 'expiredToken', path: '/searchAnalytics/query', after: 4 });
    const res = await sync();
    expect(res.run.status).toBe('succeeded');
    expect(google.token.issued.length - issued).toBe(2);
    expectSameFacts(await storedFacts(wh.db, 'gsc'), expected());
  });

  it('fails as a config error when the token is revoked, without secrets in the message or the logs', async () => {
    const { log, text } = capturingLogger();
    google.api.faults.push({ kind: 'revokedToken', path: '/searchAnalytics/query' });
    const res = await sync({}, config(), log);
    expect(res.run).toMatchObject({ status: 'failed', error_kind: 'config' });
    expect(res.run.error).toMatch(/Search Console API rejected the credentials even after refreshing/);
    const secrets = [OAUTH.clientSecret, OAUTH.refreshToken, ...google.token.issued];
    expectNoSecrets(String(res.run.error), secrets);
    expectNoSecrets(text(), secrets);
  });

  it("passes on the API's message for a site the credentials cannot read", async () => {
    const res = await sync({}, config('dataState: all', '["https://other.example/"]'));
    expect(res.run).toMatchObject({ status: 'failed', error_kind: 'config' });
    expect(res.run.error).toMatch(/HTTP 403 PERMISSION_DENIED: User does not have sufficient permission for site 'https:\/\/other.example\/'/);
  });
});
