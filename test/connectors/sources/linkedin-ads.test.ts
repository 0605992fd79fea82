import { afterAll, beforeAll } from 'vitest';
import { parseConfig } from '../../../src/config/index.ts';
import type { ConnectorConfig } from '../../../src/connectors/index.ts';
import { linkedinAdsSource } from '../../../src/connectors/sources/linkedin-ads.ts';
import { createDataset, LINKEDIN_CLIENT, startLinkedInFake, type FakeServer, type LinkedInRow, type LinkedInSettings } from '../../../src/sandbox/index.ts';
import { Facts } from '../google-helpers.ts';
import { conformance } from '../conformance.ts';

const ds = createDataset({ seed: 7, endDate: '2026-03-31', days: 60 });
const FROM = '2026-02-10';
const now = () => new Date('2026-03-31T20:00:00Z');
let fake: FakeServer<LinkedInSettings> & { issued: string[] };

beforeAll(async () => {
  fake = await startLinkedInFake(ds);
});
afterAll(async () => {
  await fake.close();
});

function config(accounts = ds.linkedin.accountIds): ConnectorConfig {
  const yaml = `connectors:
  - name: linkedin
    type: linkedin_ads
    adAccountIds: [${accounts.map((a) => `"${a}"`).join(', ')}]
    clientId: ${LINKEDIN_CLIENT.clientId}
    clientSecret: "\${env:LI_SECRET}"
    refreshToken: "\${env:LI_REFRESH}"
    baseUrl: "\${var:LI_URL}"
    startDate: ${FROM}
`;
  return parseConfig(yaml, 'kpi.yaml', { env: { LI_SECRET: LINKEDIN_CLIENT.clientSecret, LI_REFRESH: LINKEDIN_CLIENT.refreshToken, LI_URL: fake.url } }).connectors[0]!;
}

const rows = (accounts = ds.linkedin.accountIds) => [...ds.linkedin.range(FROM, '2026-03-31')].filter((r) => accounts.includes(r.accountId));

/** By hand from the data set: each campaign's day, keyed by the campaign's id, money in the account's currency. */
function expected(skip?: (r: LinkedInRow) => boolean, accounts = ds.linkedin.accountIds): Facts {
  const out = new Facts();
  for (const r of rows(accounts)) {
    if (skip?.(r)) continue;
    const add = (metric: string, value: number, money = false) => out.add(r.accountId, r.date, r.campaignId, 'paid_social', metric, value, money ? 'USD' : null);
    add('impressions', r.impressions);
    add('clicks', r.clicks);
    add('spend', Number(r.cost), true);
    add('conversions', r.conversions);
    add('conversion_value', Number(r.conversionValue), true);
  }
  return out;
}

const first = ds.linkedin.accountIds.slice(0, 1);

conformance('LinkedIn Ads', {
  definition: linkedinAdsSource,
  name: 'linkedin',
  dataset: ds,
  fake: () => fake,
  dataPath: '/rest/adAnalytics',
  config: () => config(),
  now,
  expected: (skip) => expected(skip),
  rows: () => rows().length,
  // adAnalytics answers a window whole (up to 15 000 elements): there are no pages to follow.
  restatement: { source: 'linkedin', date: '2026-03-20', factor: 1.5 },
  rateLimit: { kind: '429', retryAfterSec: 1 },
  // One account, so the record the fault strikes is known: the first campaign's first day.
  typeChange: { reason: /clicks.*expected number/, row: () => rows(first)[0]!, config: () => config(first), expected: (skip) => expected(skip, first) },
  revoked: { error: /credentials were rejected.*HTTP 401.*revoked/, secrets: () => [LINKEDIN_CLIENT.clientSecret, LINKEDIN_CLIENT.refreshToken, ...fake.issued] },
  check: { accounts: ds.linkedin.accountIds },
});
