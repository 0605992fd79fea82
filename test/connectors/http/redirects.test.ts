import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.ts';
import { connectorFor, runSync } from '../../../src/connectors/index.ts';
import { createHttpClient, HttpConfigError } from '../../../src/core/http/index.ts';
import { clearSecrets } from '../../../src/core/secrets.ts';
import { closedAfterEach, failure } from '../../helpers/async.ts';
import { captureLogs } from '../../helpers/logs.ts';
import { useWarehouse } from '../../helpers/warehouse.ts';
import { fakeSleep, json, startServer } from './server.ts';

const serve = closedAfterEach(startServer);

// The custom credential headers our connectors send: http_json's header auth, Shopify's,
// Google Ads' developer token.
const credentialHeaders = { 'x-api-key': 'key-1234567890', 'X-Shopify-Access-Token': 'shpat_1234567890', 'developer-token': 'dev-token-1234567890' };

describe('redirects', () => {
  it('a redirect to another host is refused, and the other host gets nothing', async () => {
    const other = await serve((_req, res) => json(res, 200, { stolen: true }));
    const source = await serve((_req, res) => {
      res.writeHead(302, { location: `${other.url}/collect?from=source` });
      res.end();
    });
    const http = createHttpClient({ baseURL: source.url, headers: credentialHeaders, auth: { headers: () => ({ Authorization: 'Bearer tok-1234567890' }) }, sleep: fakeSleep().sleep, logger: captureLogs().logger });
    const err = await failure(http.get('/v1/orders'));
    expect(err).toBeInstanceOf(HttpConfigError);
    expect(err.message).toBe(
      `GET ${source.host}/v1/orders was redirected (HTTP 302) to http://${other.host}; credentials are only sent to http://${source.host}, so the redirect was not followed: if the API moved, point the connector's URL at its new address`,
    );
    expect(other.requests).toHaveLength(0);
    // A configuration problem: not retried.
    expect(source.requests).toHaveLength(1);
  });

  it('a redirect on the same host is followed with the credentials, POST turning into GET on a 303', async () => {
    const source = await serve((req, res) => {
      if (req.url === '/v1/report') {
        res.writeHead(303, { location: '/v1/report/result?id=7' });
        return res.end();
      }
      json(res, 200, { rows: [1] });
    });
    const http = createHttpClient({ baseURL: source.url, headers: credentialHeaders, sleep: fakeSleep().sleep, logger: captureLogs().logger });
    const res = await http.post('/v1/report', { query: 'x' });
    expect(res.data).toEqual({ rows: [1] });
    expect(source.requests.map((r) => `${r.method} ${r.url} ${r.headers['x-api-key']} ${r.headers['developer-token']} ${r.body}`)).toEqual([
      'POST /v1/report key-1234567890 dev-token-1234567890 {"query":"x"}',
      'GET /v1/report/result?id=7 key-1234567890 dev-token-1234567890 ',
    ]);
  });

  it('a redirect loop ends with a clear error after 5 hops', async () => {
    const source = await serve((_req, res, n) => {
      res.writeHead(307, { location: `/hop/${n + 1}` });
      res.end();
    });
    const http = createHttpClient({ baseURL: source.url, sleep: fakeSleep().sleep, logger: captureLogs().logger });
    const err = await failure(http.get('/hop/0'));
    expect(err.message).toBe(`GET ${source.host}/hop/0 was redirected more than 5 times; check the connector's URL`);
    expect(source.requests).toHaveLength(6);
  });

  describe('http_json', () => {
    const wh = useWarehouse('postgres');
    const shopConfig = (base: string, token: string, pagination: string) =>
      parseConfig(
        `
connectors:
  - name: shop
    type: http_json
    url: \${var:BASE}/orders
    auth: { type: header, name: X-Shopify-Access-Token, value: "\${env:SHOP_TOKEN}" }
    pagination: ${pagination}
    recordsPath: orders
    fields: { date: created_at, metrics: { orders: { count: true } } }
`,
        'kpi.yaml',
        { env: { BASE: base, SHOP_TOKEN: token } },
      ).connectors[0]!;

    it('a next-page link to another host is not followed with the credentials', async () => {
      const other = await serve((_req, res) => json(res, 200, { orders: [] }));
      const source = await serve((_req, res) => json(res, 200, { orders: [] }, { link: `<${other.url}/orders?page=2>; rel="next"` }));
      const config = shopConfig(source.url, 'shpat_1234567890', '{ type: link_header }');
      try {
        const res = await runSync({ db: wh.db, connector: await connectorFor('http_json'), config, log: captureLogs().logger, window: { from: '2026-03-02', to: '2026-03-02' } });
        expect(res.run).toMatchObject({
          status: 'failed',
          error_kind: 'config',
          error: `GET ${other.host}/orders goes to http://${other.host}, not to http://${source.host} where the connector's API is; credentials are only sent there, so the request was not made`,
        });
        expect(source.requests[0]!.headers['x-shopify-access-token']).toBe('shpat_1234567890');
        expect(other.requests).toHaveLength(0);
      } finally {
        clearSecrets();
      }
    });

    it('a redirect to a host named after the token: the refusal names no form of it, although host names are lower-cased', async () => {
      const token = 'ShPaT-9fQ2xKw7LmZ4';
      const source = await serve((_req, res) => {
        res.writeHead(302, { location: `http://${token}.example.invalid/orders` });
        res.end();
      });
      const config = shopConfig(source.url, token, '{ type: none }');
      try {
        const { lines, logger } = captureLogs();
        const res = await runSync({ db: wh.db, connector: await connectorFor('http_json'), config, log: logger, window: { from: '2026-03-02', to: '2026-03-02' } });
        expect(res.run).toMatchObject({
          status: 'failed',
          error_kind: 'config',
          error: `GET ${source.host}/orders was redirected (HTTP 302) to http://[redacted].example.invalid; credentials are only sent to http://${source.host}, so the redirect was not followed: if the API moved, point the connector's URL at its new address`,
        });
        expect(lines.join('\n').toLowerCase()).not.toContain(token.toLowerCase());
      } finally {
        clearSecrets();
      }
    });
  });
});
