import type { ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.ts';
import { connectorFor, runSync } from '../../../src/connectors/index.ts';
import { createGa4Connector } from '../../../src/connectors/ga4/connector.ts';
import type { AnyConnector } from '../../../src/connectors/index.ts';
import { createHttpClient, HttpConfigError } from '../../../src/core/http/index.ts';
import { CredentialStore, GOOGLE_STATIC_TOKEN, startGoogleTokenFake } from '../../../src/sandbox/index.ts';
import { ConfigError } from '../../../src/core/errors.ts';
import { clearSecrets } from '../../../src/core/secrets.ts';
import { closedAfterEach, failure } from '../../helpers/async.ts';
import { captureLogs } from '../../helpers/logs.ts';
import { useWarehouse } from '../../helpers/warehouse.ts';
import { googleAuthYaml, googleEnv } from '../google-helpers.ts';
import { fakeSleep, startServer } from './server.ts';

const serve = closedAfterEach(startServer);
const MB = 1024 * 1024;

/**
 * Writes a JSON array of `totalBytes` (1 GB unless told), as fast as the client takes it, and
 * counts what it managed to hand to the socket before the client hung up.
 */
function endlessBody(headers: Record<string, string> = {}, totalBytes = 1024 * MB): { handler: (res: ServerResponse) => Promise<void>; sent: () => number } {
  let sent = 0;
  const chunk = Buffer.from(`${'{"id":1234567890,"name":"row"},'.repeat(2048)}`);
  return {
    sent: () => sent,
    handler: async (res) => {
      res.writeHead(200, { 'content-type': 'application/json', ...headers });
      res.write('[');
      while (sent < totalBytes && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) await new Promise((resolve) => (res.once('drain', resolve), res.once('close', resolve)));
      }
      res.end();
    },
  };
}

describe('response size cap', () => {
  it('stops a body that grows past the limit and fails at once, naming the limit and how to raise it', async () => {
    const body = endlessBody();
    const server = await serve((_req, res) => body.handler(res));
    const http = createHttpClient({ name: 'shop', baseURL: server.url, maxResponseMb: 2, sleep: fakeSleep().sleep, logger: captureLogs().logger });
    const err = await failure(http.get('/admin/orders.json', { query: { api_key: 'key-1234567890' } }));
    expect(err).toBeInstanceOf(HttpConfigError);
    expect(err.message).toBe(
      `connector "shop": the response to GET ${server.host}/admin/orders.json is larger than the 2 MB limit, so its download was stopped (not retried); raise maxResponseMb in the connector's config, or ask for less per request (fewer days or records per page)`,
    );
    expect(server.requests).toHaveLength(1);
    // Of the 1 GB the source meant to send, little more than the limit (and the sockets' buffers) left it.
    expect(body.sent()).toBeLessThan(64 * MB);
  });

  it('refuses a body whose Content-Length is over the limit before reading it', async () => {
    let written = 0;
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(600 * MB) });
      // Headers first, then nothing until the client has decided.
      res.flushHeaders();
      res.on('close', () => (written = res.writableLength));
    });
    const http = createHttpClient({ baseURL: server.url, sleep: fakeSleep().sleep, logger: captureLogs().logger });
    const err = await failure(http.get('/export'));
    expect(err.message).toBe(
      `the response to GET ${server.host}/export is larger than the 32 MB limit, so its download was stopped (not retried); raise maxResponseMb in the connector's config, or ask for less per request (fewer days or records per page)`,
    );
    expect(server.requests).toHaveLength(1);
    expect(written).toBe(0);
  });

  it("does not take a HEAD answer's Content-Length for a body", async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(600 * MB) });
      res.end();
    });
    const http = createHttpClient({ baseURL: server.url, sleep: fakeSleep().sleep, logger: captureLogs().logger });
    const res = await http.request({ method: 'HEAD', url: '/export', responseType: 'text' });
    expect(res).toMatchObject({ status: 200, data: '', headers: { 'content-length': String(600 * MB) } });
  });

  it('counts the bytes after decompression: a small gzip that unpacks to 200 MB is stopped', async () => {
    const bomb = gzipSync(Buffer.alloc(200 * MB, ' '));
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(bomb.length) });
      res.end(bomb);
    });
    expect(bomb.length).toBeLessThan(MB);
    const http = createHttpClient({ baseURL: server.url, maxResponseMb: 4, sleep: fakeSleep().sleep, logger: captureLogs().logger });
    const err = await failure(http.get('/report'));
    expect(err.message).toContain('is larger than the 4 MB limit');
    expect(server.requests).toHaveLength(1);
  });

  it('keeps several downloads at once within their limits (several syncs in one worker)', async () => {
    const bodies = Array.from({ length: 4 }, () => endlessBody());
    const servers = await Promise.all(bodies.map((b) => serve((_req, res) => b.handler(res))));
    const errors = await Promise.all(
      servers.map((s, i) => failure(createHttpClient({ name: `shop${i}`, baseURL: s.url, maxResponseMb: 1, sleep: fakeSleep().sleep, logger: captureLogs().logger }).get('/orders'))),
    );
    expect(errors.map((e) => e.message.slice(0, e.message.indexOf(' the response')))).toEqual(['connector "shop0":', 'connector "shop1":', 'connector "shop2":', 'connector "shop3":']);
    for (const b of bodies) expect(b.sent()).toBeLessThan(64 * MB);
  });

  it('a body just under the limit is read whole', async () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: 'row' }));
    const text = JSON.stringify(rows);
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(text);
    });
    const http = createHttpClient({ baseURL: server.url, maxResponseMb: text.length / MB + 0.001, sleep: fakeSleep().sleep, logger: captureLogs().logger });
    expect((await http.get('/rows')).data).toEqual(rows);
  });

  describe('per connector', () => {
    const wh = useWarehouse('postgres');
    const yaml = (limit: string) => `
connectors:
  - name: shop
    type: http_json
    url: \${var:BASE}/admin/orders.json
    auth: { type: query, name: appid, value: "\${env:APPID}" }
    maxResponseMb: ${limit}
    recordsPath: orders
    fields: { date: created_at, metrics: { orders: { count: true } } }
`;

    it('fails the sync with a config error naming the connector, the path and the limit; the source is asked once', async () => {
      const body = endlessBody();
      const server = await serve((_req, res) => body.handler(res));
      const config = parseConfig(yaml('1.5'), 'kpi.yaml', { env: { BASE: server.url, APPID: 'Ab+cd/Ef=gh' } }).connectors[0]!;
      try {
        const res = await runSync({ db: wh.db, connector: await connectorFor('http_json'), config, log: captureLogs().logger, window: { from: '2026-03-02', to: '2026-03-02' } });
        expect(res.run).toMatchObject({
          status: 'failed',
          error_kind: 'config',
          error: `connector "shop": the response to GET ${server.host}/admin/orders.json is larger than the 1.50 MB limit, so its download was stopped (not retried); raise maxResponseMb in the connector's config, or ask for less per request (fewer days or records per page)`,
        });
        expect(server.requests).toHaveLength(1);
      } finally {
        clearSecrets();
      }
    });

    it('holds for the Google connectors too (googleapis): GA4', async () => {
      const body = endlessBody();
      const api = await serve((_req, res) => body.handler(res));
      const token = await startGoogleTokenFake({ credentials: new CredentialStore([GOOGLE_STATIC_TOKEN]) });
      try {
        const text = `
connectors:
  - name: ga4-web
    type: ga4
    propertyIds: ["1234"]
    baseUrl: "\${var:GA4_URL}"
    maxResponseMb: 2
${googleAuthYaml()}
`;
        const config = parseConfig(text, 'kpi.yaml', { env: googleEnv(token, { GA4_URL: api.url }) }).connectors[0]!;
        const connector = createGa4Connector({ retry: { baseDelayMs: 1, maxDelayMs: 5 } }) as unknown as AnyConnector;
        const res = await runSync({ db: wh.db, connector, config, log: captureLogs().logger, window: { from: '2026-03-02', to: '2026-03-02' } });
        expect(res.run).toMatchObject({
          status: 'failed',
          error_kind: 'config',
          error: `connector "ga4-web": the response to POST ${api.host}/v1beta/properties/1234:runReport is larger than the 2 MB limit, so its download was stopped (not retried); raise maxResponseMb in the connector's config, or ask for less per request (fewer days or records per page)`,
        });
        expect(api.requests).toHaveLength(1);
        expect(body.sent()).toBeLessThan(64 * MB);
      } finally {
        await token.close();
        clearSecrets();
      }
    });

    it('is refused past 512 MB, and on a connector that makes no HTTP requests', () => {
      const tooBig = (() => {
        try {
          parseConfig(yaml('600'), 'kpi.yaml', { env: { BASE: 'http://127.0.0.1:9', APPID: 'Ab+cd/Ef=gh' } });
        } catch (err) {
          return err as ConfigError;
        }
      })();
      expect(tooBig).toBeInstanceOf(ConfigError);
      expect(tooBig!.message).toBe('kpi.yaml:7:20 connectors[0].maxResponseMb: at most 512: Node cannot hold a larger response as text');
      expect(() => parseConfig('connectors:\n  - { name: leads, type: csv, path: x.csv, date: { column: d }, metrics: { leads: n }, maxResponseMb: 8 }\n', 'kpi.yaml', { env: {} })).toThrow(
        'kpi.yaml:2:103 connectors[0].maxResponseMb: unknown key "maxResponseMb"',
      );
    });
  });
});
