import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { googleCallError } from '../../../src/connectors/shared/google-call.ts';
import { SlackWebhookChannel } from '../../../src/notify/index.ts';
import { clearSecrets, registerSecret } from '../../../src/core/secrets.ts';
import { finishRun, openWarehouse, startRun } from '../../../src/warehouse/index.ts';
import { failure } from '../../helpers/async.ts';
import { runCli, tempProject } from '../../helpers/cli.ts';
import { testDatabaseUrlWithSchema, testPostgres, type TestPostgres } from '../../helpers/warehouse.ts';
import { alert, quietLogger } from '../../notify/helpers.ts';
import { json, startServer, type TestServer } from './server.ts';

// An API that quotes the key back, starting 277 characters into its message: a cut at 300
// before scrubbing would keep all of it but its last character.
const KEY = 'sk_live_A1b2C3d4E5f6G7h8';
const quoting = (at: number) => `${'x'.repeat(at)}${KEY} is not valid for this project; ask your administrator for a new one`;

/** An http_json connector with the key as its bearer token. */
const shopYaml = (fields: string) => `
connectors:
  - name: shop
    type: http_json
    url: \${var:BASE}/v1/orders
    auth: { type: bearer, token: "\${env:SHOP_KEY}" }
    recordsPath: orders
    fields: ${fields}
`;

describe('error texts are scrubbed before they are cut', () => {
  afterAll(() => clearSecrets());

  describe('an HTTP source (http_json through kpi sync and kpi runs)', () => {
    let server: TestServer;
    let wh: TestPostgres;
    const project = tempProject({
      'kpi.yaml': shopYaml('{ date: created_at, metrics: { orders: { count: true } } }'),
    });
    beforeAll(async () => {
      server = await startServer((_req, res) => json(res, 403, { error: { message: quoting(277) } }));
      wh = await testPostgres({ poolSize: 1, migrate: false });
    });
    afterAll(async () => {
      await server.close();
      await wh.close();
      project.cleanup();
    });

    it('shows and stores the message with the key redacted, then cut', async () => {
      const env = { BASE: server.url, SHOP_KEY: KEY, DATABASE_URL: wh.url };
      const sync = await runCli(['sync', 'shop', '--from', '2026-03-01', '--to', '2026-03-01', '--config', 'kpi.yaml'], { cwd: project.dir, env });
      const expected = `credentials were rejected by ${server.host} (HTTP 403: ${'x'.repeat(277)}[redacted] is not valid…); check the connector's credentials`;
      expect(sync.code).toBe(1);
      expect(sync.stdout + sync.stderr).toContain(expected);
      const run = await wh.db.selectFrom('sync_runs').select(['status', 'error', 'error_kind']).executeTakeFirstOrThrow();
      expect(run).toEqual({ status: 'failed', error: expected, error_kind: 'config' });
      const runs = await runCli(['runs', '--config', 'kpi.yaml'], { cwd: project.dir, env });
      expect(runs.code).toBe(0);
      for (const output of [sync.stdout, sync.stderr, runs.stdout, runs.stderr]) expect(output).not.toContain(KEY.slice(0, 12));
    });
  });

  it('an HTTP error quoting a multi-line key, whose lines the message joins', async () => {
    const pem = `-----BEGIN PRIVATE KEY-----\n${'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC'.repeat(3)}\n-----END PRIVATE KEY-----\n`;
    registerSecret(pem);
    const server = await startServer((_req, res) => json(res, 400, { error: { message: `could not parse ${pem} as a key` } }));
    try {
      const { createHttpClient } = await import('../../../src/core/http/index.ts');
      const err = await failure(createHttpClient({ baseURL: server.url }).get('/v1/keys'));
      expect(err.message).toBe(`${server.host} rejected GET ${server.host}/v1/keys (HTTP 400): could not parse [redacted] as a key; check the connector's configuration (field names, account or property ids)`);
    } finally {
      await server.close();
    }
  });

  it('a Google API error quoting the key', () => {
    registerSecret(KEY);
    const gaxiosLike = { response: { status: 403, data: { error: { status: 'PERMISSION_DENIED', message: quoting(258) } } } };
    const err = googleCallError(gaxiosLike, 'Google Analytics Data API', 'runReport for property 1234', 30_000, new AbortController().signal) as Error;
    // "PERMISSION_DENIED: " is 19 characters, so the key starts at 277.
    expect(err.message).toBe(
      `Google Analytics Data API refused runReport for property 1234 (HTTP 403 PERMISSION_DENIED: ${'x'.repeat(258)}[redacted] is not valid…); give the credentials' account access, or fix the id in the connector's config`,
    );
  });

  it('a Slack webhook answer quoting a secret', async () => {
    registerSecret(KEY);
    const slack: Server = createServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(quoting(185));
    });
    await new Promise<void>((resolve) => slack.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(slack.address() as AddressInfo).port}/services/T000/B000/hook-secret-path`;
      const channel = new SlackWebhookChannel({ url, logger: quietLogger, maxRetries: 0 });
      const err = await failure(channel.send(alert()));
      expect(err.message).toBe(`channels.slack.url: Slack rejected the message: HTTP 400 ${'x'.repeat(185)}[redacted] is …`);
    } finally {
      slack.close();
    }
  });

  it('a record whose currency quotes the key (upper-cased, as currencies are): quarantined with the key redacted, then cut', async () => {
    const server = await startServer((_req, res) => json(res, 200, { orders: [{ created_at: '2026-03-01', total: 5, cur: KEY }] }));
    const db = await testDatabaseUrlWithSchema();
    const wh = await openWarehouse({ url: db.url, poolSize: 1 });
    try {
      const { migrateToLatest } = await import('../../../src/warehouse/index.ts');
      const { parseConfig } = await import('../../../src/config/index.ts');
      const { connectorFor, runSync } = await import('../../../src/connectors/index.ts');
      await migrateToLatest(wh.db);
      const config = parseConfig(shopYaml('{ date: created_at, currency: cur, metrics: { revenue: total } }'), 'kpi.yaml', { env: { BASE: server.url, SHOP_KEY: KEY } }).connectors[0]!;
      const res = await runSync({ db: wh.db, connector: await connectorFor('http_json'), config, log: quietLogger, window: { from: '2026-03-01', to: '2026-03-01' } });
      expect(res.run).toMatchObject({ status: 'succeeded', rows_rejected: 1 });
      const rows = await wh.db.selectFrom('quarantine').select(['reason', 'record']).execute();
      expect(rows.map((r) => r.reason)).toEqual(['currency "[redacted]" is not a 3-letter code']);
      // Not even the part of the key a cut at 20 characters would have left.
      expect(JSON.stringify(rows).toUpperCase()).not.toContain(KEY.slice(0, 12).toUpperCase());
    } finally {
      await server.close();
      await wh.close();
      await db.drop();
    }
  });

  it('a sync run error at the 4 000-character limit', async () => {
    const wh = await testPostgres({ poolSize: 1 });
    try {
      registerSecret(KEY);
      const id = await startRun(wh.db, { connector: 'shop', trigger: 'manual' });
      // An emoji right at the cut: half of it would be a lone surrogate.
      const run = await finishRun(wh.db, id, { status: 'failed', error: new Error(`${'y'.repeat(3980)}${KEY}${'😀'.repeat(10)}`) });
      expect(run.error).toBe(`${'y'.repeat(3980)}[redacted]${'😀'.repeat(4)}…`);
    } finally {
      await wh.close();
    }
  });
});
