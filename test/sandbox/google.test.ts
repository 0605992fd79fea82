import { createSign } from 'node:crypto';
import { analyticsdata, auth as googleAuth } from '@googleapis/analyticsdata';
import { searchconsole } from '@googleapis/searchconsole';
import axios from 'axios';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDataset, GOOGLE_JWT_GRANT, startSandbox, type Dataset, type Sandbox } from '../../src/sandbox/index.ts';
import { compactDate } from '../../src/sandbox/dates.ts';

let ds: Dataset;
let sb: Sandbox;
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

beforeAll(async () => {
  ds = createDataset({ seed: 11, endDate: '2024-03-31', days: 90 });
  sb = await startSandbox(ds);
});
afterAll(async () => {
  await sb.close();
});
beforeEach(() => {
  for (const f of Object.values(sb.fakes)) f.faults.length = 0;
  sb.fakes.googleToken.settings.expiresInSec = 3599;
});

const auth = (): Record<string, string> => ({ authorization: `Bearer ${sb.credentials.google.staticAccessToken}`, 'content-type': 'application/json' });
const form = (body: Record<string, string>): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });

function refreshBody(overrides: Record<string, string> = {}): Record<string, string> {
  const c = sb.credentials.google.oauthClient;
  return { grant_type: 'refresh_token', client_id: c.clientId, client_secret: c.clientSecret, refresh_token: c.refreshToken, ...overrides };
}

function signJwt(claims: Record<string, unknown>, privateKey: string): string {
  const enc = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  const head = `${enc({ alg: 'RS256', typ: 'JWT' })}.${enc(claims)}`;
  return `${head}.${createSign('RSA-SHA256').update(head).sign(privateKey).toString('base64url')}`;
}

async function runReport(body: Record<string, unknown>, token = sb.credentials.google.staticAccessToken): Promise<{ status: number; body: any }> {
  const res = await fetch(`${sb.urls.ga4}/v1beta/properties/${ds.ga4.propertyId}:runReport`, { method: 'POST', headers: { ...auth(), authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

describe('Google OAuth token endpoint', () => {
  it('exchanges a refresh token for an access token the Google fakes accept', async () => {
    const res = await fetch(sb.credentials.google.tokenUrl, form(refreshBody()));
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3599 });
    expect(body.access_token).toMatch(/^sandbox\.access-/);
    expect((await runReport({ dateRanges: [{ startDate: '2024-03-01', endDate: '2024-03-01' }], metrics: [{ name: 'sessions' }] }, String(body.access_token))).status).toBe(200);
    expect(sb.fakes.googleToken.issued).toContain(body.access_token);
  });

  it('answers OAuth errors as Google does', async () => {
    const url = sb.credentials.google.tokenUrl;
    const wrongSecret = await fetch(url, form(refreshBody({ client_secret: 'nope' })));
    expect(wrongSecret.status).toBe(401);
    expect(await wrongSecret.json()).toMatchObject({ error: 'invalid_client' });
    const unknown = await fetch(url, form(refreshBody({ refresh_token: '1//unknown' })));
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ error: 'invalid_grant' });
    const grant = await fetch(url, form({ grant_type: 'password' }));
    expect(await grant.json()).toMatchObject({ error: 'unsupported_grant_type' });

    sb.fakes.googleToken.settings.revokedRefreshTokens.push(sb.credentials.google.oauthClient.refreshToken);
    const revoked = await fetch(url, form(refreshBody()));
    expect(revoked.status).toBe(400);
    expect(await revoked.json()).toEqual({ error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
    sb.fakes.googleToken.settings.revokedRefreshTokens.length = 0;

    sb.fakes.googleToken.faults.push({ kind: 'revokedToken', times: 1 });
    expect(await (await fetch(url, form(refreshBody()))).json()).toMatchObject({ error: 'invalid_grant' });
    expect((await fetch(url, form(refreshBody()))).status).toBe(200);

    sb.fakes.googleToken.faults.push({ kind: '503' });
    expect((await fetch(url, form(refreshBody()))).status).toBe(503);
  });

  it('accepts a JWT-bearer grant signed with the sandbox service account key, and only that', async () => {
    const key = sb.credentials.google.serviceAccountKey;
    expect(key).toMatchObject({ type: 'service_account', token_uri: sb.credentials.google.tokenUrl });
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: key.client_email, scope: 'https://www.googleapis.com/auth/analytics.readonly', aud: key.token_uri, iat: now, exp: now + 3600 };
    const ok = await fetch(key.token_uri, form({ grant_type: GOOGLE_JWT_GRANT, assertion: signJwt(claims, key.private_key) }));
    expect(ok.status).toBe(200);
    const token = ((await ok.json()) as { access_token: string }).access_token;
    expect((await runReport({ dateRanges: [{ startDate: 'yesterday', endDate: 'yesterday' }], metrics: [{ name: 'sessions' }] }, token)).status).toBe(200);

    const forged = signJwt(claims, key.private_key).replace(/\.[^.]+$/, '.AAAA');
    expect(await (await fetch(key.token_uri, form({ grant_type: GOOGLE_JWT_GRANT, assertion: forged }))).json()).toEqual({ error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    const stale = signJwt({ ...claims, iat: now - 7200, exp: now - 3600 }, key.private_key);
    expect(await (await fetch(key.token_uri, form({ grant_type: GOOGLE_JWT_GRANT, assertion: stale }))).json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('issues short-lived tokens on request, which the APIs then refuse as expired', async () => {
    sb.fakes.googleToken.settings.expiresInSec = 1;
    const body = (await (await fetch(sb.credentials.google.tokenUrl, form(refreshBody()))).json()) as { access_token: string; expires_in: number };
    expect(body.expires_in).toBe(1);
    const query = { dateRanges: [{ startDate: '2024-03-01', endDate: '2024-03-01' }], metrics: [{ name: 'sessions' }] };
    expect((await runReport(query, body.access_token)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1100));
    const late = await runReport(query, body.access_token);
    expect(late.status).toBe(401);
    expect(late.body.error.details[0].reason).toBe('ACCESS_TOKEN_EXPIRED');
  });
});

describe('real googleapis clients against the fakes', () => {
  // googleapis-common pins its own google-auth-library, so its OAuth2 class is the one its clients type-check against.
  function oauthClient(): InstanceType<typeof googleAuth.OAuth2> {
    const c = sb.credentials.google.oauthClient;
    // Without forceRefreshOnFailure the library only refreshes by the clock, never on a 401.
    const client = new googleAuth.OAuth2({ clientId: c.clientId, clientSecret: c.clientSecret, endpoints: { oauth2TokenUrl: sb.credentials.google.tokenUrl }, forceRefreshOnFailure: true });
    client.setCredentials({ refresh_token: c.refreshToken });
    return client;
  }

  it('GA4 runReport through @googleapis/analyticsdata, refreshing on an expired token', async () => {
    const client = analyticsdata({ version: 'v1beta', auth: oauthClient(), rootUrl: `${sb.urls.ga4}/` });
    const requestBody = { dateRanges: [{ startDate: '2024-03-01', endDate: '2024-03-03' }], dimensions: [{ name: 'date' }], metrics: [{ name: 'sessions' }], orderBys: [{ dimension: { dimensionName: 'date' } }] };
    const first = await client.properties.runReport({ property: `properties/${ds.ga4.propertyId}`, requestBody });
    expect(first.data.rows?.map((r) => r.dimensionValues?.[0]?.value)).toEqual(['20240301', '20240302', '20240303']);
    expect(Number(first.data.rows?.[0]?.metricValues?.[0]?.value)).toBe(sum(ds.ga4.day('2024-03-01').map((r) => r.sessions)));

    const issued = sb.fakes.googleToken.issued.length;
    sb.fakes.ga4.faults.push({ kind: 'expiredToken' });
    const second = await client.properties.runReport({ property: `properties/${ds.ga4.propertyId}`, requestBody });
    expect(second.data.rowCount).toBe(3);
    expect(sb.fakes.googleToken.issued.length).toBe(issued + 1);
  });

  it('Search Console through @googleapis/searchconsole', async () => {
    const client = searchconsole({ version: 'v1', auth: oauthClient(), rootUrl: `${sb.urls.searchConsole}/` });
    const res = await client.searchanalytics.query({ siteUrl: ds.searchConsole.siteUrl, requestBody: { startDate: '2024-03-01', endDate: '2024-03-01', dimensions: ['query'], rowLimit: 3 } });
    expect(res.data.rows).toHaveLength(3);
    expect(res.data.responseAggregationType).toBe('byProperty');
  });
});

describe('GA4 Data API fake', () => {
  const everything = { dimensions: [{ name: 'date' }, { name: 'sessionDefaultChannelGroup' }, { name: 'sessionCampaignName' }], metrics: ['sessions', 'totalUsers', 'newUsers', 'engagedSessions', 'screenPageViews', 'keyEvents', 'purchaseRevenue', 'transactions'].map((name) => ({ name })) };

  it('answers in the runReport shape', async () => {
    const { status, body } = await runReport({ dateRanges: [{ startDate: '2024-03-01', endDate: '2024-03-01' }], ...everything, returnPropertyQuota: true });
    expect(status).toBe(200);
    expect(body.kind).toBe('analyticsData#runReport');
    expect(body.dimensionHeaders).toEqual([{ name: 'date' }, { name: 'sessionDefaultChannelGroup' }, { name: 'sessionCampaignName' }]);
    expect(body.metricHeaders[0]).toEqual({ name: 'sessions', type: 'TYPE_INTEGER' });
    expect(body.metricHeaders[6]).toEqual({ name: 'purchaseRevenue', type: 'TYPE_CURRENCY' });
    expect(body.metadata).toEqual({ currencyCode: 'EUR', timeZone: 'Europe/Berlin' });
    expect(body.rowCount).toBe(ds.ga4.day('2024-03-01').length);
    const row = body.rows[0];
    expect(row.dimensionValues[0]).toEqual({ value: '20240301' });
    for (const v of row.metricValues) expect(typeof v.value).toBe('string');
    expect(body.propertyQuota.tokensPerDay).toEqual({ consumed: 10, remaining: expect.any(Number) });
    for (const k of ['tokensPerHour', 'concurrentRequests', 'serverErrorsPerProjectPerHour', 'potentiallyThresholdedRequestsPerHour', 'tokensPerProjectPerHour']) expect(body.propertyQuota[k]).toBeDefined();
  });

  it('pages with limit/offset through every row exactly once, in date order', async () => {
    const seen: string[] = [];
    let offset = 0;
    let total = 0;
    let revenueCents = 0;
    do {
      const { body } = await runReport({ dateRanges: [{ startDate: ds.startDate, endDate: ds.endDate }], ...everything, limit: '250', offset: String(offset), orderBys: [{ dimension: { dimensionName: 'date' } }] });
      total = body.rowCount;
      for (const r of body.rows) {
        seen.push(r.dimensionValues.map((v: { value: string }) => v.value).join('|'));
        revenueCents += Math.round(Number(r.metricValues[6].value) * 100);
      }
      offset += body.rows.length;
    } while (offset < total);
    expect(total).toBe(ds.ga4.rows.length);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toHaveLength(ds.ga4.rows.length);
    const dates = seen.map((s) => s.slice(0, 8));
    expect([...dates].sort()).toEqual(dates);
    expect(new Set(seen)).toEqual(new Set(ds.ga4.rows.map((r) => `${compactDate(r.date)}|${r.sessionDefaultChannelGroup}|${r.sessionCampaignName}`)));
    expect(revenueCents).toBe(sum(ds.ga4.rows.map((r) => Math.round(r.purchaseRevenue * 100))));
  });

  it('aggregates over the dimensions not asked for, orders, filters and totals', async () => {
    const { body } = await runReport({
      dateRanges: [{ startDate: '2024-03-01', endDate: '2024-03-07' }],
      dimensions: [{ name: 'sessionDefaultChannelGroup' }],
      metrics: [{ name: 'sessions' }],
      orderBys: [{ metric: { metricName: 'sessions' }, desc: true }],
      metricAggregations: ['TOTAL'],
    });
    const week = ds.ga4.rows.filter((r) => r.date >= '2024-03-01' && r.date <= '2024-03-07');
    const values = body.rows.map((r: any) => Number(r.metricValues[0].value));
    expect([...values].sort((a, b) => b - a)).toEqual(values);
    const paid = body.rows.find((r: any) => r.dimensionValues[0].value === 'Paid Search');
    expect(Number(paid.metricValues[0].value)).toBe(sum(week.filter((r) => r.sessionDefaultChannelGroup === 'Paid Search').map((r) => r.sessions)));
    expect(Number(body.totals[0].metricValues[0].value)).toBe(sum(week.map((r) => r.sessions)));

    const filtered = await runReport({
      dateRanges: [{ startDate: '2024-03-01', endDate: '2024-03-07' }],
      dimensions: [{ name: 'date' }],
      metrics: [{ name: 'sessions' }],
      dimensionFilter: { filter: { fieldName: 'sessionDefaultChannelGroup', stringFilter: { matchType: 'EXACT', value: 'Email' } } },
      orderBys: [{ dimension: { dimensionName: 'date' }, desc: true }],
    });
    expect(filtered.body.rows[0].dimensionValues[0].value).toBe('20240307');
    expect(sum(filtered.body.rows.map((r: any) => Number(r.metricValues[0].value)))).toBe(sum(week.filter((r) => r.sessionDefaultChannelGroup === 'Email').map((r) => r.sessions)));
  });

  it('resolves relative dates and leaves rows and rowCount out of an empty report', async () => {
    const y = await runReport({ dateRanges: [{ startDate: 'yesterday', endDate: 'yesterday' }], dimensions: [{ name: 'date' }], metrics: [{ name: 'sessions' }] });
    expect(y.body.rows[0].dimensionValues[0].value).toBe(compactDate(ds.endDate));
    const empty = await runReport({ dateRanges: [{ startDate: '2020-01-01', endDate: '2020-01-31' }], dimensions: [{ name: 'date' }], metrics: [{ name: 'sessions' }] });
    expect(empty.status).toBe(200);
    expect(empty.body.rows).toBeUndefined();
    expect(empty.body.rowCount).toBeUndefined();
  });

  it('refuses bad requests and other properties with Google errors', async () => {
    const bad = await runReport({ dateRanges: [{ startDate: '2024-03-01', endDate: '2024-03-01' }], dimensions: [{ name: 'country' }], metrics: [{ name: 'sessions' }] });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
    expect(bad.body.error.message).toMatch(/country is not a valid dimension/);
    const other = await fetch(`${sb.urls.ga4}/v1beta/properties/999:runReport`, { method: 'POST', headers: auth(), body: '{}' });
    expect(other.status).toBe(403);
    expect(((await other.json()) as any).error.status).toBe('PERMISSION_DENIED');
  });

  it('runs out of property tokens, and reports thresholding and sampling when told', async () => {
    const ga4 = sb.fakes.ga4.settings;
    ga4.subjectToThresholding = true;
    ga4.sampling = true;
    const q = { dateRanges: [{ startDate: '2024-03-01', endDate: '2024-03-01' }], metrics: [{ name: 'sessions' }] };
    const meta = (await runReport(q)).body.metadata;
    expect(meta.subjectToThresholding).toBe(true);
    expect(meta.samplingMetadatas[0]).toEqual({ samplesReadCount: expect.any(String), samplingSpaceSize: expect.any(String) });
    ga4.subjectToThresholding = false;
    ga4.sampling = false;
    const before = ga4.quota.tokensPerHour.used;
    ga4.quota.tokensPerHour.used = ga4.quota.tokensPerHour.limit;
    const out = await runReport(q);
    expect(out.status).toBe(429);
    expect(out.body.error.status).toBe('RESOURCE_EXHAUSTED');
    ga4.quota.tokensPerHour.used = before;
  });

  it('caps pages at the configured size', async () => {
    sb.fakes.ga4.settings.maxPageSize = 7;
    const { body } = await runReport({ dateRanges: [{ startDate: '2024-03-01', endDate: '2024-03-31' }], dimensions: [{ name: 'date' }], metrics: [{ name: 'sessions' }], limit: 100 });
    sb.fakes.ga4.settings.maxPageSize = 250_000;
    expect(body.rows).toHaveLength(7);
    expect(body.rowCount).toBe(31);
  });
});

describe('Search Console fake', () => {
  const url = (): string => `${sb.urls.searchConsole}/webmasters/v3/sites/${encodeURIComponent(ds.searchConsole.siteUrl)}/searchAnalytics/query`;
  const query = async (body: Record<string, unknown>): Promise<{ status: number; body: any }> => {
    const res = await axios.post(url(), body, { headers: auth(), validateStatus: () => true });
    return { status: res.status, body: res.data };
  };

  it('pages with startRow through every date × query × page row exactly once, by clicks', async () => {
    const seen: string[] = [];
    let clicks = 0;
    let last = Number.POSITIVE_INFINITY;
    for (let startRow = 0; ; startRow += 200) {
      const { body } = await query({ startDate: ds.startDate, endDate: ds.endDate, dimensions: ['date', 'query', 'page'], rowLimit: 200, startRow, dataState: 'all' });
      if (!body.rows) break;
      for (const r of body.rows) {
        expect(r.clicks).toBeLessThanOrEqual(last);
        last = r.clicks;
        expect(Object.keys(r)).toEqual(['keys', 'clicks', 'impressions', 'ctr', 'position']);
        seen.push(r.keys.join('|'));
        clicks += r.clicks;
      }
    }
    expect(seen).toHaveLength(ds.searchConsole.rows.length);
    expect(new Set(seen).size).toBe(seen.length);
    expect(clicks).toBe(sum(ds.searchConsole.rows.map((r) => r.clicks)));
  });

  it('holds back the freshest days unless dataState is all', async () => {
    const dates = async (dataState?: string): Promise<string[]> => {
      const { body } = await query({ startDate: '2024-03-25', endDate: '2024-03-31', dimensions: ['date'], ...(dataState ? { dataState } : {}) });
      return body.rows.map((r: any) => r.keys[0]).sort();
    };
    expect((await dates()).at(-1)).toBe('2024-03-29');
    expect((await dates('all')).at(-1)).toBe('2024-03-31');
  });

  it('aggregates: summed clicks, ctr from the sums, position weighted by impressions', async () => {
    const { body } = await query({ startDate: '2024-03-01', endDate: '2024-03-07', dimensions: ['query'], dimensionFilterGroups: [{ filters: [{ dimension: 'query', operator: 'equals', expression: 'kpi dashboard' }] }] });
    expect(body.rows).toHaveLength(1);
    const rows = ds.searchConsole.rows.filter((r) => r.query === 'kpi dashboard' && r.date >= '2024-03-01' && r.date <= '2024-03-07');
    const impressions = sum(rows.map((r) => r.impressions));
    expect(body.rows[0].clicks).toBe(sum(rows.map((r) => r.clicks)));
    expect(body.rows[0].ctr).toBeCloseTo(body.rows[0].clicks / impressions, 12);
    expect(body.rows[0].position).toBeCloseTo(sum(rows.map((r) => r.position * r.impressions)) / impressions, 9);
    expect(body.responseAggregationType).toBe('byProperty');
  });

  it('refuses other sites and bad arguments', async () => {
    const other = await axios.post(`${sb.urls.searchConsole}/webmasters/v3/sites/${encodeURIComponent('https://other.example/')}/searchAnalytics/query`, { startDate: '2024-03-01', endDate: '2024-03-01' }, { headers: auth(), validateStatus: () => true });
    expect(other.status).toBe(403);
    expect(other.data.error.errors[0].reason).toBe('forbidden');
    const bad = await query({ startDate: '2024-03-01', endDate: '2024-03-01', rowLimit: 50_000 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.status).toBe('INVALID_ARGUMENT');
    const sites = await axios.get(`${sb.urls.searchConsole}/webmasters/v3/sites`, { headers: auth() });
    expect(sites.data.siteEntry).toEqual([{ siteUrl: 'sc-domain:example.com', permissionLevel: 'siteOwner' }]);
  });
});

describe('Google Ads fake', () => {
  const headers = (): Record<string, string> => ({ ...auth(), 'developer-token': sb.credentials.googleAds.developerToken, 'login-customer-id': sb.credentials.googleAds.loginCustomerId });
  const ads = async (customer: string, body: Record<string, unknown>, method = 'searchStream', h = headers()): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${sb.urls.googleAds}/v21/customers/${customer}/googleAds:${method}`, { method: 'POST', headers: h, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };
  const REPORT =
    'SELECT campaign.id, campaign.name, segments.date, segments.ad_network_type, metrics.impressions, metrics.clicks, metrics.cost_micros, metrics.conversions, metrics.conversions_value, customer.currency_code ' +
    `FROM campaign WHERE segments.date BETWEEN '${'2024-01-02'}' AND '2024-03-31' ORDER BY segments.date`;

  it('streams every row in batches, int64 fields as strings', async () => {
    sb.fakes.googleAds.settings.batchSize = 100;
    const { status, body } = await ads('1234567890', { query: REPORT });
    sb.fakes.googleAds.settings.batchSize = 10_000;
    expect(status).toBe(200);
    expect(Array.isArray(body)).toBe(true);
    expect(body.length).toBeGreaterThan(2);
    const results = body.flatMap((b: any) => b.results);
    const expected = ds.googleAds.rows.filter((r) => r.customerId === '1234567890');
    expect(results).toHaveLength(expected.length);
    for (const b of body) {
      expect(b.fieldMask).toBe('campaign.id,campaign.name,segments.date,segments.adNetworkType,metrics.impressions,metrics.clicks,metrics.costMicros,metrics.conversions,metrics.conversionsValue,customer.currencyCode');
      expect(typeof b.requestId).toBe('string');
    }
    const r = results[0];
    expect(r.campaign.resourceName).toBe(`customers/1234567890/campaigns/${r.campaign.id}`);
    expect(typeof r.campaign.id).toBe('string');
    expect(typeof r.metrics.impressions).toBe('string');
    expect(typeof r.metrics.costMicros).toBe('string');
    expect(typeof r.metrics.conversions).toBe('number');
    expect(r.customer.currencyCode).toBe('USD');
    expect(['SEARCH', 'CONTENT', 'YOUTUBE_WATCH']).toContain(r.segments.adNetworkType);
    const keys = new Set(results.map((x: any) => `${x.segments.date}|${x.campaign.id}|${x.segments.adNetworkType}`));
    expect(keys.size).toBe(expected.length);
    expect(sum(results.map((x: any) => Number(x.metrics.costMicros)))).toBe(sum(expected.map((x) => x.costMicros)));
    const dates = results.map((x: any) => x.segments.date);
    expect([...dates].sort()).toEqual(dates);
  });

  it('pages googleAds:search with nextPageToken, reaching each row once', async () => {
    sb.fakes.googleAds.settings.batchSize = 250;
    const seen: string[] = [];
    let pageToken: string | undefined;
    do {
      const { body } = await ads('2345678901', { query: REPORT, ...(pageToken ? { pageToken } : {}) }, 'search');
      for (const r of body.results) seen.push(`${r.segments.date}|${r.campaign.id}|${r.segments.adNetworkType}`);
      expect(body.results[0].customer.currencyCode).toBe('EUR');
      pageToken = body.nextPageToken;
    } while (pageToken);
    sb.fakes.googleAds.settings.batchSize = 10_000;
    expect(seen).toHaveLength(ds.googleAds.rows.filter((r) => r.customerId === '2345678901').length);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('aggregates over unselected segments, filters, orders and limits', async () => {
    const { body } = await ads('1234567890', {
      query: "SELECT campaign.name, metrics.clicks FROM campaign WHERE segments.date DURING LAST_7_DAYS AND campaign.status = 'ENABLED' ORDER BY metrics.clicks DESC LIMIT 2",
    });
    const results = body[0].results;
    expect(results).toHaveLength(2);
    const week = ds.googleAds.rows.filter((r) => r.customerId === '1234567890' && r.date >= '2024-03-25');
    const byName = new Map<string, number>();
    for (const r of week) byName.set(r.campaignName, (byName.get(r.campaignName) ?? 0) + r.clicks);
    const top = [...byName].sort((a, b) => b[1] - a[1]).slice(0, 2);
    expect(results.map((r: any) => [r.campaign.name, Number(r.metrics.clicks)])).toEqual(top);
    expect(results[0].segments).toBeUndefined();
  });

  it('answers an empty window with one batch and no results', async () => {
    const { status, body } = await ads('1234567890', { query: "SELECT campaign.id, metrics.clicks FROM campaign WHERE segments.date BETWEEN '2020-01-01' AND '2020-01-31'" });
    expect(status).toBe(200);
    expect(body).toHaveLength(1);
    expect(body[0].results).toBeUndefined();
    expect(body[0].fieldMask).toBe('campaign.id,metrics.clicks');
  });

  it('refuses bad GAQL, missing developer tokens and foreign customers in the Google Ads error shape', async () => {
    const unknown = await ads('1234567890', { query: "SELECT campaign.id, metrics.bogus FROM campaign WHERE segments.date = '2024-03-01'" });
    expect(unknown.status).toBe(400);
    expect(unknown.body[0].error.details[0].errors[0]).toMatchObject({ errorCode: { queryError: 'UNRECOGNIZED_FIELD' }, trigger: { stringValue: 'metrics.bogus' } });
    const syntax = await ads('1234567890', { query: 'SELECT campaign.id FROM' });
    expect(syntax.body[0].error.details[0].errors[0].errorCode.queryError).toBe('UNEXPECTED_END_OF_QUERY');
    const noDates = await ads('1234567890', { query: 'SELECT segments.date, metrics.clicks FROM campaign' });
    expect(noDates.status).toBe(400);
    const paged = await ads('1234567890', { query: 'SELECT campaign.id FROM campaign WHERE segments.date DURING NEXT_YEAR' }, 'search');
    expect(Array.isArray(paged.body)).toBe(false);
    expect(paged.body.error.details[0].errors[0].errorCode.queryError).toBe('INVALID_VALUE_WITH_DURING_OPERATOR');

    const noDev = await ads('1234567890', { query: REPORT }, 'searchStream', { ...headers(), 'developer-token': 'wrong' });
    expect(noDev.status).toBe(401);
    expect(noDev.body[0].error.details[0].errors[0].errorCode).toEqual({ authenticationError: 'DEVELOPER_TOKEN_INVALID' });
    const foreign = await ads('5555555555', { query: REPORT });
    expect(foreign.status).toBe(403);
    expect(foreign.body[0].error.details[0].errors[0].errorCode).toEqual({ authorizationError: 'USER_PERMISSION_DENIED' });
    const badLogin = await ads('1234567890', { query: REPORT }, 'searchStream', { ...headers(), 'login-customer-id': '123-456-7890' });
    expect(badLogin.body[0].error.details[0].errors[0].errorCode).toEqual({ headerError: 'INVALID_LOGIN_CUSTOMER_ID' });

    const { 'login-customer-id': _drop, ...direct } = headers();
    expect((await ads('1234567890', { query: REPORT }, 'searchStream', direct)).status).toBe(200);
    sb.fakes.googleAds.settings.requireLoginCustomerId = true;
    expect((await ads('1234567890', { query: REPORT }, 'searchStream', direct)).status).toBe(403);
    sb.fakes.googleAds.settings.requireLoginCustomerId = false;
  });
});
