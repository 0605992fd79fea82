import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { addSilence, deliverOutbox, evaluateAlerts, listHistory } from '../../src/alerts/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { runCli, tempProject } from '../helpers/cli.ts';
import { testPostgres, type TestPostgres } from '../helpers/warehouse.ts';
import { quietLogger, reply, startHttp, type HttpServer } from '../notify/helpers.ts';
import { addRuns, at, days } from './helpers.ts';
import path from 'node:path';

const T = at('2026-03-10T06:00:00Z');
const plus = (ms: number) => new Date(T.getTime() + ms);
const HOUR = 3_600_000;

describe('kpi alerts history', () => {
  let server: HttpServer;
  let wh: TestPostgres;
  let project: { dir: string; cleanup(): void };
  let env: NodeJS.ProcessEnv;
  const run = (...args: string[]) => runCli(['alerts', 'history', ...args, '--config', 'kpi.yaml'], { env, cwd: project.dir });

  beforeAll(async () => {
    server = await startHttp((res, _n, req) => (req.path.includes('/gone/') ? reply(res, 404, 'no_service') : reply(res, 200, 'ok')));
    wh = await testPostgres();
    project = tempProject({
      'kpi.yaml': `
reporting: { timezone: Europe/Berlin }
connectors:
  - { name: shop, type: csv, path: ./shop.csv, account: shop, date: { column: date }, metrics: { revenue: revenue } }
channels:
  slack: { type: slack, url: "${server.base}/services/T/B/ok", minIntervalMs: 0 }
  gone: { type: slack, url: "${server.base}/services/T/gone/x", minIntervalMs: 0, maxRetries: 0 }
alerting: { groupWait: 30s, evaluationInterval: 10s, channelFailing: false }
alerts:
  - name: revenue-low
    series: { kpi: revenue, grain: day }
    condition: { kind: threshold, op: below, threshold: 100 }
    partialData: true
    channels: [slack, gone]
  - name: shop-sync
    condition: { kind: sync_failure, connectors: [shop], failures: 1 }
    channels: [slack]
`,
    });
    env = { DATABASE_URL: wh.url };
    const config = loadConfig(path.join(project.dir, 'kpi.yaml'), { env });
    const revenue = (v: number) => upsertFacts(wh.db, days({ connector: 'shop', account: 'shop' }, { '2026-03-09': { revenue: v } }));
    const evaluate = (now: Date) => evaluateAlerts(wh.db, config, { now, log: quietLogger });
    const deliver = (now: Date) => deliverOutbox(wh.db, config, { now, log: quietLogger });

    // Fires: sent to Slack, failed for good on the webhook that is gone.
    await revenue(50);
    await evaluate(T);
    await deliver(plus(30_000));
    // Resolves under a silence: dropped.
    await revenue(150);
    await evaluate(plus(HOUR));
    await addSilence(wh.db, { matchers: [{ name: 'alertname', op: '=', value: 'revenue-low' }], startsAt: plus(HOUR), endsAt: plus(HOUR + 60_000), comment: 'deploy' });
    await deliver(plus(HOUR + 30_000));
    // Fires again, and within the group wait the shop's sync fails: held while inhibited.
    await revenue(40);
    await evaluate(plus(2 * HOUR));
    await addRuns(wh.db, [{ connector: 'shop', status: 'failed', started: plus(2 * HOUR + 5_000).toISOString(), error: 'HTTP 500 from shop' }]);
    await evaluate(plus(2 * HOUR + 10_000));
    await deliver(plus(2 * HOUR + 40_000));
    // The shop is back: its resolved notification waits for its group wait.
    await addRuns(wh.db, [{ connector: 'shop', status: 'succeeded', started: plus(3 * HOUR - 5_000).toISOString() }]);
    await evaluate(plus(3 * HOUR));
  });
  afterAll(async () => {
    await server.close();
    await wh.close();
    project.cleanup();
  });

  it('lists every transition and notification with its delivery result, newest first, in the configured zone', async () => {
    const r = await run('--since', '2026-03-01');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('alert history since 2026-03-01 00:00 (Europe/Berlin), newest first');
    const rows = lines.filter((l) => l.startsWith('│') && !l.includes('│ time ')).map((l) => l.split('│').slice(1, -1).map((c) => c.trim()));
    expect(rows.map((c) => c.slice(0, 5))).toEqual([
      ['2026-03-10 10:00:00', 'shop-sync', 'connector=shop', 'resolved via slack', 'pending'],
      ['2026-03-10 10:00:00', 'revenue-low', '(all)', 'inhibited → firing', ''],
      ['2026-03-10 10:00:00', 'shop-sync', 'connector=shop', 'firing → resolved', ''],
      ['2026-03-10 09:00:40', 'shop-sync', 'connector=shop', 'firing via slack', 'sent'],
      ['2026-03-10 09:00:10', 'revenue-low', '(all)', 'firing → inhibited', ''],
      ['2026-03-10 09:00:10', 'shop-sync', 'connector=shop', 'ok → firing', ''],
      // Held rows have neither a delivery nor a failure: they stand where they were queued.
      ['2026-03-10 09:00:00', 'revenue-low', '(all)', 'firing via gone', 'inhibited'],
      ['2026-03-10 09:00:00', 'revenue-low', '(all)', 'firing via slack', 'inhibited'],
      ['2026-03-10 09:00:00', 'revenue-low', '(all)', 'resolved → firing', ''],
      ['2026-03-10 08:00:00', 'revenue-low', '(all)', 'resolved via gone', 'silenced'],
      ['2026-03-10 08:00:00', 'revenue-low', '(all)', 'resolved via slack', 'silenced'],
      ['2026-03-10 08:00:00', 'revenue-low', '(all)', 'firing → resolved', ''],
      ['2026-03-10 07:00:30', 'revenue-low', '(all)', 'firing via gone', 'failed'],
      ['2026-03-10 07:00:30', 'revenue-low', '(all)', 'firing via slack', 'sent'],
      ['2026-03-10 07:00:00', 'revenue-low', '(all)', 'ok → firing', ''],
    ]);
    const detail = (i: number) => rows[i]![5];
    expect(detail(6)).toBe("held: inhibited while a source fails (shop-sync fires for shop): Revenue USD 40.00 is bel…");
    expect(detail(9)).toBe('dropped by silence #1 (alertname=revenue-low: deploy)');
    expect(detail(12)).toMatch(/^channels\.gone\.url: Slack rejected the message: HTTP 404 no_service \(the webhook URL is wr…$/);
    expect(detail(5)).toBe('shop: the last 1 syncs failed; last error: HTTP 500 from shop');
  });

  it('filters by rule and time, and prints JSON', async () => {
    const r = await run('--rule', 'shop-sync', '--since', '2026-03-10', '--json');
    expect(r.code).toBe(0);
    const entries = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(entries).toEqual([
      { kind: 'notification', at: '2026-03-10T09:00:00.000Z', rule: 'shop-sync', instance: 'connector=shop', id: expect.any(Number), event: 'resolved', channel: 'slack', attempts: 0, result: 'pending', detail: '' },
      { kind: 'transition', at: '2026-03-10T09:00:00.000Z', rule: 'shop-sync', instance: 'connector=shop', from: 'firing', to: 'resolved', reason: 'shop: 0 failed syncs in a row (alert at 1)', value: 0 },
      { kind: 'notification', at: '2026-03-10T08:00:40.000Z', rule: 'shop-sync', instance: 'connector=shop', id: expect.any(Number), event: 'firing', channel: 'slack', attempts: 1, result: 'sent', detail: '' },
      { kind: 'transition', at: '2026-03-10T08:00:10.000Z', rule: 'shop-sync', instance: 'connector=shop', from: 'ok', to: 'firing', reason: 'shop: the last 1 syncs failed; last error: HTTP 500 from shop', value: 1 },
    ]);
    const later = await run('--rule', 'revenue-low', '--since', '2026-12-31');
    expect(later).toMatchObject({ code: 0, stdout: 'no alert history of revenue-low since 2026-12-31 00:00 (Europe/Berlin)\n' });
  });

  it('past its limit, starts where both kinds are whole and says older entries were left out', async () => {
    const whole = await listHistory(wh.db);
    expect(whole.olderLeftOut).toBeUndefined();
    // Three of each kind: the notifications reach further back than the third-newest transition.
    const cut = await listHistory(wh.db, { limit: 3 });
    expect(cut.olderLeftOut).toBeInstanceOf(Date);
    const from = cut.olderLeftOut!.getTime();
    // Nothing from the window it shows is missing, and nothing older is shown.
    expect(cut.entries).toEqual(whole.entries.filter((e) => e.at.getTime() > from));
    expect(cut.entries.length).toBeLessThan(whole.entries.length);
    expect(cut.entries.length).toBeGreaterThan(0);
  });

  it('exits 2 with what is wrong for a bad --since or an unknown rule', async () => {
    const since = await run('--since', 'yesterday');
    expect(since.code).toBe(2);
    expect(since.stderr).toContain("error: option '--since <when>' argument 'yesterday' is invalid. expected how long back, from 1m to 3650d (such as 2h or 7d), or a date as YYYY-MM-DD");
    const date = await run('--since', '2026-02-30');
    expect(date.code).toBe(2);
    expect(date.stderr).toContain("argument '2026-02-30' is invalid. expected a date as YYYY-MM-DD");
    const rule = await run('--rule', 'revenu-low');
    expect(rule).toMatchObject({ code: 2, stdout: '', stderr: "error: unknown rule 'revenu-low' (did you mean 'revenue-low'?); configured: revenue-low, shop-sync\n" });
  });
});
