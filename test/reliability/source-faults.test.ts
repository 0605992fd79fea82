import type { Job } from 'bullmq';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startApp, type App } from '../../src/app.ts';
import { configChecks } from '../../src/config-checks.ts';
import { parseConfig, type Config } from '../../src/config/index.ts';
import { createGoogleAdsConnector } from '../../src/connectors/google-ads/connector.ts';
import { createHttpJsonConnector } from '../../src/connectors/http-json/connector.ts';
import { addDays, todayIn } from '../../src/core/dates.ts';
import { connectorFor, connectorRegistry, runSync, type AnyConnector } from '../../src/connectors/index.ts';
import { enqueueBackfill } from '../../src/jobs/index.ts';
import { createDataset, startSandbox, type Fault, type FakeServer, type Sandbox } from '../../src/sandbox/index.ts';
import type { Database } from '../../src/warehouse/index.ts';
import { testPostgres, type TestPostgres } from '../helpers/warehouse.ts';
import { capturedLogger, report, secretScanCase, secretValue, startSlackReceiver, waitFor, workDir, type SlackReceiver } from './helpers.ts';

const DAYS = 14;
/** google_ads requests time out after this instead of the connector's default 120 s, so a hang costs 2 s. */
const ADS_TIMEOUT_MS = 2_000;
/**
 * The shop connectors' HTTP client waits from 50 ms instead of 500 ms between its attempts
 * (full jitter, doubling; still six attempts): a source failing every time costs the job's
 * two attempts about 3 s instead of about 16 s. A Retry-After is still obeyed as asked.
 */
const SHOP_RETRY = { baseDelayMs: 50 };

type Outcome = 'retried' | 'quarantined' | 'config-error' | 'failed-transient';

interface Case {
  title: string;
  connector: string;
  fake: keyof Sandbox['fakes'];
  faults: Fault[];
  outcome: Outcome;
  /** What the README promises for it. */
  documented: string;
}

const CASES: Case[] = [
  { title: '429 storm: eight 429s in a row, the first asking for 2 s', connector: 'shop-429', fake: 'shop', faults: [{ kind: '429', retryAfterSec: 2, times: 1 }, { kind: '429', retryAfterSec: 0, times: 7 }], outcome: 'retried', documented: 'transient: Retry-After honoured, the HTTP client gives up after 6 attempts, the job is retried and completes' },
  { title: '5xx burst: 500, 500, 503', connector: 'gads-5xx', fake: 'googleAds', faults: [{ kind: '500', times: 2, path: 'searchStream' }, { kind: '503', times: 1, path: 'searchStream' }], outcome: 'retried', documented: 'transient: retried with backoff inside the run' },
  { title: `hanging response (request timeout ${ADS_TIMEOUT_MS / 1000} s through the connector's timeoutMs option, default 120 s)`, connector: 'gads-hang', fake: 'googleAds', faults: [{ kind: 'hang', times: 1, path: 'searchStream', after: 1 }], outcome: 'retried', documented: 'transient: timed out and retried' },
  { title: 'truncated JSON once, mid-window', connector: 'shop-trunc', fake: 'shop', faults: [{ kind: 'malformed', times: 1, after: 4 }], outcome: 'retried', documented: 'transient: a 2xx body that does not parse is treated as cut off and retried' },
  { title: 'malformed JSON from the middle of the window on, every time', connector: 'shop-bad', fake: 'shop', faults: [{ kind: 'malformed', times: 1_000, after: 25 }], outcome: 'failed-transient', documented: 'transient: retried by the client and the queue, then the job fails; committed days are whole, a failure alert goes out' },
  { title: 'a field changing type (number → object)', connector: 'mc-type', fake: 'mailchimp', faults: [{ kind: 'typeChange', times: 1 }], outcome: 'quarantined', documented: 'bad data: the record is quarantined with its reason, the run succeeds' },
  { title: 'a field changing type (number → "n/a")', connector: 'sg-type', fake: 'sendgrid', faults: [{ kind: 'typeChange', to: 'string', times: 1 }], outcome: 'quarantined', documented: 'bad data: the record is quarantined with its reason, the run succeeds' },
  { title: 'an expired Google access token', connector: 'gads-expired', fake: 'googleAds', faults: [{ kind: 'expiredToken', times: 1, path: 'searchStream', after: 1 }], outcome: 'retried', documented: 'the token is refreshed and the request retried once' },
  { title: 'an expired Meta token (Meta tokens cannot be refreshed)', connector: 'meta-expired', fake: 'meta', faults: [{ kind: 'expiredToken', times: 1, path: '/insights' }], outcome: 'config-error', documented: 'configuration error: not retried, failure alert' },
  { title: 'a revoked API key (401 on every request)', connector: 'sg-revoked', fake: 'sendgrid', faults: [{ kind: 'revokedToken' }], outcome: 'config-error', documented: 'configuration error: not retried, failure alert, no secret in the message' },
  { title: 'a token revoked in the middle of the window', connector: 'shop-revoked', fake: 'shop', faults: [{ kind: 'revokedToken', after: 25 }], outcome: 'config-error', documented: 'configuration error: committed days are whole, the rest is absent, failure alert' },
];

function configYaml(sb: Sandbox, start: string, prefix: string): string {
  const common = `    startDate: ${start}\n    schedule: "0 0 1 1 *"`;
  const shop = (name: string) => `  - name: ${name}
    type: http_json
    url: \${var:SHOP_URL}/admin/api/2025-01/orders.json
    params: { status: any, created_at_min: "{from}T00:00:00", created_at_max: "{to}T23:59:59", limit: "20" }
    auth: { type: header, name: X-Shopify-Access-Token, value: "\${env:SHOP_TOKEN}" }
    pagination: { type: link_header }
    recordsPath: orders
    timezone: Europe/Berlin
    fields: { id: id, date: created_at, currency: currency, metrics: { orders: { count: true }, revenue: { sum: total_price } } }
${common}`;
  const gads = (name: string) => `  - name: ${name}
    type: google_ads
    customerIds: ${JSON.stringify(sb.credentials.googleAds.customerIds)}
    loginCustomerId: "${sb.credentials.googleAds.loginCustomerId}"
    developerToken: "\${env:ADS_DEVELOPER_TOKEN}"
    baseUrl: \${var:ADS_URL}
    auth: { type: oauth, clientId: "\${var:G_CLIENT_ID}", clientSecret: "\${env:G_CLIENT_SECRET}", refreshToken: "\${env:G_REFRESH_TOKEN}", tokenUrl: "\${var:G_TOKEN_URL}" }
${common}`;
  return `
reporting: { currency: EUR, fxRates: { USD: 0.92 } }
redis: { prefix: ${prefix} }
channels:
  ops: { type: slack, url: "\${env:OPS_SLACK_URL}", minIntervalMs: 0 }
alerting: { groupWait: 0, evaluationInterval: 1s }
alerts:
  - { name: sync-broken, condition: { kind: sync_failure, failures: 1 }, channels: [ops], repeatInterval: never }
connectors:
${shop('shop-429')}
${shop('shop-trunc')}
${shop('shop-bad')}
${shop('shop-revoked')}
${gads('gads-5xx')}
${gads('gads-hang')}
${gads('gads-expired')}
  - name: meta-expired
    type: meta_ads
    adAccountIds: ["${sb.credentials.meta.adAccountId}"]
    accessToken: "\${env:META_TOKEN}"
    baseUrl: \${var:META_URL}
${common}
  - name: mc-type
    type: mailchimp
    apiKey: "\${env:MAILCHIMP_KEY}"
    baseUrl: \${var:MAILCHIMP_URL}
${common}
  - name: sg-type
    type: sendgrid
    apiKey: "\${env:SENDGRID_KEY}"
    baseUrl: \${var:SENDGRID_URL}
${common}
  - name: sg-revoked
    type: sendgrid
    apiKey: "\${env:SENDGRID_KEY}"
    baseUrl: \${var:SENDGRID_URL}
${common}
`;
}

/** Facts per connector and date, as sorted text, to tell a whole day from a partial one. */
async function factsByDay(db: Kysely<Database>, connector: string): Promise<Map<string, string>> {
  const rows = await db.selectFrom('metric_facts').select(['date', 'account', 'campaign', 'channel', 'metric', 'value', 'currency']).where('connector', '=', connector).execute();
  const days = new Map<string, string[]>();
  for (const r of rows) days.set(r.date, [...(days.get(r.date) ?? []), `${r.account}|${r.campaign}|${r.channel}|${r.metric}|${r.value}|${r.currency}`]);
  return new Map([...days].map(([d, xs]) => [d, xs.sort().join('\n')]));
}

describe('source faults from the fakes, through the queue pipeline (real Redis, Postgres and fakes)', () => {
  const wd = workDir('faults');
  const prefix = `${inject('redisPrefix')}-faults`;
  const { log, lines } = capturedLogger('info');
  const secrets: Record<string, string> = {};
  let hook: SlackReceiver;
  let sb: Sandbox;
  let clean: TestPostgres;
  let wh: TestPostgres;
  let config: Config;
  let app: App;
  const cleanFacts = new Map<string, Map<string, string>>();
  const today = todayIn('UTC');
  const start = addDays(today, -(DAYS - 1));

  beforeAll(async () => {
    hook = await startSlackReceiver();
    sb = await startSandbox(createDataset({ seed: 41, endDate: today, days: DAYS + 20 }));
    const dc = sb.credentials.mailchimp.apiKey.slice(sb.credentials.mailchimp.apiKey.lastIndexOf('-'));
    Object.assign(secrets, {
      SHOP_TOKEN: `shpat_${secretValue('shop')}`,
      SENDGRID_KEY: `SG.${secretValue('sendgrid')}`,
      MAILCHIMP_KEY: `${secretValue('mailchimp')}${dc}`,
      META_TOKEN: sb.credentials.meta.accessToken,
      ADS_DEVELOPER_TOKEN: sb.credentials.googleAds.developerToken,
      G_CLIENT_SECRET: sb.credentials.google.oauthClient.clientSecret,
      G_REFRESH_TOKEN: sb.credentials.google.oauthClient.refreshToken,
      OPS_SLACK_URL: hook.url(`/services/T0FAULT/B0FAULT/${secretValue('hook')}`),
    });
    sb.fakes.shop.credentials.add(secrets.SHOP_TOKEN!);
    sb.fakes.sendgrid.credentials.add(secrets.SENDGRID_KEY!);
    sb.fakes.mailchimp.credentials.add(secrets.MAILCHIMP_KEY!);
    const env = {
      ...secrets,
      REDIS_URL: inject('redisUrl'),
      SHOP_URL: sb.urls.shop,
      ADS_URL: sb.urls.googleAds,
      G_CLIENT_ID: sb.credentials.google.oauthClient.clientId,
      G_TOKEN_URL: sb.credentials.google.tokenUrl,
      META_URL: sb.urls.meta,
      MAILCHIMP_URL: sb.urls.mailchimp,
      SENDGRID_URL: sb.urls.sendgrid,
    };
    config = parseConfig(configYaml(sb, start, prefix), wd.file('kpi.yaml', configYaml(sb, start, prefix)), { env, checks: configChecks });

    // The clean baseline: every connector synced once without faults (side by side, as workers do).
    clean = await testPostgres({ poolSize: 6 });
    await Promise.all(config.connectors.map(async (c) => {
      const res = await runSync({ db: clean.db, connector: await connectorFor(c.type), config: c, log, window: { from: start, to: today } });
      expect(res.run.status, `${c.name}: ${res.run.error}`).toBe('succeeded');
      cleanFacts.set(c.name, await factsByDay(clean.db, c.name));
    }));

    wh = await testPostgres({ poolSize: 4 });
    app = await startApp({
      config,
      warehouse: wh,
      env,
      log,
      connectors: {
        ...connectorRegistry,
        google_ads: createGoogleAdsConnector({ timeoutMs: ADS_TIMEOUT_MS }) as unknown as AnyConnector,
        http_json: createHttpJsonConnector({ retry: SHOP_RETRY }) as unknown as AnyConnector,
      },
      tuning: { attempts: 2, backoffMs: 300, lockDurationMs: 10_000, stalledIntervalMs: 10_000 },
      http: false,
    });
  }, 120_000);

  afterAll(async () => {
    await app?.stop(2_000);
    await wh?.close();
    await clean?.close();
    await sb?.close();
    await hook?.close();
    wd.cleanup();
  });

  it.each(CASES)('$title → $outcome', async (c) => {
    const fake = sb.fakes[c.fake] as FakeServer<unknown>;
    fake.faults.length = 0;
    fake.faults.push(...c.faults.map((f) => ({ ...f })));
    const requestsBefore = fake.requests.length;
    const postsBefore = hook.posts.length;
    const t0 = Date.now();
    const id = await enqueueBackfill(app.queue!.queues, c.connector, { from: start, to: today });
    const job = (await waitFor(
      async () => {
        const j = await app.queue!.queues.sync.getJob(id);
        return j && j.finishedOn && (j.failedReason || j.returnvalue) ? j : null;
      },
      { timeoutMs: 60_000, what: `the backfill of ${c.connector} to finish`, everyMs: 100 },
    )) as Job;
    const state = await job.getState();
    fake.faults.length = 0;
    const runs = await wh.db.selectFrom('sync_runs').select(['id', 'status', 'error', 'error_kind', 'rows_rejected']).where('connector', '=', c.connector).orderBy('id').execute();
    const quarantined = await wh.db.selectFrom('quarantine').select(['reason']).where('connector', '=', c.connector).execute();
    const facts = await factsByDay(wh.db, c.connector);
    const truth = cleanFacts.get(c.connector)!;
    // No partial day: every stored day is exactly the clean run's, or absent.
    const partial = [...facts].filter(([d, text]) => text !== truth.get(d)).map(([d]) => d);
    const missing = [...truth.keys()].filter((d) => !facts.has(d));
    const faultsHit = fake.requests.slice(requestsBefore).filter((r) => r.fault).length;
    const last = runs.at(-1)!;

    let alert = '';
    if (c.outcome === 'config-error' || c.outcome === 'failed-transient') {
      alert = await waitFor(() => hook.posts.slice(postsBefore).find((p) => p.includes(c.connector)), { timeoutMs: 15_000, what: `a failure alert naming ${c.connector}` });
    }
    report(
      `${c.title} on ${c.connector} (${faultsHit} requests hit by the fault)`,
      `${c.documented}: job ${state} after ${job.attemptsMade} attempt(s) in ${((Date.now() - t0) / 1000).toFixed(1)} s; runs ${runs.map((r) => `${r.status}${r.error_kind ? `/${r.error_kind}` : ''}`).join(', ')}; ${quarantined.length} quarantined${quarantined[0] ? ` ("${quarantined[0].reason.slice(0, 60)}")` : ''}; ${facts.size}/${truth.size} days stored, ${partial.length} partial${alert ? '; failure alert sent' : ''}${last.error ? `; error: "${last.error.slice(0, 90)}"` : ''}`,
    );

    expect(faultsHit).toBeGreaterThan(0);
    expect(partial).toEqual([]);
    switch (c.outcome) {
      case 'retried':
        expect(state).toBe('completed');
        expect(last.status).toBe('succeeded');
        expect(missing).toEqual([]);
        expect(quarantined).toEqual([]);
        break;
      case 'quarantined':
        expect(state).toBe('completed');
        expect(runs.map((r) => r.status)).toEqual(['succeeded']);
        expect(last.rows_rejected).toBe(1);
        expect(quarantined).toHaveLength(1);
        expect(quarantined[0]!.reason).toMatch(/expected number|number/);
        // Only the quarantined record's day may lack its values; everything else is whole.
        expect(missing.length).toBeLessThanOrEqual(1);
        break;
      case 'config-error':
        expect(state).toBe('failed');
        expect(job.attemptsMade).toBe(1);
        expect(runs.map((r) => [r.status, r.error_kind])).toEqual([['failed', 'config']]);
        expect(last.error).toMatch(/credentials were rejected|access token was refused|check the connector's credentials/);
        expect(alert).toContain(c.connector);
        break;
      case 'failed-transient':
        expect(state).toBe('failed');
        expect(job.attemptsMade).toBe(2);
        expect(runs.every((r) => r.status === 'failed' && r.error_kind === 'transient')).toBe(true);
        expect(alert).toContain(c.connector);
        break;
    }
    if (c.connector.startsWith('shop-bad') || c.connector === 'shop-revoked') {
      // The fault struck mid-window: some whole days were committed before it, none after.
      expect(facts.size).toBeGreaterThan(0);
      expect(missing.length).toBeGreaterThan(0);
    }
  }, 90_000);

  it('leaves no configured secret in the logs, the databases, Redis or the alerts sent', async () => {
    const findings = await secretScanCase('the source-fault runs', {
      secrets,
      texts: { 'service log': lines.join(''), 'Slack payloads': hook.posts.join('\n') },
      databases: [clean.url, wh.url],
      redis: [{ url: inject('redisUrl'), prefix }],
    });
    expect(findings).toEqual([]);
  }, 60_000);
});
