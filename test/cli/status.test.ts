/**
 * `kpi status`: connector health from real sync runs against the sandbox fakes (one source
 * healthy, one quarantining a record, one whose key is revoked, one no longer configured),
 * printed as a table and as JSON, with the exit code, on both warehouses.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shorten } from '../../src/cli/runs.ts';
import { configChecks } from '../../src/config-checks.ts';
import { parseConfig } from '../../src/config/index.ts';
import { connectorFor, runSync } from '../../src/connectors/index.ts';
import { addDays, todayIn } from '../../src/core/dates.ts';
import { createDataset, startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { openWarehouse, type Database, type SyncRun, type Warehouse, type WarehouseKind } from '../../src/warehouse/index.ts';
import { runCli } from '../helpers/cli.ts';
import { captureLogs } from '../helpers/logs.ts';
import { migratedPglite, testPostgres, warehouseKinds } from '../helpers/warehouse.ts';

const SECRETS = { SHOP_TOKEN: 'shpat_status0test0shop0token', SENDGRID_KEY: 'SG.status0test0sendgrid0key', MAILCHIMP_KEY: 'status0test0mailchimp0key' };

const connectorsYaml = (withOld: boolean) => `
  - { name: shop, type: http_json, url: "\${var:SHOP_URL}/admin/api/2025-01/orders.json", params: { status: any, created_at_min: "{from}T00:00:00", created_at_max: "{to}T23:59:59", limit: "50" }, auth: { type: header, name: X-Shopify-Access-Token, value: "\${env:SHOP_TOKEN}" }, pagination: { type: link_header }, recordsPath: orders, timezone: Europe/Berlin, schedule: "0 6 * * *", fields: { id: id, date: created_at, currency: currency, metrics: { orders: { count: true }, revenue: { sum: total_price } } } }
  - { name: mail, type: mailchimp, apiKey: "\${env:MAILCHIMP_KEY}", baseUrl: "\${var:MAILCHIMP_URL}", schedule: "30 * * * *" }
  - { name: sg, type: sendgrid, apiKey: "\${env:SENDGRID_KEY}", baseUrl: "\${var:SENDGRID_URL}", schedule: "0 0 1 1 *" }
  - { name: paused, type: sendgrid, apiKey: "\${env:SENDGRID_KEY}", baseUrl: "\${var:SENDGRID_URL}", enabled: false }
${withOld ? `  - { name: old-shop, type: http_json, url: "\${var:SHOP_URL}/admin/api/2025-01/orders.json", params: { status: any, created_at_min: "{from}T00:00:00", created_at_max: "{to}T23:59:59", limit: "50" }, auth: { type: header, name: X-Shopify-Access-Token, value: "\${env:SHOP_TOKEN}" }, pagination: { type: link_header }, recordsPath: orders, timezone: Europe/Berlin, fields: { id: id, date: created_at, currency: currency, metrics: { orders: { count: true }, revenue: { sum: total_price } } } }` : ''}`;

const configYaml = (withOld: boolean) => `dataDir: ./data
reporting: { currency: EUR, timezone: UTC, fxRates: { USD: 0.92 } }
connectors:${connectorsYaml(withOld)}
`;

/** The cells of each body row of a cli-table3 table, by its first cell. */
function rowsOf(table: string): Map<string, string[]> {
  const rows = table.split('\n').filter((l) => l.startsWith('│') && !l.startsWith('│ connector'));
  return new Map(rows.map((l) => l.split('│').slice(1, -1).map((c) => c.trim())).map((cells) => [cells[0]!, cells]));
}

const minute = (d: Date | string | null) => (d === null ? '-' : DateTime.fromJSDate(new Date(d)).setZone('UTC').toFormat('yyyy-MM-dd HH:mm'));

/** When a cron schedule that fires once a day (at `hour`:00) or hourly (at :`minute`) next fires after `at`, worked out with luxon. */
function nextDaily(at: Date, hour: number, zone: string): string {
  let t = DateTime.fromJSDate(at).setZone(zone).set({ hour, minute: 0, second: 0, millisecond: 0 });
  if (t.toMillis() <= at.getTime()) t = t.plus({ days: 1 });
  return t.toUTC().toISO()!;
}
function nextHourly(at: Date, minuteOfHour: number): string {
  let t = DateTime.fromJSDate(at).setZone('UTC').set({ minute: minuteOfHour, second: 0, millisecond: 0 });
  if (t.toMillis() <= at.getTime()) t = t.plus({ hours: 1 });
  return t.toISO()!;
}

describe.each(warehouseKinds)('kpi status on %s', (kind: WarehouseKind) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kpi-status-'));
  const { logger } = captureLogs();
  let sb: Sandbox;
  let env: NodeJS.ProcessEnv;
  let dbUrl: string | undefined;
  let wh: Warehouse;
  let runs: Record<string, SyncRun[]>;
  /** What the syncs left in the warehouse, read once they are done (the status commands only read it). */
  let stored: { facts: { min: string; max: string; n: number }; quarantined: Array<{ id: string | number; stream: string; reason: string; created_at: Date | string }>; complete: Record<string, string> };
  const today = todayIn('UTC');

  const status = (args: string[] = []) => runCli(['status', '-c', 'kpi.yaml', ...args], { env, cwd: dir });

  beforeAll(async () => {
    sb = await startSandbox(createDataset({ seed: 7, endDate: today, days: 12 }));
    sb.fakes.shop.credentials.add(SECRETS.SHOP_TOKEN);
    sb.fakes.sendgrid.credentials.add(SECRETS.SENDGRID_KEY);
    const dc = sb.credentials.mailchimp.apiKey.slice(sb.credentials.mailchimp.apiKey.lastIndexOf('-'));
    const mailchimpKey = `${SECRETS.MAILCHIMP_KEY}${dc}`;
    sb.fakes.mailchimp.credentials.add(mailchimpKey);
    env = { ...SECRETS, MAILCHIMP_KEY: mailchimpKey, SHOP_URL: sb.urls.shop, MAILCHIMP_URL: sb.urls.mailchimp, SENDGRID_URL: sb.urls.sendgrid };
    writeFileSync(path.join(dir, 'kpi.yaml'), configYaml(false));
    const syncing = parseConfig(configYaml(true), path.join(dir, 'sync.yaml'), { env, checks: configChecks });

    if (kind === 'postgres') {
      const pg = await testPostgres();
      wh = pg;
      dbUrl = pg.url;
      env.DATABASE_URL = pg.url;
    } else {
      wh = await openWarehouse({ dataDir: path.join(dir, 'data'), loadDataDir: migratedPglite() });
    }
    const sync = async (name: string) => {
      const c = syncing.connectors.find((x) => x.name === name)!;
      return (await runSync({ db: wh.db, connector: await connectorFor(c.type), config: c, log: logger, configDir: dir })).run;
    };
    runs = { shop: [await sync('shop')], 'old-shop': [await sync('old-shop')], sg: [await sync('sg')] };
    sb.fakes.mailchimp.faults.push({ kind: 'typeChange', times: 1 });
    runs.mail = [await sync('mail')];
    // The key is revoked: two failed runs after the success, the streak starting at the first.
    sb.fakes.sendgrid.faults.push({ kind: 'revokedToken' });
    runs.sg!.push(await sync('sg'), await sync('sg'));
    stored = {
      facts: await factDays(wh.db),
      quarantined: await wh.db.selectFrom('quarantine').selectAll().where('connector', '=', 'mail').execute(),
      complete: Object.fromEntries((await wh.db.selectFrom('connector_completeness').selectAll().execute()).map((r) => [r.connector, String(r.complete_through)])),
    };
    if (kind === 'pglite') await wh.close();
  }, 120_000);

  afterAll(async () => {
    if (kind === 'postgres') await wh.close();
    await sb?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the syncs behind the status ran as planned', () => {
    expect(Object.fromEntries(Object.entries(runs).map(([k, rs]) => [k, rs.map((r) => r.status)]))).toEqual({ shop: ['succeeded'], 'old-shop': ['succeeded'], sg: ['succeeded', 'failed', 'failed'], mail: ['succeeded'] });
    expect(runs.mail![0]!.rows_rejected).toBe(1);
    expect(runs.sg![1]!.error).toMatch(/401|unauthori[sz]ed|forbidden|invalid/i);
  });

  it('prints one line per connector and the KPI line, exit 1 while a connector fails', async () => {
    const before = new Date();
    const res = await status();
    const after = new Date();
    expect(res.stderr).toBe('');
    expect(res.code).toBe(1);
    const [heading, ...rest] = res.stdout.trimEnd().split('\n');
    expect(heading).toMatch(/^status as of \d{4}-\d\d-\d\d \d\d:\d\d \(UTC\): failing \(1 failing, 1 warning, 1 ok\)$/);
    const rows = rowsOf(rest.join('\n'));
    expect([...rows.keys()]).toEqual(['shop', 'mail', 'sg', 'paused', 'old-shop']);
    const [shop, mail, sg, oldShop] = [runs.shop![0]!, runs.mail![0]!, runs.sg!, runs['old-shop']![0]!];
    const nextShop = [nextDaily(before, 6, 'Europe/Berlin'), nextDaily(after, 6, 'Europe/Berlin')].map(minute);
    const nextMail = [nextHourly(before, 30), nextHourly(after, 30)].map(minute);
    // Every source is synced through yesterday in its zone: no lag.
    expect(rows.get('shop')!.slice(0, 4)).toEqual(['shop', 'ok', minute(shop.finished_at), '0 days']);
    expect(nextShop).toContain(rows.get('shop')![4]);
    expect(rows.get('shop')!.slice(5)).toEqual(['-', '']);
    expect(rows.get('mail')!.slice(0, 4)).toEqual(['mail', 'warning', minute(mail.finished_at), '0 days']);
    expect(nextMail).toContain(rows.get('mail')![4]);
    expect(rows.get('mail')!.slice(5)).toEqual(['-', 'last sync quarantined 1 record']);
    const nextYear = `${Number(today.slice(0, 4)) + 1}-01-01 00:00`;
    expect(rows.get('sg')).toEqual(['sg', 'failing', minute(sg[0]!.finished_at), '0 days', nextYear, minute(sg[1]!.started_at), shorten(sg[2]!.error!.split('\n')[0], 100)]);
    expect(rows.get('old-shop')).toEqual(['old-shop', 'inactive', minute(oldShop.finished_at), '-', '-', '-', 'no longer configured']);
    // Disabled: listed, never counted, no next run.
    expect(rows.get('paused')).toEqual(['paused', 'inactive', '-', '-', '-', '-', 'disabled']);
    // Nothing recomputed the synced days yet.
    const { min, max, n } = stored.facts;
    expect(rest.at(-1)).toBe(`KPI values are behind their facts on ${n} days (${min}..${max}): the next sync or start recomputes them, or run \`kpi recompute\` now`);
    expect(res.stdout).not.toContain(SECRETS.SENDGRID_KEY);
  });

  it('--json is the whole object: runs with their counters, the error in full, quarantined records, owed days', async () => {
    const res = await status(['--json']);
    expect(res.code).toBe(1);
    const s = JSON.parse(res.stdout);
    const asOf = new Date(s.asOf);
    expect(Math.abs(asOf.getTime() - Date.now())).toBeLessThan(10 * 60_000);
    const { facts: { min, max, n }, quarantined, complete } = stored;
    expect(s.verdict).toBe('failing');
    expect(s.kpis).toEqual({ behind: true, owedDays: n, owedRanges: [{ from: min, to: max }] });
    const byName = Object.fromEntries(s.connectors.map((c: { name: string }) => [c.name, c]));
    const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());
    const runOf = (r: SyncRun) => ({ id: Number(r.id), status: r.status, trigger: 'manual', startedAt: iso(r.started_at), finishedAt: iso(r.finished_at), rowsRead: r.rows_read, rowsWritten: r.rows_written, rowsDeleted: r.rows_deleted, rowsQuarantined: r.rows_rejected, error: r.error });
    const yesterdayBerlin = addDays(todayIn('Europe/Berlin', asOf), -1);
    const yesterdayUtc = addDays(todayIn('UTC', asOf), -1);
    expect(complete.shop).toBe(yesterdayBerlin);
    expect(byName.shop).toEqual({
      name: 'shop', label: 'shop', type: 'http_json', configured: true, enabled: true, verdict: 'ok', reasons: [],
      lastSuccessAt: iso(runs.shop![0]!.finished_at),
      lastRun: { id: Number(runs.shop![0]!.id), status: 'succeeded', startedAt: iso(runs.shop![0]!.started_at), finishedAt: iso(runs.shop![0]!.finished_at) },
      schedule: { pattern: '0 6 * * *', timezone: 'Europe/Berlin' },
      nextRunAt: nextDaily(asOf, 6, 'Europe/Berlin'),
      completeThrough: yesterdayBerlin, yesterday: yesterdayBerlin, lagDays: 0,
      failingSince: null, lastError: null,
      runs: [runOf(runs.shop![0]!)],
      quarantine: { count: 0, latest: [] },
    });
    const sg = runs.sg!;
    expect(byName.sg).toMatchObject({
      verdict: 'failing', reasons: ['last sync failed'], lastSuccessAt: iso(sg[0]!.finished_at), failingSince: iso(sg[1]!.started_at),
      nextRunAt: `${Number(todayIn('UTC', asOf).slice(0, 4)) + 1}-01-01T00:00:00.000Z`,
      completeThrough: yesterdayUtc, lagDays: 0,
      lastError: { runId: Number(sg[2]!.id), at: iso(sg[2]!.finished_at), kind: sg[2]!.error_kind, message: sg[2]!.error },
      runs: [...sg].reverse().map(runOf),
    });
    expect(byName.mail).toMatchObject({ verdict: 'warning', reasons: ['last sync quarantined 1 record'], nextRunAt: nextHourly(asOf, 30), runs: [runOf(runs.mail![0]!)] });
    expect(quarantined.length).toBe(1);
    expect(byName.mail.quarantine).toEqual({ count: 1, latest: [{ id: Number(quarantined[0]!.id), syncRunId: Number(runs.mail![0]!.id), stream: quarantined[0]!.stream, reason: quarantined[0]!.reason, at: iso(quarantined[0]!.created_at) }] });
    expect(byName.paused).toMatchObject({ type: 'sendgrid', configured: true, enabled: false, verdict: 'inactive', reasons: ['disabled'], schedule: null, nextRunAt: null, runs: [], lastRun: null });
    expect(byName['old-shop']).toMatchObject({ type: null, configured: false, enabled: false, verdict: 'inactive', reasons: ['no longer configured'], schedule: null, nextRunAt: null, yesterday: null, lagDays: null });
  });

  it('after a recompute the KPI line says they are up to date; a recovered source makes the exit 0, warnings and all', async () => {
    const recomputed = await runCli(['recompute', '-c', 'kpi.yaml'], { env, cwd: dir });
    expect(recomputed.code, recomputed.stderr).toBe(0);
    sb.fakes.sendgrid.faults.length = 0;
    const syncs = await runCli(['sync', 'sg', '-c', 'kpi.yaml'], { env, cwd: dir });
    expect(syncs.code, syncs.stderr).toBe(0);
    const res = await status();
    expect(res.code).toBe(0);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/: warning \(1 warning, 2 ok\)$/);
    expect(rowsOf(lines.join('\n')).get('sg')!.slice(1, 2)).toEqual(['ok']);
    // The sync of sg owes its days again until its chain runs: kpi sync recomputes them itself.
    expect(lines.at(-1)).toBe('KPI values are up to date with their facts');
    const json = JSON.parse((await status(['--json'])).stdout);
    expect(json.kpis).toEqual({ behind: false, owedDays: 0, owedRanges: [] });
    expect(json.connectors.find((c: { name: string }) => c.name === 'sg')).toMatchObject({ verdict: 'ok', failingSince: null, lastError: { runId: Number(runs.sg![2]!.id) } });
  });
});

async function factDays(db: Kysely<Database>): Promise<{ min: string; max: string; n: number }> {
  const dates = (await db.selectFrom('metric_facts').select('date').distinct().execute()).map((r) => String(r.date)).sort();
  return { min: dates[0]!, max: dates.at(-1)!, n: dates.length };
}
