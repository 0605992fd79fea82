import { afterAll, beforeAll } from 'vitest';
import { parseConfig } from '../../../src/config/index.ts';
import type { ConnectorConfig } from '../../../src/connectors/index.ts';
import { hubspotSource } from '../../../src/connectors/sources/hubspot.ts';
import { createDataset, HUBSPOT_ACCESS_TOKEN, startHubspotFake, type FakeServer, type HubspotDeal, type HubspotSettings } from '../../../src/sandbox/index.ts';
import { Facts } from '../google-helpers.ts';
import { conformance } from '../conformance.ts';

const ds = createDataset({ seed: 7, endDate: '2026-03-31', days: 60 });
const FROM = '2026-02-10';
const now = () => new Date('2026-03-31T20:00:00Z');
let fake: FakeServer<HubspotSettings>;

beforeAll(async () => {
  fake = await startHubspotFake(ds);
});
afterAll(async () => {
  await fake.close();
});

function config(): ConnectorConfig {
  const yaml = `connectors:\n  - { name: crm, type: hubspot, accessToken: "\${env:HUBSPOT_TOKEN}", baseUrl: "\${var:HUBSPOT_URL}", startDate: ${FROM} }\n`;
  return parseConfig(yaml, 'kpi.yaml', { env: { HUBSPOT_TOKEN: HUBSPOT_ACCESS_TOKEN, HUBSPOT_URL: fake.url } }).connectors[0]!;
}

const deals = () => [...ds.hubspot.range(FROM, '2026-03-31')];

/** By hand from the data set: a won deal is one deal won and its amount as revenue; an open one is pipeline. */
function expected(skip?: (d: HubspotDeal) => boolean): Facts {
  const out = new Facts();
  for (const d of deals()) {
    if (skip?.(d)) continue;
    if (d.dealstage === 'closedwon') {
      out.add('hubspot', d.date, '', '', 'deals_won', 1, null);
      out.add('hubspot', d.date, '', '', 'revenue', Number(d.amount), 'EUR');
    } else if (d.dealstage !== 'closedlost') {
      out.add('hubspot', d.date, '', '', 'pipeline', Number(d.amount), 'EUR');
    }
  }
  return out;
}

conformance('HubSpot deals', {
  definition: hubspotSource,
  name: 'crm',
  dataset: ds,
  fake: () => fake,
  dataPath: '/crm/v3/objects/deals/search',
  config,
  now,
  expected,
  rows: () => deals().length,
  smallPages: { set: () => (fake.settings.servePageSize = 7), reset: () => (fake.settings.servePageSize = 200) },
  restatement: { source: 'hubspot', date: '2026-03-20', factor: 1.5 },
  rateLimit: { kind: '429', retryAfterSec: 1 },
  // The first deal the fake sends: the earliest close.
  typeChange: { reason: /properties\.closedate.*not a date/, row: () => deals().sort((a, b) => a.closedate.localeCompare(b.closedate))[0]! },
  revoked: { error: /credentials were rejected.*HTTP 401.*Authentication credentials not found/, secrets: () => [HUBSPOT_ACCESS_TOKEN] },
  check: { accounts: [String(ds.hubspot.portalId)] },
});
