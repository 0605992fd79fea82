import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { createGa4Connector, type Ga4Options } from '../../src/connectors/ga4/connector.ts';
import type { AnyConnector, ConnectorConfig } from '../../src/connectors/index.ts';
import { channelFromGa4Group } from '../../src/core/vocabulary.ts';
import { createDataset, startGa4Fake, type Ga4Row } from '../../src/sandbox/index.ts';
import { failure } from '../helpers/async.ts';
import { warehouseKinds } from '../helpers/warehouse.ts';
import { expectNoSecrets, fakeSleep, Facts, googleAuthYaml, googleEnv, googleSecrets, OAUTH, useGoogle } from './google-helpers.ts';
import { expectFailed, expectFullSync, expectRerunWritesNothing, itFailsOnARevokedToken, itQuarantinesATypeChange, itRefreshesAnExpiredToken, itReplacesARestatedDay, itRetries, SERVER_FAULTS, sourceHarness, type Source } from './source-cases.ts';
import { inUnitTier } from '../helpers/tier.ts';

const ds = createDataset({ seed: 7, endDate: '2024-03-31', days: 40 });
const PROPERTY = ds.ga4.propertyId;
const FROM = '2024-03-20';
const TO = '2024-03-31';
/** Midday in Berlin on the last day of data, so "today" in the property's zone is TO. */
const NOW = Date.parse('2024-03-31T10:00:00Z');
const now = () => new Date(NOW);

const google = useGoogle(ds, startGa4Fake);

function config(extra = '', propertyIds = `["${PROPERTY}"]`): ConnectorConfig {
  const text = `
connectors:
  - name: ga4-web
    type: ga4
    propertyIds: ${propertyIds}
    baseUrl: "\${var:GA4_URL}"
    startDate: ${FROM}
    pageSize: 40
${googleAuthYaml()}
${extra}`;
  return parseConfig(text, 'kpi.yaml', { env: googleEnv(google.token, { GA4_URL: google.api.url }) }).connectors[0]!;
}

function connector(options: Ga4Options = {}): AnyConnector {
  return createGa4Connector({ retry: { baseDelayMs: 1, maxDelayMs: 5 }, timeoutMs: 5_000, now: () => NOW, ...options }) as unknown as AnyConnector;
}

const NO_CAMPAIGN = new Set(['(not set)', '(organic)', '(direct)']);
const METRICS: Array<[keyof Ga4Row, string]> = [
  ['sessions', 'sessions'], ['totalUsers', 'users'], ['newUsers', 'new_users'], ['engagedSessions', 'engaged_sessions'],
  ['screenPageViews', 'page_views'], ['keyEvents', 'key_events'], ['purchaseRevenue', 'revenue'], ['transactions', 'transactions'],
];

/** The facts the data set implies, computed straight from its rows. */
function expected(from = FROM, to = TO, skip?: (r: Ga4Row) => boolean): Facts {
  const out = new Facts();
  for (const r of ds.ga4.range(from, to)) {
    if (skip?.(r)) continue;
    const campaign = NO_CAMPAIGN.has(r.sessionCampaignName) ? '' : r.sessionCampaignName;
    for (const [field, metric] of METRICS) {
      out.add(PROPERTY, r.date, campaign, channelFromGa4Group(r.sessionDefaultChannelGroup), metric, Number(r[field]), metric === 'revenue' ? 'EUR' : null);
    }
  }
  return out;
}

const reportCalls = () => google.api.requests.filter((r) => r.path.endsWith(':runReport'));

const ga4: Source<Ga4Options> = { name: 'ga4-web', dataset: ds, fake: () => google.api, dataPath: ':runReport', connector, config, now, expected };

describe.each(warehouseKinds)('ga4 connector on %s', (kind) => {
  const h = sourceHarness(ga4, kind);

  it('writes every row of the window as base metrics, paging by offset in date order; a re-run writes nothing', async () => {
    const rows = [...ds.ga4.range(FROM, TO)].length;
    await expectFullSync(h, rows, { [PROPERTY]: { currency: 'EUR', timeZone: 'Europe/Berlin', window: { from: FROM, to: TO } } });

    // Pages of 40 until rowCount, and nothing else: currency and zone come with each page.
    const bodies = reportCalls().map((r) => r.body as Record<string, any>);
    expect(bodies).toHaveLength(Math.ceil(rows / 40));
    expect(bodies.map((b) => Number(b.offset))).toEqual(Array.from({ length: Math.ceil(rows / 40) }, (_, i) => i * 40));
    for (const b of bodies) {
      expect(b).toMatchObject({ dateRanges: [{ startDate: FROM, endDate: TO }], limit: '40', returnPropertyQuota: true });
      expect(b.orderBys[0]).toEqual({ dimension: { dimensionName: 'date', orderType: 'ALPHANUMERIC' } });
    }

    await expectRerunWritesNothing(h);
  });
});

describe.skipIf(inUnitTier)('ga4 connector failures and limits', () => {
  const h = sourceHarness(ga4);
  const sync = h.sync;
  beforeEach(() => {
    google.token.faults.length = 0;
  });
  afterEach(() => {
    const s = google.api.settings;
    s.subjectToThresholding = false;
    s.sampling = false;
    for (const b of Object.values(s.quota)) b.used = 0;
    google.token.settings.revokedRefreshTokens.length = 0;
  });

  // Lookback 3: the second sync reads 03-28 … 03-31 only.
  itReplacesARestatedDay(h, 'the lookback', { source: 'ga4', date: '2024-03-30', factor: 1.5 }, { stream: PROPERTY, from: '2024-03-28', to: TO });

  itRetries(h, [['a 429 with Retry-After', { kind: '429', retryAfterSec: 3 }], ...SERVER_FAULTS, ['a truncated JSON body', { kind: 'malformed', after: 2 }]]);

  itQuarantinesATypeChange(h, 'a row whose metric', {
    fault: {},
    reason: /^sessions: /,
    row: () => [...ds.ga4.range(FROM, FROM)].sort((a, b) => cmp(a.sessionDefaultChannelGroup + '\u0001' + a.sessionCampaignName, b.sessionDefaultChannelGroup + '\u0001' + b.sessionCampaignName))[0]!,
    expected: (skip) => expected(FROM, TO, skip),
  });

  itRefreshesAnExpiredToken(h, () => google.token, 2, { min: 1, max: 1 });

  itFailsOnARevokedToken(h, 'fails as a config error when the token is revoked, without the token in the message or the logs', {
    error: /rejected the credentials even after refreshing/,
    refreshesOnce: () => google.token,
    secrets: () => googleSecrets(google.token),
    logged: 'sync failed',
  });

  it('fails as a config error when the refresh token itself was revoked', async () => {
    google.token.settings.revokedRefreshTokens.push(OAUTH.refreshToken);
    const res = await sync();
    expectFailed(res, 'config', /Google refused the credentials \(invalid_grant\)/);
    expectNoSecrets(String(res.run.error), [OAUTH.refreshToken, OAUTH.clientSecret]);
  });

  it('a report that outruns the page limit fails once as a config error saying to check the pagination settings', async () => {
    const res = await sync({ maxPages: 2 });
    expect(res.run).toMatchObject({ status: 'failed', error_kind: 'config', error: `connector "ga4-web": GA4 report for property ${PROPERTY} did not end after 2 pages; check the pagination settings` });
    // Exactly the two pages allowed.
    expect(reportCalls()).toHaveLength(2);
  });

  it("passes on the API's message for a property the credentials cannot read", async () => {
    const res = await sync({}, config('', '["999"]'));
    expectFailed(res, 'config', /HTTP 403 PERMISSION_DENIED: User does not have sufficient permissions for this property/);
  });

  it('spaces requests when the hourly property quota runs low, and never hits a 429', async () => {
    const q = google.api.settings.quota.tokensPerHour;
    q.used = q.limit - 2_000;
    const { sleeps, sleep } = fakeSleep();
    const res = await sync({ sleep });
    expect(res.run.status).toBe('succeeded');
    expect(google.api.requests.some((r) => r.status === 429)).toBe(false);
    const dataPages = reportCalls().length - 1;
    // NOW is on the hour: each of the ~199 requests left is given 3600 s / 199, and more as they run out.
    expect(sleeps).toHaveLength(dataPages);
    expect(sleeps[0]).toBe(Math.ceil(3_600_000 / Math.floor((2_000 - 10) / 10)));
    expect(sleeps.every((ms, i) => i === 0 || ms >= sleeps[i - 1]!)).toBe(true);
    await h.expectFacts();
  });

  it('waits for the next hour when the property cannot afford another request, if that is soon', async () => {
    const q = google.api.settings.quota.tokensPerHour;
    q.used = q.limit - 15;
    const nearHour = Date.parse('2024-03-31T10:58:00Z');
    const { sleeps, sleep } = fakeSleep(() => void (q.used = 0)); // the hour turns while we wait
    const res = await sync({ sleep, now: () => nearHour });
    expect(res.run.status).toBe('succeeded');
    expect(sleeps[0]).toBe(120_000);
    expect(google.api.requests.some((r) => r.status === 429)).toBe(false);
  });

  it('stops with a transient error, without a 429, when the quota is spent for most of the hour', async () => {
    const q = google.api.settings.quota.tokensPerHour;
    q.used = q.limit - 15;
    const res = await sync();
    expectFailed(res, 'transient', /GA4 property quota is nearly spent/);
    expect(google.api.requests.some((r) => r.status === 429)).toBe(false);
    expect(reportCalls()).toHaveLength(1);
  });

  it('flags thresholded and sampled data on the run', async () => {
    google.api.settings.subjectToThresholding = true;
    google.api.settings.sampling = true;
    const res = await sync();
    expect(res.run.status).toBe('succeeded');
    expect(res.run.flags).toMatchObject({ 'ga4.thresholded': true, 'ga4.sampled': true });
    google.api.settings.subjectToThresholding = false;
    google.api.settings.sampling = false;
    const clean = await sync();
    expect(clean.run.flags['ga4.thresholded']).toBeUndefined();
  });
});

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

describe('Google access tokens, a new one for every sync and every hour', () => {
  it('each is scrubbed while it is valid and for an hour after, then forgotten: the scrubber does not grow for as long as the process runs', async () => {
    const { createGoogleAuth } = await import('../../src/connectors/shared/google-auth.ts');
    const { clearSecrets, knownSecrets, redactSecrets } = await import('../../src/core/secrets.ts');
    clearSecrets();
    const cfg = config() as ConnectorConfig & { auth: Parameters<typeof createGoogleAuth>[0] };
    const configured = knownSecrets().length;
    const scopes = ['https://www.googleapis.com/auth/analytics.readonly'];
    const tokenOf = async (auth: ReturnType<typeof createGoogleAuth>) => (await auth.provider.headers({ method: 'GET', url: new URL(google.api.url) })).Authorization!.slice('Bearer '.length);
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const start = Date.now();
      const sent: string[] = [];
      // Thirty syncs, each opening its own client, half an hour apart: fifteen hours of running.
      for (let i = 0; i < 30; i++) {
        vi.setSystemTime(start + i * 30 * 60_000);
        sent.push(await tokenOf(createGoogleAuth(cfg.auth, scopes)));
      }
      expect(new Set(sent).size).toBe(30);
      // The tokens of the last two hours (valid for one, kept for one more): the last four syncs'.
      expect(knownSecrets()).toHaveLength(configured + 4);
      expect(redactSecrets(sent.slice(-4).join(' '))).toBe('[redacted] [redacted] [redacted] [redacted]');
      expect(knownSecrets()).not.toContain(sent[25]);
    } finally {
      vi.useRealTimers();
      clearSecrets();
    }
  });
});

describe('a Google token endpoint that never finishes its answer', () => {
  it.each([
    ['a byte at a time', 'no whole answer within 300 ms'],
    ['without end', 'the answer was larger than 1 MB'],
  ])('answering %s: the token request fails as transient instead of holding the sync (and its claim on the connector) for ever', async (how, reason) => {
    const { createServer } = await import('node:http');
    const { createGoogleAuth } = await import('../../src/connectors/shared/google-auth.ts');
    const { TransientError } = await import('../../src/core/errors.ts');
    const endpoint = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      if (how === 'a byte at a time') {
        const drip = setInterval(() => res.write(' '), 20);
        res.on('close', () => clearInterval(drip));
        return;
      }
      const chunk = Buffer.alloc(64 * 1024, ' ');
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
      };
      res.on('drain', pump);
      pump();
    });
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
    try {
      const tokenUrl = `http://127.0.0.1:${(endpoint.address() as { port: number }).port}/token`;
      const auth = createGoogleAuth({ type: 'oauth', clientId: OAUTH.clientId, clientSecret: OAUTH.clientSecret, refreshToken: OAUTH.refreshToken, tokenUrl }, ['https://www.googleapis.com/auth/analytics.readonly'], { timeoutMs: 300 });
      const err = await failure(Promise.resolve(auth.provider.headers({ method: 'GET', url: new URL(tokenUrl) })));
      expect(err).toBeInstanceOf(TransientError);
      expect(err.message).toBe(`could not get a Google access token (${reason})`);
    } finally {
      endpoint.closeAllConnections();
      endpoint.close();
    }
  });
});
