import { afterAll, beforeAll } from 'vitest';
import { parseConfig } from '../../../src/config/index.ts';
import type { ConnectorConfig } from '../../../src/connectors/index.ts';
import { tiktokAdsSource } from '../../../src/connectors/sources/tiktok-ads.ts';
import { createDataset, startTikTokFake, TIKTOK_ACCESS_TOKEN, type FakeServer, type TikTokRow, type TikTokSettings } from '../../../src/sandbox/index.ts';
import { Facts } from '../google-helpers.ts';
import { conformance } from '../conformance.ts';

const ds = createDataset({ seed: 7, endDate: '2026-03-31', days: 60 });
const FROM = '2026-02-10';
const now = () => new Date('2026-03-31T20:00:00Z');
const ADVERTISER = ds.tiktok.advertiserIds[0]!;
let fake: FakeServer<TikTokSettings>;

beforeAll(async () => {
  fake = await startTikTokFake(ds);
});
afterAll(async () => {
  await fake.close();
});

function config(): ConnectorConfig {
  const yaml = `connectors:\n  - { name: tiktok, type: tiktok_ads, advertiserIds: ["${ADVERTISER}"], accessToken: "\${env:TT_TOKEN}", baseUrl: "\${var:TT_URL}", startDate: ${FROM} }\n`;
  return parseConfig(yaml, 'kpi.yaml', { env: { TT_TOKEN: TIKTOK_ACCESS_TOKEN, TT_URL: fake.url } }).connectors[0]!;
}

const rows = () => [...ds.tiktok.range(FROM, '2026-03-31')];

/** By hand from the data set: each campaign's day, keyed by its id and named, money in the advertiser's currency. */
function expected(skip?: (r: TikTokRow) => boolean): Facts {
  const out = new Facts();
  for (const r of rows()) {
    if (skip?.(r)) continue;
    const add = (metric: string, value: number, money = false) => out.add(r.advertiserId, r.date, r.campaignName, 'paid_social', metric, value, money ? 'EUR' : null);
    add('spend', Number(r.spend), true);
    add('impressions', r.impressions);
    add('clicks', r.clicks);
    add('conversions', r.conversions);
    add('conversion_value', Number(r.conversionValue), true);
  }
  return out;
}

conformance('TikTok Ads', {
  definition: tiktokAdsSource,
  name: 'tiktok',
  dataset: ds,
  fake: () => fake,
  dataPath: '/report/integrated/get/',
  config,
  now,
  expected,
  rows: () => rows().length,
  smallPages: { set: () => (fake.settings.servePageSize = 9), reset: () => (fake.settings.servePageSize = 1000) },
  restatement: { source: 'tiktok', date: '2026-03-25', factor: 1.4 },
  // TikTok's throttle is an HTTP 200 with code 40100 and no Retry-After: retried by the definition's error rule.
  rateLimit: { kind: '429' },
  typeChange: { reason: /metrics\.clicks.*expected number/, row: () => rows()[0]! },
  revoked: { error: /HTTP 200.*Access token is incorrect or has been revoked/, secrets: () => [TIKTOK_ACCESS_TOKEN] },
  check: { accounts: ds.tiktok.advertiserIds },
});
