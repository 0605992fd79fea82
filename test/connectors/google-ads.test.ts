import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { createGoogleAdsConnector, type GoogleAdsOptions } from '../../src/connectors/google-ads/connector.ts';
import type { AnyConnector, ConnectorConfig } from '../../src/connectors/index.ts';
import { channelFromAdNetwork } from '../../src/core/vocabulary.ts';
import { createDataset, GOOGLE_ADS_DEVELOPER_TOKEN, startGoogleAdsFake, type GoogleAdsRow } from '../../src/sandbox/index.ts';
import { warehouseKinds } from '../helpers/warehouse.ts';
import { fakeSleep, Facts, googleAuthYaml, googleEnv, googleSecrets, truncateWarehouse, useGoogle } from './google-helpers.ts';
import { expectFailed, expectFullSync, expectRerunWritesNothing, itFailsOnARevokedToken, itQuarantinesATypeChange, itRefreshesAnExpiredToken, itReplacesARestatedDay, itRetries, holdGoogleToken, SERVER_FAULTS, sourceHarness, type Source } from './source-cases.ts';
import { inUnitTier } from '../helpers/tier.ts';

const ds = createDataset({ seed: 7, endDate: '2024-03-31', days: 40 });
const US = '1234567890';
const DE = '2345678901';
const CURRENCY: Record<string, string> = { [US]: 'USD', [DE]: 'EUR' };
const FROM = '2024-03-18';
const TO = '2024-03-31';
/** Afternoon in New York, evening in Berlin: "today" is TO for both customers. */
const NOW = Date.parse('2024-03-31T18:00:00Z');
const now = () => new Date(NOW);

const google = useGoogle(ds, startGoogleAdsFake);

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

const gads: Source<GoogleAdsOptions> = { name: 'gads', dataset: ds, fake: () => google.api, dataPath: 'googleAds:searchStream', connector, config, now, expected };

describe.each(warehouseKinds)('google ads connector on %s', (kind) => {
  const h = sourceHarness(gads, kind);

  it('streams every customer, campaign and network by day in its own currency; a re-run writes nothing', async () => {
    await expectFullSync(h, [...ds.googleAds.range(FROM, TO)].length, {
      [US]: { currency: 'USD', timeZone: 'America/New_York', window: { from: FROM, to: TO } },
      [DE]: { currency: 'EUR', timeZone: 'Europe/Berlin' },
      // The requests are counted: no retry for a deadline a loaded machine misses (PGlite commits in this thread).
    }, { timeoutMs: 60_000 });

    const calls = streamCalls();
    for (const c of calls) {
      expect(c.headers['developer-token']).toBe(GOOGLE_ADS_DEVELOPER_TOKEN);
      expect(c.headers['login-customer-id']).toBe('9876543210');
      expect(c.headers.authorization).toMatch(/^Bearer \S+$/);
    }
    // Per customer on its first sync: one customer query, then the whole 14-day window in one
    // stream, ordered by date, carrying the customer's currency and zone for the next syncs.
    expect(calls, JSON.stringify(calls.map((c) => [c.status, c.fault, (c.body as { query: string }).query.slice(0, 50)]))).toHaveLength(4);
    const queries = calls.map((c) => (c.body as { query: string }).query).filter((q) => q.includes('segments.date'));
    expect(queries).toHaveLength(2);
    expect(queries.every((q) => q.endsWith('ORDER BY segments.date') && q.includes(`BETWEEN '${FROM}' AND '${TO}'`) && q.startsWith('SELECT customer.currency_code, customer.time_zone,'))).toBe(true);

    await expectRerunWritesNothing(h);
  });
});

describe.skipIf(inUnitTier)('google ads connector behaviour and failures', () => {
  const h = sourceHarness(gads);
  const { sync, wh } = h;
  const customerOf = (path: string) => /customers\/(\d+)\//.exec(path)?.[1];

  it('runs the customers side by side with concurrency 2, one after the other with 1', async () => {
    // Side by side: the fake answers nothing until both customers have a call in flight (or
    // 20 s have passed, which a connector taking them one at a time would need). Held, the
    // result does not depend on how fast the machine is.
    const seen = new Set<string>();
    let bothSeen: () => void = () => {};
    const both = new Promise<void>((resolve) => (bothSeen = resolve));
    const inFlightAtFirstAnswer: number[] = [];
    google.api.hold = async (req) => {
      const customer = customerOf(req.path);
      if (!customer) return;
      seen.add(customer);
      if (seen.size === 2) bothSeen();
      await Promise.race([both, new Promise((resolve) => setTimeout(resolve, 20_000))]);
      if (inFlightAtFirstAnswer.length === 0) inFlightAtFirstAnswer.push(seen.size);
    };
    try {
      await sync({}, config('    concurrency: 2'));
    } finally {
      google.api.hold = null;
    }
    expect(inFlightAtFirstAnswer).toEqual([2]);
    await h.expectFacts();

    google.api.requests.length = 0;
    await truncateWarehouse(wh.db);
    await sync({}, config('    concurrency: 1'));
    const serial = streamCalls().map((r) => customerOf(r.path));
    // Each customer's query for currency and zone (the warehouse, where they were kept, is empty), then its window.
    expect(serial).toEqual([US, US, DE, DE]);
  });

  itReplacesARestatedDay(h, 'the conversion window', { source: 'googleAds', date: '2024-03-25', factor: 1.4 });

  itRetries(h, [['a 429 with Retry-After', { kind: '429', retryAfterSec: 3 }], ...SERVER_FAULTS, ['a truncated JSON body', { kind: 'malformed', after: 2 }]]);

  it("waits out RESOURCE_EXHAUSTED for the quota error's own retryDelay", async () => {
    const { sleeps, sleep } = fakeSleep();
    // No Retry-After header: the 30 s come from quotaErrorDetails.retryDelay.
    google.api.faults.push({ kind: '429', path: 'googleAds:searchStream', after: 3, times: 2 });
    const res = await sync({ sleep });
    expect(res.run.status).toBe('succeeded');
    expect(sleeps.filter((ms) => ms === 30_000)).toHaveLength(2);
    await h.expectFacts();
  });

  itQuarantinesATypeChange(h, 'a row whose clicks', {
    fault: { path: `customers/${US}/googleAds:searchStream`, after: 1 },
    config: () => config('', '["123-456-7890"]'),
    reason: /^metrics\.clicks: /,
    row: () => [...ds.googleAds.range(FROM, FROM)].filter((r) => r.customerId === US).sort((a, b) => Number(a.campaignId) - Number(b.campaignId) || (a.adNetworkType < b.adNetworkType ? -1 : 1))[0]!,
    record: (first) => ({ campaign: { id: first.campaignId }, segments: { date: FROM, adNetworkType: first.adNetworkType } }),
    expected: (skip) => expected([US], skip),
  });

  // Both customers' requests in flight may meet the dead token; they share one refresh.
  itRefreshesAnExpiredToken(h, () => google.token, 2, { min: 1, max: 2 });

  itFailsOnARevokedToken(h, 'fails as a config error when the token is revoked, with no secret in the message or the logs', {
    error: /credentials were rejected by .* \(HTTP 401\)/,
    secrets: () => googleSecrets(google.token, GOOGLE_ADS_DEVELOPER_TOKEN),
    logged: 'refreshing credentials after 401',
  });

  it('fails as a config error, without refreshing, on a developer token Google does not know', async () => {
    await holdGoogleToken(config());
    const issued = google.token.issued.length;
    const res = await sync({}, config('', undefined, 'not-the-developer-token'));
    expectFailed(res, 'config', /The developer token is not valid\. \(authenticationError\.DEVELOPER_TOKEN_INVALID\)/);
    expect(res.run.error).not.toContain('not-the-developer-token');
    // The token the process held is used; a 401 for the developer token asks for no new one.
    expect(google.token.issued.length - issued).toBe(0);
  });

  it("fails as a config error with the API's hint on a customer the credentials cannot reach", async () => {
    const res = await sync({}, config('', '["111-111-1111"]'));
    expectFailed(res, 'config', /login-customer-id.*authorizationError\.USER_PERMISSION_DENIED/);
  });
});
