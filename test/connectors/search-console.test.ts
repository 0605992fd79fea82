import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import type { AnyConnector, ConnectorConfig } from '../../src/connectors/index.ts';
import { createSearchConsoleConnector, type SearchConsoleOptions } from '../../src/connectors/search-console/connector.ts';
import { createDataset, startSearchConsoleFake, type SearchConsoleRow } from '../../src/sandbox/index.ts';
import { getCheckpoint } from '../../src/warehouse/index.ts';
import { warehouseKinds } from '../helpers/warehouse.ts';
import { Facts, googleAuthYaml, googleEnv, googleSecrets, useGoogle } from './google-helpers.ts';
import { expectFailed, expectFullSync, expectRerunWritesNothing, itFailsOnARevokedToken, itQuarantinesATypeChange, itRefreshesAnExpiredToken, itReplacesARestatedDay, itRetries, SERVER_FAULTS, sourceHarness, type Source } from './source-cases.ts';
import { inUnitTier } from '../helpers/tier.ts';

const ds = createDataset({ seed: 7, endDate: '2024-03-31', days: 40 });
const SITE = ds.searchConsole.siteUrl;
const FROM = '2024-03-22';
const TO = '2024-03-31';
/** 13:00 in Los Angeles on the last day of data, the zone Search Console dates are in. */
const NOW = Date.parse('2024-03-31T20:00:00Z');
const now = () => new Date(NOW);
const ROW_LIMIT = 5;

const google = useGoogle(ds, startSearchConsoleFake);

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

const gsc: Source<SearchConsoleOptions> = { name: 'gsc', dataset: ds, fake: () => google.api, dataPath: '/searchAnalytics/query', connector, config, now, expected };

describe.each(warehouseKinds)('search console connector on %s', (kind) => {
  const h = sourceHarness(gsc, kind);

  it('reads one day at a time, paging by startRow, and sums the pages of a query; a re-run writes nothing', async () => {
    await expectFullSync(h, [...ds.searchConsole.range(FROM, TO)].length, { [SITE]: { currency: null, timeZone: 'America/Los_Angeles', window: { from: FROM, to: TO } } });

    const bodies = queries();
    expect(bodies.every((b) => b.startDate === b.endDate && b.dataState === 'all' && b.rowLimit === ROW_LIMIT)).toBe(true);
    expect(bodies.map((b) => b.startDate)).toEqual([...bodies.map((b) => b.startDate)].sort());
    const firstDay = bodies.filter((b) => b.startDate === FROM).map((b) => b.startRow);
    const rowsFirstDay = ds.searchConsole.day(FROM).length;
    expect(firstDay).toEqual(Array.from({ length: Math.floor(rowsFirstDay / ROW_LIMIT) + 1 }, (_, i) => i * ROW_LIMIT));

    await expectRerunWritesNothing(h);
  });
});

describe.skipIf(inUnitTier)('search console connector behaviour and failures', () => {
  const h = sourceHarness(gsc);
  const { sync, wh } = h;

  it('puts the page in the campaign column when dimension is page', async () => {
    const res = await sync({}, config('dataState: all\n    dimension: page'));
    expect(res.run.status).toBe('succeeded');
    await h.expectFacts(expected('page'));
  });

  it('with dataState final, ends the window at the last day that has final data', async () => {
    const res = await sync({}, config('dataState: final'));
    expect(res.run.status).toBe('succeeded');
    // The fake holds back the newest two days from final data.
    const lastFinal = '2024-03-29';
    expect(res.run.flags[`stream:${SITE}`]).toMatchObject({ window: { from: FROM, to: lastFinal } });
    await h.expectFacts(expected('query', FROM, lastFinal));
    expect(await getCheckpoint(wh.db, 'gsc', SITE)).toBe(lastFinal);
    expect(queries().slice(1).every((b) => b.dataState === 'final')).toBe(true);
  });

  itReplacesARestatedDay(h, 'the lookback', { source: 'searchConsole', date: '2024-03-29', factor: 0.5 }, { stream: SITE, from: '2024-03-28', to: TO });

  itRetries(h, [['a 429 with Retry-After', { kind: '429', retryAfterSec: 4 }], ...SERVER_FAULTS, ['a truncated JSON body', { kind: 'malformed', after: 3 }]]);

  itQuarantinesATypeChange(h, 'a row whose clicks', {
    reason: /^clicks: /,
    // The first row of the first day: the most clicks, then impressions, then keys.
    row: () => [...ds.searchConsole.day(FROM)].sort((a, b) => b.clicks - a.clicks || b.impressions - a.impressions || (`${a.query}\u0001${a.page}` < `${b.query}\u0001${b.page}` ? -1 : 1))[0]!,
    record: (top) => ({ date: FROM, query: top.query, page: top.page, clicks: { value: top.clicks } }),
    expected: (skip) => expected('query', FROM, TO, skip),
  });

  itRefreshesAnExpiredToken(h, () => google.token, 4);

  itFailsOnARevokedToken(h, 'fails as a config error when the token is revoked, without secrets in the message or the logs', {
    error: /Search Console API rejected the credentials even after refreshing/,
    secrets: () => googleSecrets(google.token),
  });

  it('a day that outruns the page limit fails once as a config error saying to check the pagination settings', async () => {
    const res = await sync({ maxPages: 2 });
    expect(res.run).toMatchObject({ status: 'failed', error_kind: 'config', error: `connector "gsc": Search Console rows of ${SITE} on ${FROM} did not end after 2 pages; check the pagination settings` });
    expect(queries()).toHaveLength(2);
  });

  it("passes on the API's message for a site the credentials cannot read", async () => {
    const res = await sync({}, config('dataState: all', '["https://other.example/"]'));
    expectFailed(res, 'config', /HTTP 403 PERMISSION_DENIED: User does not have sufficient permission for site 'https:\/\/other.example\/'/);
  });
});
