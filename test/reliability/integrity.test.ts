/**
 * Integrity under real operation, on both warehouses: an empty or shrunken answer never
 * deletes stored data unseen, one bad record never blocks a connector, a sentinel date never
 * runs away, no non-finite number is ever stored.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configChecks } from '../../src/config-checks.ts';
import { parseConfig, type Config } from '../../src/config/index.ts';
import { addDays, todayIn } from '../../src/core/dates.ts';
import { connectorFor, runSync, type ConnectorConfig } from '../../src/connectors/index.ts';
import { createAlertsEngine } from '../../src/alerts/index.ts';
import { createDataset, startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { listQuarantine, type Database } from '../../src/warehouse/index.ts';
import { useWarehouse, warehouseKinds } from '../helpers/warehouse.ts';
import { capturedLogger, report, startSlackReceiver, type SlackReceiver } from './helpers.ts';

const today = todayIn('UTC');
const start = addDays(today, -9);

const clear = async (db: Kysely<Database>) => {
  await sql`truncate metric_facts, checkpoints, sync_runs, quarantine, held_days, alert_instances, alert_transitions, alert_outbox`.execute(db);
};

async function factCount(db: Kysely<Database>, connector: string): Promise<number> {
  const row = await db.selectFrom('metric_facts').select((eb) => eb.fn.countAll<number>().as('n')).where('connector', '=', connector).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** A JSON API answering every request with the same raw text: records no fake would send. */
async function startRawApi(answer: () => { status: number; type: string; text: string }): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    const { status, type, text } = answer();
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe.each(warehouseKinds)('integrity of what a sync writes, on %s', (kind) => {
  const wh = useWarehouse(kind, clear);
  const { log } = capturedLogger('warn');
  let sb: Sandbox;
  let hook: SlackReceiver;
  let raw: { url: string; close(): Promise<void> };
  let rawBody = '{"data":[]}';
  let rawAnswer: { status: number; type: string } = { status: 200, type: 'application/json' };
  let config: Config;
  const connector = (name: string): ConnectorConfig => config.connectors.find((c) => c.name === name)!;
  const sync = async (name: string, extra: { allowDeletes?: boolean } = {}) => runSync({ db: wh.db, connector: await connectorFor(connector(name).type), config: connector(name), log, ...extra });

  beforeAll(async () => {
    sb = await startSandbox(createDataset({ seed: 7, endDate: today, days: 20 }));
    hook = await startSlackReceiver();
    raw = await startRawApi(() => ({ ...rawAnswer, text: rawBody }));
    const yaml = `
reporting: { currency: EUR, fxRates: { USD: 0.9 } }
channels:
  ops: { type: slack, url: "\${env:OPS_HOOK}", minIntervalMs: 0 }
alerting: { groupWait: 0 }
alerts:
  - { name: sync-broken, condition: { kind: sync_failure, failures: 3 }, channels: [ops], repeatInterval: never }
connectors:
${['ads', 'ads-one-at-a-time']
  .map(
    (name) => `  - name: ${name}
    type: google_ads
    customerIds: ${JSON.stringify(sb.credentials.googleAds.customerIds)}
    loginCustomerId: "${sb.credentials.googleAds.loginCustomerId}"
    developerToken: "\${env:ADS_DEVELOPER_TOKEN}"
    baseUrl: ${sb.urls.googleAds}
    auth: { type: oauth, clientId: "${sb.credentials.google.oauthClient.clientId}", clientSecret: "\${env:G_CLIENT_SECRET}", refreshToken: "\${env:G_REFRESH_TOKEN}", tokenUrl: "${sb.credentials.google.tokenUrl}" }
    startDate: ${start}
    lookbackDays: 3
    ${name === 'ads' ? '' : 'concurrency: 1'}
`,
  )
  .join('')}  - name: raw
    type: http_json
    url: ${raw.url}/records
    recordsPath: data
    chunkDays: 31
    startDate: ${start}
    fields: { date: day, campaign: name, currency: currency, metrics: { clicks: clicks } }
  - name: mail
    type: sendgrid
    apiKey: "\${env:SENDGRID_KEY}"
    baseUrl: ${raw.url}
    startDate: ${start}
`;
    config = parseConfig(yaml, 'kpi.yaml', {
      env: {
        ADS_DEVELOPER_TOKEN: sb.credentials.googleAds.developerToken,
        G_CLIENT_SECRET: sb.credentials.google.oauthClient.clientSecret,
        G_REFRESH_TOKEN: sb.credentials.google.oauthClient.refreshToken,
        OPS_HOOK: hook.url('/services/T0/B0/integrity-hook-secret'),
        SENDGRID_KEY: 'SG.integrity-key-secret',
      },
      checks: configChecks,
    });
  }, 60_000);

  afterAll(async () => {
    await sb?.close();
    await hook?.close();
    await raw?.close();
  });

  it('an empty 200 answer deletes nothing: the run is held with a clear message and a sync-failure alert; the same answer read again is applied', async () => {
    const first = await sync('ads');
    expect(first.run.status).toBe('succeeded');
    const stored = await factCount(wh.db, 'ads');
    expect(stored).toBeGreaterThan(0);

    sb.fakes.googleAds.faults.push({ kind: 'empty', times: 1_000, path: 'searchStream' });
    const held = await sync('ads');
    expect(held.ok).toBe(false);
    expect(held.run).toMatchObject({ status: 'held', error_kind: 'held', rows_deleted: 0, rows_written: 0 });
    const accounts = sb.credentials.googleAds.customerIds.join('|');
    expect(held.run.error).toMatch(new RegExp(`^held: account (${accounts}): the answer for \\d{4}-\\d\\d-\\d\\d\\.\\.\\d{4}-\\d\\d-\\d\\d has 0 rows where \\d+ are stored \\d{4}-\\d\\d-\\d\\d had \\d+ stored rows and the source returned none;`));
    expect(held.run.error).toContain('Not applied: a day that had facts came back empty.');
    expect(held.run.error).toContain('run `kpi sync ads --allow-deletes`');
    expect(await factCount(wh.db, 'ads')).toBe(stored);

    // The sync-failure rule fires at once for a held run (its streak threshold is 3).
    const alerts = createAlertsEngine({ log });
    const { outboxIds } = await alerts.evaluateAlerts(wh.db, config, new Date());
    expect(outboxIds.length).toBe(1);
    const posts = hook.posts.length;
    await alerts.deliver(wh.db, config, outboxIds);
    expect(hook.posts.length).toBe(posts + 1);
    const slack = JSON.parse(hook.posts.at(-1)!) as { text: string };
    expect(slack.text).toContain('ads: the last sync was held, nothing deleted; held: account');

    const applied = await sync('ads');
    expect(applied.run.status).toBe('succeeded');
    const lookbackDays = 4; // today and the 3 days of lookback
    expect(applied.run.rows_deleted).toBe(stored - (await factCount(wh.db, 'ads')));
    expect(applied.run.rows_deleted).toBeGreaterThan(0);
    const left = await wh.db.selectFrom('metric_facts').select('date').distinct().where('connector', '=', 'ads').where('date', '>=', addDays(today, -(lookbackDays - 1))).execute();
    expect(left).toEqual([]);
    expect(await wh.db.selectFrom('held_days').selectAll().execute()).toEqual([]);
    sb.fakes.googleAds.faults.length = 0;
    report('Google Ads answering 200 with no rows for a window that had data', `1st read held (0 deleted, alert sent), 2nd identical read applied (${applied.run.rows_deleted} rows deleted)`);
  });

  it('a shrunken answer (two thirds of the rows gone) is held; --allow-deletes applies it at once; a restatement that keeps the rows passes', async () => {
    await sync('ads');
    const stored = await factCount(wh.db, 'ads');
    sb.fakes.googleAds.faults.push({ kind: 'shrink', times: 1_000, path: 'searchStream' });
    const held = await sync('ads');
    expect(held.run).toMatchObject({ status: 'held', rows_deleted: 0 });
    expect(held.run.error).toMatch(/had \d+ stored rows and the source returned \d+; .*Not applied: it would delete more than 50% of the stored rows\./);
    expect(await factCount(wh.db, 'ads')).toBe(stored);

    const allowed = await sync('ads', { allowDeletes: true });
    expect(allowed.run.status).toBe('succeeded');
    expect(allowed.run.rows_deleted).toBeGreaterThan(0);
    expect(await factCount(wh.db, 'ads')).toBe(stored - allowed.run.rows_deleted);
    expect(await wh.db.selectFrom('held_days').selectAll().execute()).toEqual([]);
    sb.fakes.googleAds.faults.length = 0;

    // Back to the full answer: more rows, not fewer, so nothing is held.
    const restored = await sync('ads');
    expect(restored.run.status).toBe('succeeded');
    expect(await factCount(wh.db, 'ads')).toBe(stored);
  });

  it('an account whose answer is held does not keep the other accounts of the connector from syncing', async () => {
    const [first, second] = sb.credentials.googleAds.customerIds as [string, string];
    expect((await sync('ads-one-at-a-time')).run.status).toBe('succeeded');
    const storedSecond = await wh.db.selectFrom('metric_facts').select((eb) => eb.fn.countAll<number>().as('n')).where('connector', '=', 'ads-one-at-a-time').where('account', '=', second).executeTakeFirstOrThrow();
    // The second account's last day is not stored yet (as a new day is before its sync).
    await wh.db.deleteFrom('metric_facts').where('connector', '=', 'ads-one-at-a-time').where('account', '=', second).where('date', '=', today).execute();

    sb.fakes.googleAds.faults.push({ kind: 'empty', times: 1_000, path: `${first}/googleAds:searchStream` });
    try {
      const held = await sync('ads-one-at-a-time');
      expect(held.run.status).toBe('held');
      expect(held.run.error).toContain(`held: account ${first}:`);
      expect(held.run.error).not.toContain(`account ${second}`);
      // The first account's days are kept as they were; the second account was read and written.
      const after = await wh.db.selectFrom('metric_facts').select((eb) => eb.fn.countAll<number>().as('n')).where('connector', '=', 'ads-one-at-a-time').where('account', '=', second).executeTakeFirstOrThrow();
      expect(Number(after.n)).toBe(Number(storedSecond.n));
    } finally {
      sb.fakes.googleAds.faults.length = 0;
    }
  });

  it('one bad record never blocks a connector: NUL bytes, lone surrogates, deep nesting, an oversized record cut inside an emoji, sentinel dates and overflowing values are quarantined, the rest of each day is written', async () => {
    const day = addDays(today, -1);
    const deep = `${'['.repeat(5_000)}1${']'.repeat(5_000)}`;
    const big = `${'x'.repeat(19_999)}🎉${'y'.repeat(5_000)}`;
    rawBody = `{"data":[
      {"day":"${day}","name":"fine","clicks":5},
      {"day":"${day}","name":"nul\\u0000byte","clicks":1},
      {"day":"${day}","name":"lone \\ud800 surrogate","clicks":1},
      {"day":"${day}","name":"deep","clicks":"n/a","nested":${deep}},
      {"day":"${day}","name":"big","clicks":"n/a","blob":"${big}","bad\\u0000key":"\\udc00"},
      {"day":"9999-12-31","name":"sentinel","clicks":1},
      {"day":"2226-01-01","name":"typo","clicks":1},
      {"day":"${day}","name":"huge","clicks":1e308},
      {"day":"${day}","name":"huge","clicks":1e308},
      {"day":"${day}","name":"fine too","currency":"E\\u0000R","clicks":2}
    ]}`;
    const res = await sync('raw');
    expect(res.run.error).toBeNull();
    expect(res.run).toMatchObject({ status: 'succeeded', rows_read: 10, rows_written: 1, rows_rejected: 9 });
    // The window never widened to the sentinel: every stream read at most to tomorrow.
    const stream = res.run.flags['stream:api'] as { window: { from: string; to: string } };
    expect(stream.window.to <= addDays(today, 1)).toBe(true);
    const facts = await wh.db.selectFrom('metric_facts').select(['date', 'campaign', 'value']).where('connector', '=', 'raw').execute();
    expect(facts).toEqual([{ date: day, campaign: 'fine', value: 5 }]);

    const q = await listQuarantine(wh.db, { syncRunId: res.run.id });
    const reasons = q.map((r) => r.reason).sort();
    const accepts = `(${addDays(start, -3)}..${addDays(today, 1)}: from its startDate minus lookback, or 2000-01-01, to tomorrow)`;
    expect(reasons).toEqual(
      [
        'campaign contains a NUL character',
        'campaign contains an unpaired UTF-16 surrogate (not valid Unicode)',
        'currency "E\u2400R" is not a 3-letter code',
        'field "clicks" (metric clicks) is "n/a", not a number',
        'field "clicks" (metric clicks) is "n/a", not a number',
        `field "day" is 2226-01-01, outside the dates this connector accepts ${accepts}`,
        `field "day" is 9999-12-31, outside the dates this connector accepts ${accepts}`,
        'metric clicks: value 1e+308 is out of range (at most 1000000000000000 in size)',
        'metric clicks: value 1e+308 is out of range (at most 1000000000000000 in size)',
      ].sort(),
    );
    const record = (reason: string, name: string) => q.find((r) => r.reason === reason && JSON.stringify(r.record).includes(name))?.record as { record: Record<string, unknown> } | { truncated: string };
    // What could not be stored as it was is stored visibly: NUL as ␀, a lone surrogate as U+FFFD.
    expect(record('campaign contains a NUL character', 'nul')).toMatchObject({ record: { name: 'nul\u2400byte' } });
    expect(record('campaign contains an unpaired UTF-16 surrogate (not valid Unicode)', 'lone')).toMatchObject({ record: { name: 'lone \ufffd surrogate' } });
    const deepRecord = q.find((r) => JSON.stringify(r.record).includes('"deep"'))!.record as { record: { nested: unknown } };
    expect(JSON.stringify(deepRecord.record.nested)).toContain('nested deeper than 64 levels; not kept');
    // Over 20,000 characters: kept cut, and the cut never splits the emoji into a lone surrogate.
    const bigRecord = q.find((r) => JSON.stringify(r.record).includes('truncated'))!.record as { truncated: string };
    expect(bigRecord.truncated.length).toBeLessThanOrEqual(20_000);
    expect(bigRecord.truncated.isWellFormed()).toBe(true);
    expect(bigRecord.truncated.endsWith('…')).toBe(true);

    // No non-finite number anywhere, and a second sync of the same answer changes nothing.
    const nonFinite = await sql<{ n: number }>`select count(*)::int as n from metric_facts where value in ('Infinity'::numeric, '-Infinity'::numeric, 'NaN'::numeric)`.execute(wh.db);
    expect(nonFinite.rows[0]!.n).toBe(0);
    const again = await sync('raw');
    expect(again.run).toMatchObject({ status: 'succeeded', rows_written: 0, rows_deleted: 0, rows_rejected: 9 });
    report('one answer with NUL, lone surrogate, 5,000-deep, 25 kB emoji-cut, 9999-12-31, 2226, 1e308 (twice) and a NUL currency', `run succeeded: 1 written, 9 quarantined with reasons, all stored; window ended ${stream.window.to}`);
  });

  it('values nested 100,000 deep where a metric, campaign or date belongs are quarantined, not a crash of the whole sync', async () => {
    const day = addDays(today, -1);
    const deep = `${'['.repeat(100_000)}1${']'.repeat(100_000)}`;
    rawBody = `{"data":[
      {"day":"${day}","name":"fine","clicks":5},
      {"day":"${day}","name":"deep clicks","clicks":${deep}},
      {"day":"${day}","name":${deep},"clicks":1},
      {"day":${deep},"name":"deep day","clicks":1},
      {"day":"${day}","name":"object","clicks":{"n":1}}
    ]}`;
    const res = await sync('raw');
    expect(res.run.error).toBeNull();
    expect(res.run).toMatchObject({ status: 'succeeded', rows_read: 5, rows_written: 1, rows_rejected: 4 });
    const reasons = (await listQuarantine(wh.db, { syncRunId: res.run.id })).map((r) => r.reason).sort();
    // Shown as stored: 64 levels, then a note; the message cut at 100 characters.
    const shown = `${'['.repeat(64)}"[nested deeper than 64 levels; not…`;
    expect(reasons).toEqual([
      `field "clicks" (metric clicks) is ${shown}, not a number`,
      'field "clicks" (metric clicks) is {"n":1}, not a number',
      `field "day" (${shown}) is not a date in format iso`,
      'field "name" (campaign) is an array, not a text',
    ]);

    // A connector that orders an answer's days by their date text (SendGrid; Meta does the same).
    rawBody = `[{"date":${deep},"stats":[]},{"date":"${day}","stats":[{"metrics":{"requests":3,"delivered":3,"opens":0,"unique_opens":0,"clicks":0,"unique_clicks":0,"bounces":0,"spam_reports":0,"unsubscribes":0}}]}]`;
    const mail = await sync('mail');
    expect(mail.run.error).toBeNull();
    expect(mail.run).toMatchObject({ status: 'succeeded', rows_rejected: 1 });
    const sent = await wh.db.selectFrom('metric_facts').select(['date', 'value']).where('connector', '=', 'mail').where('metric', '=', 'email_sent').execute();
    expect(sent).toEqual([{ date: day, value: 3 }]);
  });

  it('a quarantined record keeps every member, __proto__ included', async () => {
    const day = addDays(today, -1);
    rawBody = `{"data":[{"day":"${day}","name":"proto","clicks":"n/a","__proto__":{"why":"kept"},"constructor":{"prototype":1}}]}`;
    const res = await sync('raw');
    expect(res.run).toMatchObject({ status: 'succeeded', rows_read: 1, rows_rejected: 1 });
    const [row] = await listQuarantine(wh.db, { syncRunId: res.run.id });
    expect(JSON.stringify(row!.record)).toBe(`{"date":"${day}","record":{"day":"${day}","name":"proto","clicks":"n/a","__proto__":{"why":"kept"},"constructor":{"prototype":1}}}`);
  });

  it('a date that is no day of the calendar (2026-02-30, 2026-02-00) is quarantined; the rest of the answer is written', async () => {
    const stats = (n: number) => [{ metrics: { requests: n, delivered: n, opens: 0, unique_opens: 0, clicks: 0, unique_clicks: 0, bounces: 0, spam_reports: 0, unsubscribes: 0 } }];
    rawBody = JSON.stringify(['2026-02-00', '2026-02-27', '2026-02-28', '2026-02-30', '2026-03-01'].map((date, i) => ({ date, stats: stats(i + 1) })));
    const res = await runSync({ db: wh.db, connector: await connectorFor('sendgrid'), config: connector('mail'), log, window: { from: '2026-01-31', to: '2026-03-02' } });
    expect(res.run.error).toBeNull();
    expect(res.run).toMatchObject({ status: 'succeeded', rows_read: 5, rows_rejected: 2 });
    const days = await wh.db.selectFrom('metric_facts').select(['date', 'value']).where('connector', '=', 'mail').where('metric', '=', 'email_sent').orderBy('date').execute();
    expect(days).toEqual([
      { date: '2026-02-27', value: 2 },
      { date: '2026-02-28', value: 3 },
      { date: '2026-03-01', value: 5 },
    ]);
    const reasons = (await listQuarantine(wh.db, { syncRunId: res.run.id })).map((r) => r.reason).sort();
    expect(reasons).toEqual(['field "date" ("2026-02-00") is not a date in format iso', 'field "date" ("2026-02-30") is not a date in format iso']);
  });

  it('a run whose error text holds a NUL byte still closes, with the byte shown', async () => {
    rawAnswer = { status: 403, type: 'text/plain' };
    rawBody = 'forbidden: key\u0000 has no access';
    try {
      const res = await sync('raw');
      expect(res.run.status).toBe('failed');
      expect(res.run.finished_at).not.toBeNull();
      expect(res.run.error).toContain('forbidden: key\u2400 has no access');
    } finally {
      rawAnswer = { status: 200, type: 'application/json' };
    }
  });
});
