import { createHmac } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import type { AnyConnector, ConnectorConfig } from '../../src/connectors/index.ts';
import { createMetaAdsConnector, type MetaAdsOptions } from '../../src/connectors/meta-ads/connector.ts';
import { createDataset, META_ACCESS_TOKEN, startMetaFake, type FakeServer, type MetaRow, type MetaSettings } from '../../src/sandbox/index.ts';
import { warehouseKinds } from '../helpers/warehouse.ts';
import { fakeSleep, Facts } from './google-helpers.ts';
import { expectFailed, expectFullSync, expectRerunWritesNothing, itFailsOnARevokedToken, itQuarantinesATypeChange, itReplacesARestatedDay, itRetries, SERVER_FAULTS, sourceHarness, type Source } from './source-cases.ts';
import { inUnitTier } from '../helpers/tier.ts';

const ds = createDataset({ seed: 7, endDate: '2024-03-31', days: 40 });
const ACCOUNT = ds.meta.accountId;
const FROM = '2024-03-22';
const TO = '2024-03-31';
/** Afternoon in New York on the last day of data. */
const NOW = Date.parse('2024-03-31T18:00:00Z');
const now = () => new Date(NOW);
const APP_SECRET = 'meta-app-secret-0123456789abcdef';

let meta: FakeServer<MetaSettings>;
const defaults = (): MetaSettings => ({ ...meta.settings });
let initial: MetaSettings;

function config(extra = ''): ConnectorConfig {
  const text = `
connectors:
  - name: meta
    type: meta_ads
    adAccountIds: ["${ACCOUNT}"]
    accessToken: "\${env:META_TOKEN}"
    baseUrl: "\${var:META_URL}"
    startDate: ${FROM}
${extra}`;
  return parseConfig(text, 'kpi.yaml', { env: { META_TOKEN: META_ACCESS_TOKEN, META_URL: meta.url, META_APP_SECRET: APP_SECRET } }).connectors[0]!;
}

function connector(options: MetaAdsOptions = {}): AnyConnector {
  return createMetaAdsConnector({ retry: { baseDelayMs: 1, maxDelayMs: 5 }, timeoutMs: 5_000, now: () => NOW, ...options }) as unknown as AnyConnector;
}

function expected(from = FROM, to = TO, skip?: (r: MetaRow) => boolean): Facts {
  const out = new Facts();
  const sum = (list: MetaRow['actions'], type: string) => list.filter((a) => a.action_type === type).reduce((s, a) => s + Number(a.value), 0);
  for (const r of ds.meta.range(from, to)) {
    if (skip?.(r)) continue;
    const add = (metric: string, value: number, money = false) => out.add(ACCOUNT, r.date, r.campaignName, 'paid_social', metric, value, money ? 'USD' : null);
    add('impressions', r.impressions);
    add('reach', r.reach);
    add('clicks', r.clicks);
    add('spend', Number(r.spend), true);
    // The defaults: Meta's roll-up action types only.
    add('conversions', sum(r.actions, 'purchase'));
    add('leads', sum(r.actions, 'lead'));
    add('conversion_value', sum(r.action_values, 'purchase'), true);
  }
  return out;
}

const insightCalls = () => meta.requests.filter((r) => r.path.endsWith('/insights'));
const range = (q: Record<string, unknown>) => JSON.parse(String(q.time_range)) as { since: string; until: string };

const metaAds: Source<MetaAdsOptions> = { name: 'meta', dataset: ds, fake: () => meta, dataPath: '/insights', connector, config, now, expected };

beforeAll(async () => {
  meta = await startMetaFake(ds);
  initial = defaults();
});
afterAll(async () => {
  await meta.close();
});

describe.each(warehouseKinds)('meta ads connector on %s', (kind) => {
  const h = sourceHarness(metaAds, kind);

  it('reads campaign insights by day, following cursors, with mapped actions; a re-run writes nothing', async () => {
    meta.settings.maxPageSize = 7;
    try {
      const rows = [...ds.meta.range(FROM, TO)].length;
      await expectFullSync(h, rows, { [ACCOUNT]: { currency: 'USD', timeZone: 'America/New_York', window: { from: FROM, to: TO } } });

      const calls = insightCalls();
      expect(calls).toHaveLength(Math.ceil(rows / 7));
      expect(calls[0]!.query).toMatchObject({ level: 'campaign', time_increment: '1', access_token: META_ACCESS_TOKEN, limit: '500' });
      expect(range(calls[0]!.query)).toEqual({ since: FROM, until: TO });
      expect(calls[0]!.query.after).toBeUndefined();
      expect(calls.slice(1).every((c) => typeof c.query.after === 'string')).toBe(true);
    } finally {
      meta.settings.maxPageSize = initial.maxPageSize;
    }

    await expectRerunWritesNothing(h);
  });
});

describe.skipIf(inUnitTier)('meta ads connector behaviour and failures', () => {
  const h = sourceHarness(metaAds);
  const sync = h.sync;
  afterEach(() => {
    Object.assign(meta.settings, initial);
  });

  // The default lookback (28 days) reaches back past the start date: the whole window again.
  itReplacesARestatedDay(h, 'the lookback', { source: 'meta', date: '2024-03-27', factor: 1.3 }, { stream: ACCOUNT, from: FROM, to: TO });

  it('re-reads only lookbackDays when the account sets it (7 fits the default attribution window)', async () => {
    await sync();
    const res = await sync({}, config('    lookbackDays: 7'));
    expect(res.run.status).toBe('succeeded');
    expect((res.run.flags[`stream:${ACCOUNT}`] as { window?: unknown } | undefined)?.window).toEqual({ from: '2024-03-24', to: TO });
  });

  itRetries(h, [
    ['rate limit 80000 (ads insights)', { kind: '429', code: 80000 }],
    ['rate limit 17 (user)', { kind: '429', code: 17, times: 2 }],
    ['rate limit 4 (application)', { kind: '429', code: 4 }],
    ['rate limit 613', { kind: '429', code: 613 }],
    ...SERVER_FAULTS,
    ['a truncated JSON body', { kind: 'malformed' }],
  ]);

  itQuarantinesATypeChange(h, 'an insight whose spend', {
    reason: /^spend: /,
    row: () => [...ds.meta.day(FROM)].sort((a, b) => (a.campaignId < b.campaignId ? -1 : 1))[0]!,
    record: (first) => ({ campaign_name: first.campaignName, date_start: FROM, spend: { value: first.spend } }),
    expected: (skip) => expected(FROM, TO, skip),
  });

  it('insights that outrun the page limit fail once as a config error saying to check the pagination settings', async () => {
    meta.settings.maxPageSize = 7;
    const res = await sync({ maxPages: 2 });
    expect(res.run).toMatchObject({ status: 'failed', error_kind: 'config', error: `connector "meta": Meta paging of /${ACCOUNT}/insights did not end after 2 pages; check the pagination settings` });
    expect(insightCalls()).toHaveLength(2);
  });

  it('fails as a config error on an expired token (Meta tokens cannot be refreshed by the client)', async () => {
    meta.faults.push({ kind: 'expiredToken', path: '/insights' });
    try {
      const res = await sync();
      expectFailed(res, 'config', /the access token was refused \(Meta error 190\/463: Error validating access token: Session has expired/);
      expect(res.run.error).not.toContain(META_ACCESS_TOKEN);
    } finally {
      meta.credentials.add(META_ACCESS_TOKEN);
    }
  });

  const proof = createHmac('sha256', APP_SECRET).update(META_ACCESS_TOKEN).digest('hex');
  itFailsOnARevokedToken(h, 'fails as a config error on a revoked token, with the app secret proof sent and no secret in the message or the logs', {
    config: () => config('    appSecret: "${env:META_APP_SECRET}"'),
    error: /Meta error 190\/460/,
    also: () => expect(meta.requests[0]!.query.appsecret_proof).toBe(proof),
    secrets: () => [META_ACCESS_TOKEN, APP_SECRET, proof],
    logged: '"path":"/v23.0/act_1001/insights?',
  });

  it('uses an async report run for a window longer than asyncAfterDays, polling with backoff', async () => {
    const { sleeps, sleep } = fakeSleep();
    meta.settings.asyncPolls = 3;
    const res = await sync({ sleep }, config('    asyncAfterDays: 5'));
    expect(res.run.status).toBe('succeeded');
    await h.expectFacts();
    const post = meta.requests.find((r) => r.method === 'POST');
    expect(post?.path).toBe(`/v23.0/${ACCOUNT}/insights`);
    expect(post?.body).toMatchObject({ level: 'campaign', time_increment: '1', time_range: JSON.stringify({ since: FROM, until: TO }) });
    const polls = meta.requests.filter((r) => /^\/v23\.0\/\d+$/.test(r.path));
    expect(polls).toHaveLength(3);
    expect(sleeps).toEqual([1000, 1500]);
    expect(meta.requests.at(-1)?.path).toMatch(/^\/v23\.0\/\d+\/insights$/);
  });

  it('splits the window when an async report run fails', async () => {
    meta.settings.asyncFail = true;
    const res = await sync({ sleep: fakeSleep().sleep }, config('    asyncAfterDays: 5'));
    expect(res.run.status).toBe('succeeded');
    await h.expectFacts();
    // The 10 days failed as one run; the halves (5 days each) go synchronously.
    expect(insightCalls().filter((r) => r.method === 'GET').map((r) => range(r.query))).toEqual([
      { since: FROM, until: '2024-03-26' },
      { since: '2024-03-27', until: TO },
    ]);
  });

  it("splits the window in halves when Meta says 'Please reduce the amount of data'", async () => {
    meta.settings.maxSyncDays = 4;
    const res = await sync({}, config('    asyncAfterDays: 30'));
    expect(res.run.status).toBe('succeeded');
    await h.expectFacts();
    const asked = insightCalls().map((r) => ({ ...range(r.query), status: r.status }));
    expect(asked).toEqual([
      { since: FROM, until: TO, status: 500 },
      { since: FROM, until: '2024-03-26', status: 500 },
      { since: FROM, until: '2024-03-24', status: 200 },
      { since: '2024-03-25', until: '2024-03-26', status: 200 },
      { since: '2024-03-27', until: TO, status: 500 },
      { since: '2024-03-27', until: '2024-03-29', status: 200 },
      { since: '2024-03-30', until: TO, status: 200 },
    ]);
  });

  it('backs off before the limit when a usage header reaches 80%', async () => {
    meta.settings.usagePct = 85;
    const { sleeps, sleep } = fakeSleep(() => void (meta.settings.usagePct = 10));
    const res = await sync({ sleep });
    expect(res.run.status).toBe('succeeded');
    // 85% and no estimate from Meta: (85 - 80 + 5) × 6 s.
    expect(sleeps).toEqual([60_000]);
    expect(meta.requests.every((r) => r.status === 200)).toBe(true);
    await h.expectFacts();
  });

  it("honours Meta's estimated_time_to_regain_access", async () => {
    meta.settings.usagePct = 100;
    const { sleeps, sleep } = fakeSleep(() => void (meta.settings.usagePct = 10));
    const res = await sync({ sleep });
    expect(res.run.status).toBe('succeeded');
    expect(sleeps).toEqual([5 * 60_000]);
    expect(meta.requests.some((r) => r.status !== 200)).toBe(false);
  });

  it('stops with a transient error when usage stays high', async () => {
    meta.settings.usagePct = 95;
    meta.settings.maxPageSize = 2; // enough pages to keep asking
    const { sleeps, sleep } = fakeSleep();
    const res = await sync({ sleep });
    expectFailed(res, 'transient', /Meta API usage is at 95%/);
    expect(sleeps).toHaveLength(10);
  });

  it('rejects action mappings onto names outside the metric vocabulary', () => {
    expect(() => config('    actions: { purchases: [purchase] }')).toThrow(/"purchases" is not a base metric/);
    expect(() => config('    actionValues: { conversions: [purchase] }')).toThrow(/"conversions" is not a money metric/);
  });
});
