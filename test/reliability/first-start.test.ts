/**
 * A first start on nothing: the queue pipeline, the demo's connectors, rules and digest, the
 * sandbox's APIs, an empty warehouse. While the warehouse fills (GA4 and the second Google
 * Ads account held back at their API), nothing is sent to anyone, and the digest waits; once
 * every source is in, the alerts that go out carry the numbers of the source's own data.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startApp, type App } from '../../src/app.ts';
import { retryDigests, sendDigest } from '../../src/alerts/index.ts';
import { sandboxEnv } from '../../src/cli/demo.ts';
import { loadConfig, type Config } from '../../src/config/index.ts';
import { configChecks } from '../../src/config-checks.ts';
import { createDataset, startCatcher, startSandbox, writeCrmExport, type Catcher, type Dataset, type Sandbox } from '../../src/sandbox/index.ts';
import { testPostgres, type TestPostgres } from '../helpers/warehouse.ts';
import { capturedLogger, report, ROOT, waitFor, workDir } from './helpers.ts';

/** In front of a fake API: requests whose path matches are held until released. */
async function holdingProxy(target: string, holds: (path: string) => boolean): Promise<{ url: string; held: number; release(): void; close(): Promise<void> }> {
  const upstream = new URL(target);
  let open = false;
  let held = 0;
  const waiting: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    const forward = () => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        });
        up.on('error', () => res.destroy());
        up.end(Buffer.concat(chunks));
      });
    };
    if (!open && holds(req.url ?? '')) {
      held++;
      waiting.push(forward);
    } else {
      forward();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get held() {
      return held;
    },
    release() {
      open = true;
      for (const w of waiting.splice(0)) w();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('a first start on an empty warehouse sends nothing until its data is complete', () => {
  const wd = workDir('first-start');
  const { log } = capturedLogger('warn');
  const zone = 'Europe/Berlin';
  const today = DateTime.now().setZone(zone).toISODate()!;
  const anomalyDate = DateTime.fromISO(today).minus({ days: 1 }).toISODate()!;
  let dataset: Dataset;
  let sandbox: Sandbox;
  let catcher: Catcher;
  let ga4Proxy: Awaited<ReturnType<typeof holdingProxy>>;
  let adsProxy: Awaited<ReturnType<typeof holdingProxy>>;
  let pg: TestPostgres;
  let config: Config;
  let app: App | undefined;

  beforeAll(async () => {
    dataset = createDataset({ seed: 42, endDate: today, days: 45, anomalyDate });
    const crmDir = wd.path('crm');
    writeCrmExport(dataset, crmDir);
    sandbox = await startSandbox(dataset);
    catcher = await startCatcher(wd.path('outbox'));
    const secondAccount = dataset.googleAds.customers[1]!.id;
    ga4Proxy = await holdingProxy(sandbox.urls.ga4, (p) => p.includes(':runReport') || p.includes('%3ArunReport'));
    adsProxy = await holdingProxy(sandbox.urls.googleAds, (p) => p.includes(`/customers/${secondAccount}/`));
    const env = { ...sandboxEnv(sandbox, catcher, { start: dataset.startDate, asOf: today, crmDir }), SANDBOX_GA4_URL: ga4Proxy.url, SANDBOX_GOOGLE_ADS_URL: adsProxy.url };
    config = loadConfig(path.join(ROOT, 'config/demo.yaml'), { env, checks: configChecks });
    // Every connector ticks every few seconds; rules are evaluated every second.
    for (const c of config.connectors) c.schedule = '*/3 * * * * *';
    config.alerting.evaluationInterval = 1_000;
    // The digest shows sources that are final a day after (so it can go out whatever weekday the test runs on).
    config.northStar = 'spend';
    config.reports = config.reports.map((r) => (r.name === 'digest' ? { ...r, kpis: ['clicks', 'orders'] } : r));
    config.redis.prefix = `${inject('redisPrefix')}-first-start`;
    pg = await testPostgres({ poolSize: 6 });
    app = await startApp({ config, warehouse: pg, env: { REDIS_URL: inject('redisUrl') }, log, http: false });
  }, 60_000);

  afterAll(async () => {
    ga4Proxy?.release();
    adsProxy?.release();
    await app?.stop(5_000);
    await pg?.close();
    await ga4Proxy?.close();
    await adsProxy?.close();
    await catcher?.close();
    await sandbox?.close();
    wd.cleanup();
  });

  it('while GA4 and one Google Ads account are still loading: no notification, no digest; afterwards the alerts carry the sources\' numbers', async () => {
    const db = pg.db;
    const others = config.connectors.filter((c) => c.name !== 'ga4-shop' && c.name !== 'google-ads').map((c) => c.name);
    // Everything else is in, and the rules have been evaluated on it several times since.
    const filled = await waitFor(
      async () => {
        const done = await db.selectFrom('sync_runs').select('connector').distinct().where('status', '=', 'succeeded').execute();
        return others.every((name) => done.some((d) => d.connector === name)) && ga4Proxy.held > 0 && adsProxy.held > 0 ? new Date() : null;
      },
      { timeoutMs: 90_000, what: 'the other connectors to finish their first sync', everyMs: 250 },
    );
    await waitFor(
      async () => {
        const row = await db.selectFrom('alert_instances').select((eb) => eb.fn.max('last_evaluated_at').as('at')).executeTakeFirst();
        return row?.at && new Date(row.at).getTime() > filled.getTime() + 3_000;
      },
      { timeoutMs: 30_000, what: 'three more seconds of evaluations', everyMs: 250 },
    );
    // Nothing sent, nothing queued to send: every KPI the rules read waits for GA4 or Google Ads.
    expect(catcher.received).toEqual([]);
    expect(await db.selectFrom('alert_outbox').select('rule').execute()).toEqual([]);
    // The rules on ad and GA4 numbers have not judged anything: no series of theirs exists yet;
    // the goal on revenue (GA4 among its sources) says it is waiting.
    const judged = await db.selectFrom('alert_instances').select(['rule', 'state', 'reason']).where('rule', 'in', ['ad-clicks-anomaly', 'paid-search-ctr-low', 'revenue-goal-pace', 'sessions-drop-week-to-date']).execute();
    expect(judged).toEqual([{ rule: 'revenue-goal-pace', state: 'ok', reason: `Goal revenue-this-quarter (Revenue) is waiting for complete data: no day since its start on ${config.goals[0]!.start} is complete yet` }]);
    const waiting = judged;
    // The scheduler's Monday digest, sent now: it waits too, and does not count as sent.
    const digest = await sendDigest(db, config, { now: new Date(), log });
    expect(digest.sent).toEqual([]);
    expect(digest.waiting?.reason).toMatch(/^waiting for complete data through \d{4}-\d\d-\d\d: (spend|clicks) complete through no day yet/);
    expect(await db.selectFrom('digest_sends').select(['channel', 'status']).orderBy('channel').execute()).toEqual([
      { channel: 'ops-mail', status: 'waiting' },
      { channel: 'slack-marketing', status: 'waiting' },
    ]);
    expect(catcher.received).toEqual([]);

    // The held requests go through: every source is in.
    ga4Proxy.release();
    adsProxy.release();
    await waitFor(
      async () => {
        const firing = await db.selectFrom('alert_outbox').select('rule').distinct().where('status', '=', 'sent').execute();
        return ['ad-clicks-anomaly', 'paid-search-ctr-low', 'revenue-goal-pace'].every((r) => firing.some((f) => f.rule === r));
      },
      { timeoutMs: 90_000, what: 'the three alerts of the demo data to be sent', everyMs: 250 },
    );
    // The anomaly names Google Ads' own clicks of the day: both accounts, as the API has them.
    const clicks = dataset.googleAds.day(anomalyDate).reduce((sum, row) => sum + row.clicks, 0);
    const anomaly = await db.selectFrom('alert_outbox').select('payload').where('rule', '=', 'ad-clicks-anomaly').where('channel', '=', 'slack-marketing').executeTakeFirstOrThrow();
    expect(JSON.stringify(anomaly.payload)).toContain(`Clicks (Google Ads) ${new Intl.NumberFormat('en-US').format(clicks)} on ${anomalyDate}`);

    // The digest's data is in now: the next round of retries sends it, once per channel.
    const sent = (await retryDigests(db, config, { now: new Date(Date.now() + 2 * 3_600_000), log })).flatMap((r) => r.sent);
    expect(sent.sort()).toEqual(['ops-mail', 'slack-marketing']);
    expect(catcher.received.filter((m) => m.kind === 'email').length).toBeGreaterThan(0);
    report(
      'the demo config in queue mode on an empty warehouse, GA4 and the second Google Ads account held back at their APIs',
      `0 messages and 0 outbox rows while they loaded (${waiting.length} series waiting, the digest waiting); after: the 3 alerts sent, the anomaly at ${clicks} clicks as the API has them, the digest sent once per channel`,
    );
  }, 240_000);
});
