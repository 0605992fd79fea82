import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.ts';
import { runSync, type AnyConnector, type ConnectorConfig } from '../../../src/connectors/index.ts';
import { sourceConnector } from '../../../src/connectors/declarative/connector.ts';
import { klaviyoSource } from '../../../src/connectors/sources/klaviyo.ts';
import { createDataset, KLAVIYO_API_KEY, startKlaviyoFake, type FakeServer, type KlaviyoRow, type KlaviyoSettings } from '../../../src/sandbox/index.ts';
import { useWarehouse } from '../../helpers/warehouse.ts';
import { expectSameFacts, Facts, quietLogger, storedFacts, truncateWarehouse } from '../google-helpers.ts';
import { conformance } from '../conformance.ts';

const ds = createDataset({ seed: 7, endDate: '2026-03-31', days: 60 });
const FROM = '2026-02-10';
// Late evening in New York, the account's zone: its 31 March is the last day read.
const now = () => new Date('2026-04-01T02:00:00Z');
const m = ds.klaviyo.metrics;
let fake: FakeServer<KlaviyoSettings>;

beforeAll(async () => {
  fake = await startKlaviyoFake(ds);
});
afterAll(async () => {
  await fake.close();
});

function config(ids = `receivedMetricId: ${m.received.id}, openedMetricId: ${m.opened.id}, clickedMetricId: ${m.clicked.id}, bouncedMetricId: ${m.bounced.id}, unsubscribedMetricId: ${m.unsubscribed.id}, spamMetricId: ${m.spam.id}`): ConnectorConfig {
  const yaml = `connectors:\n  - { name: email, type: klaviyo, apiKey: "\${env:KLAVIYO_KEY}", baseUrl: "\${var:KLAVIYO_URL}", startDate: ${FROM}, ${ids} }\n`;
  return parseConfig(yaml, 'kpi.yaml', { env: { KLAVIYO_KEY: KLAVIYO_API_KEY, KLAVIYO_URL: fake.url } }).connectors[0]!;
}

const rows = () => [...ds.klaviyo.range(FROM, '2026-03-31')];
/** Each metric is its own request, so a record is one message's day of one metric. */
const REQUESTS = 6;

/**
 * By hand from the data set: each message's day, keyed by its $message id and named by its
 * Campaign Name. `only`: the metric a skipped row loses (a struck record is one metric's count).
 */
function expected(skip?: (r: KlaviyoRow) => boolean, only?: string): Facts {
  const out = new Facts();
  for (const r of rows()) {
    const skipped = skip?.(r) ?? false;
    const add = (metric: string, value: number) => {
      if (skipped && (only === undefined || only === metric)) return;
      out.add('klaviyo', r.date, r.messageName, 'email', metric, value, null);
    };
    add('email_delivered', r.received);
    add('email_opens', r.opened);
    add('email_unique_opens', r.uniqueOpened);
    add('email_clicks', r.clicked);
    add('email_unique_clicks', r.uniqueClicked);
    add('email_bounces', r.bounced);
    add('email_unsubscribes', r.unsubscribed);
    add('email_spam_reports', r.spam);
  }
  return out;
}

conformance('Klaviyo', {
  definition: klaviyoSource,
  name: 'email',
  dataset: ds,
  fake: () => fake,
  dataPath: '/api/metric-aggregates',
  config,
  now,
  expected,
  rows: () => rows().length * REQUESTS,
  smallPages: { set: () => (fake.settings.servePageSize = 2), reset: () => (fake.settings.servePageSize = 500) },
  restatement: { source: 'klaviyo', date: '2026-03-28', factor: 1.4 },
  rateLimit: { kind: '429', retryAfterSec: 1 },
  // The first answer is Received Email's; its first group is the first message, its first day the window's first.
  typeChange: {
    reason: /field "count" \(metric email_delivered\).*expected number/,
    row: () => rows().find((r) => r.date === FROM && r.messageId === ds.klaviyo.day(FROM)[0]!.messageId)!,
    expected: (skip) => expected(skip, 'email_delivered'),
  },
  revoked: { error: /HTTP 401.*Incorrect authentication credentials/, secrets: () => [KLAVIYO_API_KEY] },
  check: { accounts: [ds.klaviyo.accountId] },
});

describe('Klaviyo: the metrics a connector names', () => {
  const wh = useWarehouse('pglite', truncateWarehouse);

  it('reads only the metrics whose ids are set, each with one query per window in the account\'s days, and stores no other', async () => {
    fake.requests.length = 0;
    const cfg = config(`openedMetricId: ${m.opened.id}, clickedMetricId: ${m.clicked.id}`);
    const connector = sourceConnector(klaviyoSource) as unknown as AnyConnector;
    const res = await runSync({ db: wh.db, connector, config: cfg, log: quietLogger(), now });
    expect(res.run.status).toBe('succeeded');
    const want = new Facts();
    const opensAndClicks = ['email_opens', 'email_unique_opens', 'email_clicks', 'email_unique_clicks'];
    for (const [key, fact] of expected().map) if (opensAndClicks.includes(key.split('|')[4]!)) want.map.set(key, fact);
    expectSameFacts(await storedFacts(wh.db, 'email'), want);
    const queries = fake.requests.filter((r) => r.path.startsWith('/api/metric-aggregates'));
    const asked = queries.map((r) => (r.body as { data: { attributes: { metric_id: string; timezone: string } } }).data.attributes);
    // Two windows of 31 days (10 Feb .. 31 Mar), one query for each metric in each.
    expect(asked.map((a) => a.metric_id).sort()).toEqual([m.clicked.id, m.clicked.id, m.opened.id, m.opened.id].sort());
    expect(new Set(asked.map((a) => a.timezone))).toEqual(new Set([ds.klaviyo.timeZone]));
    expect(queries.every((r) => r.headers.revision === '2026-10-15' && r.headers.authorization === `Klaviyo-API-Key ${KLAVIYO_API_KEY}`)).toBe(true);
  });

  it('refuses a configuration with no metric id, at load (kpi validate), naming the settings: it would read nothing', () => {
    expect(() => config('')).toThrow(/receivedMetricId.*set at least one of receivedMetricId, openedMetricId, clickedMetricId, bouncedMetricId, unsubscribedMetricId, spamMetricId/s);
  });
});
