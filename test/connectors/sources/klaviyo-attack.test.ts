import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.ts';
import { runSync, type AnyConnector, type ConnectorConfig } from '../../../src/connectors/index.ts';
import { sourceConnector } from '../../../src/connectors/declarative/connector.ts';
import { klaviyoSource } from '../../../src/connectors/sources/klaviyo.ts';
import { createDataset, KLAVIYO_API_KEY, startKlaviyoFake, type FakeServer, type KlaviyoSettings } from '../../../src/sandbox/index.ts';
import { warehouseKinds, useWarehouse } from '../../helpers/warehouse.ts';
import { capturingLogger, quietLogger, storedFacts, truncateWarehouse } from '../google-helpers.ts';

/** Klaviyo as a hostile API, a careless operator and a flaky source would make it. */
const ds = createDataset({ seed: 11, endDate: '2026-03-31', days: 30 });
const FROM = '2026-03-20';
const now = () => new Date('2026-04-01T02:00:00Z');
const m = ds.klaviyo.metrics;
let fake: FakeServer<KlaviyoSettings>;

beforeAll(async () => {
  fake = await startKlaviyoFake(ds);
});
afterAll(async () => {
  await fake.close();
});
afterEach(() => {
  delete fake.settings.tamper;
  fake.faults.length = 0;
});

function config(extra = ''): ConnectorConfig {
  const yaml = `connectors:\n  - { name: email, type: klaviyo, apiKey: "\${env:KLAVIYO_KEY}", baseUrl: "\${var:KLAVIYO_URL}", startDate: ${FROM}, receivedMetricId: ${m.received.id}, openedMetricId: ${m.opened.id}${extra} }\n`;
  return parseConfig(yaml, 'kpi.yaml', { env: { KLAVIYO_KEY: KLAVIYO_API_KEY, KLAVIYO_URL: fake.url } }).connectors[0]!;
}
const connector = () => sourceConnector(klaviyoSource, { retry: { baseDelayMs: 1, maxDelayMs: 5 }, timeoutMs: 10_000 }) as unknown as AnyConnector;

describe.each(warehouseKinds)('Klaviyo under attack on %s', (kind) => {
  const wh = useWarehouse(kind, truncateWarehouse);
  const sync = (log = quietLogger(), cfg = config()) => runSync({ db: wh.db, connector: connector(), config: cfg, log, now });

  const stored = async () => (await storedFacts(wh.db, 'email')).map.size;
  const quarantined = () => wh.db.selectFrom('quarantine').select(['reason', 'record']).where('connector', '=', 'email').execute();

  it('quarantines days in the zipped list that are malformed, missing or outside the dates it accepts, stores the rest, and never reads past the window', async () => {
    const clean = await sync();
    expect(clean.run.status).toBe('succeeded');
    const want = await stored();
    await truncateWarehouse(wh.db);
    fake.settings.tamper = (b) => {
      const a = b.data!.attributes!;
      // Three hostile days before the window's own: garbage, none, and a day of 1999.
      a.dates = ['garbage', null, '1999-01-01T00:00:00-05:00', ...a.dates];
      for (const r of a.data) for (const k of Object.keys(r.measurements)) r.measurements[k] = [1, 1, 1, ...r.measurements[k]!];
    };
    const res = await sync();
    expect(res.run.status).toBe('succeeded');
    expect(res.run.rows_rejected).toBeGreaterThanOrEqual(3 * 2);
    expect(await stored()).toBe(want);
    const reasons = (await quarantined()).map((q) => q.reason).join('\n');
    expect(reasons).toMatch(/"garbage"\) is not a date/);
    expect(reasons).toMatch(/1999-01-01, outside the dates/);
    const cp = await wh.db.selectFrom('checkpoints').select('cursor').where('connector', '=', 'email').executeTakeFirstOrThrow();
    expect(JSON.stringify(cp.cursor)).toContain('2026-03-31');
  });

  it('an answer with many days outside the window quarantines each as a small record, not the whole answer over again', async () => {
    const n = 600;
    fake.settings.tamper = (b) => {
      const a = b.data!.attributes!;
      a.dates = [...Array.from({ length: n }, (_, i) => new Date(Date.UTC(1900, 0, 1) + i * 86_400_000).toISOString()), ...a.dates];
      for (const r of a.data) for (const k of Object.keys(r.measurements)) r.measurements[k] = [...Array.from({ length: n }, () => 7), ...r.measurements[k]!];
    };
    const res = await sync();
    expect(res.run.status).toBe('succeeded');
    expect(res.run.rows_rejected).toBeGreaterThanOrEqual(n);
    const q = await quarantined();
    // Each position keeps its parent's id and name (campaign, campaignId), not its n-long lists.
    const biggest = Math.max(...q.map((r) => JSON.stringify(r.record).length));
    expect(biggest).toBeLessThan(1_000);
    expect(JSON.stringify(q[0]!.record)).toContain('dimensions');
  });

  it('fails, naming it, when the account\'s time zone is not a time zone, and stores nothing', async () => {
    const zone = ds.klaviyo.timeZone;
    (ds.klaviyo as { timeZone: string }).timeZone = 'Mars/Olympus';
    try {
      const res = await sync();
      expect(res.run.status).toBe('failed');
      expect(res.run.error_kind).toBe('config');
      expect(String(res.run.error)).toMatch(/"Mars\/Olympus", which is not an IANA time zone/);
      expect(await stored()).toBe(0);
    } finally {
      (ds.klaviyo as { timeZone: string }).timeZone = zone;
    }
  });

  it('scrubs the API key out of a JSON:API error detail, even where the message is cut, in the run and the logs', async () => {
    const { log, text } = capturingLogger();
    fake.settings.tamper = () => ({ status: 400, body: { errors: [{ id: 'x', status: 400, code: 'invalid', title: 'Invalid input.', detail: `${'x'.repeat(290)} key ${KLAVIYO_API_KEY} is wrong` }] } });
    const res = await sync(log);
    expect(res.run.status).toBe('failed');
    expect(String(res.run.error)).toMatch(/HTTP 400/);
    for (const piece of [KLAVIYO_API_KEY, KLAVIYO_API_KEY.slice(0, 12)]) {
      expect(String(res.run.error)).not.toContain(piece);
      expect(text()).not.toContain(piece);
    }
  });

  it('requests: all, one metric failing for good: nothing of the window is committed, the run fails', async () => {
    fake.faults.push({ kind: '500', path: '/api/metric-aggregates', after: 1, times: 50 });
    const res = await sync();
    expect(res.run.status).toBe('failed');
    expect(await stored()).toBe(0);
    expect(await wh.db.selectFrom('checkpoints').selectAll().where('connector', '=', 'email').execute()).toEqual([]);
  });
});
