import { afterEach, describe, expect, it } from 'vitest';
import { runSync, type AnyConnector, type ConnectorConfig } from '../../src/connectors/index.ts';
import { sourceConnector } from '../../src/connectors/declarative/connector.ts';
import type { SourceDefinitionInput } from '../../src/connectors/declarative/definition.ts';
import { fill } from '../../src/connectors/declarative/template.ts';
import { useWarehouse } from '../helpers/warehouse.ts';
import { capturingLogger, truncateWarehouse } from './google-helpers.ts';
import { startServer, type TestServer } from './http/server.ts';

/**
 * A source definition against an API that misbehaves, each case a way one did: a token
 * endpoint handing out short-lived tokens, an error told with status 200, an API echoing the
 * URL (with the key in it) into its error, an error rule written as "this field is there".
 * Each runs a real sync into the warehouse and looks at what a user would: runs, facts, logs.
 */

const servers: TestServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function api(handler: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const srv = await startServer(handler);
  servers.push(srv);
  return srv;
}

function json(res: import('node:http').ServerResponse, body: unknown, status = 200): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
}

const definition = (over: Partial<SourceDefinitionInput> = {}): SourceDefinitionInput => ({
  type: 'hostile',
  title: 'Hostile',
  baseUrl: 'https://api.example.com',
  config: {
    apiKey: { kind: 'secret', description: 'the API key' },
    account: { kind: 'string', default: 'main', description: 'the account facts are stored under' },
  },
  accounts: { single: 'account' },
  request: { path: '/rows' },
  records: 'rows',
  date: { path: 'day' },
  metrics: { orders: 'n' },
  ...over,
});

const connectorOf = (def: SourceDefinitionInput) => sourceConnector(def, { retry: { baseDelayMs: 1, maxDelayMs: 5, maxRetries: 2 }, timeoutMs: 10_000 }) as unknown as AnyConnector;
const configOf = (def: SourceDefinitionInput, settings: Record<string, unknown>) =>
  sourceConnector(def).configSchema.parse({ name: 'hostile', type: def.type, startDate: '2026-03-09', ...settings }) as unknown as ConnectorConfig;
const now = () => new Date('2026-03-10T12:00:00Z');

describe('a source definition against a hostile or flaky API', () => {
  const wh = useWarehouse('pglite', truncateWarehouse);

  async function sync(def: SourceDefinitionInput, settings: Record<string, unknown>) {
    const cap = capturingLogger();
    const result = await runSync({ db: wh.db, connector: connectorOf(def), config: configOf(def, settings), log: cap.log, now });
    const facts = await wh.db.selectFrom('metric_facts').select(['date', 'metric', 'value']).where('connector', '=', 'hostile').orderBy('date').execute();
    const runs = await wh.db.selectFrom('sync_runs').selectAll().where('connector', '=', 'hostile').execute();
    return { result, error: result.error instanceof Error ? result.error.message : String(result.error), facts: facts.map((f) => `${String(f.date)} ${f.metric}=${Number(f.value)}`), runs, log: cap.text() };
  }

  it('asks a token endpoint that hands out 30-second tokens once, not before every page', async () => {
    let tokens = 0;
    const srv = await api((req, res) => {
      if (req.url!.startsWith('/token')) return json(res, { access_token: `short-lived-token-${++tokens}`, expires_in: 30 });
      const page = Number(new URL(req.url!, 'http://x').searchParams.get('page'));
      json(res, { rows: [{ day: '2026-03-09', n: page }, { day: '2026-03-10', n: 10 * page }], pages: 4 });
    });
    const def = definition({
      auth: { type: 'oauth2_refresh', tokenUrl: `${srv.url}/token`, clientId: 'client', clientSecret: '{config.apiKey}', refreshToken: '{config.apiKey}' },
      pagination: { type: 'page', totalPagesPath: 'pages' },
    });
    const { result, facts } = await sync(def, { apiKey: 'refresh-token-abcdef-123', baseUrl: srv.url });
    expect(result.run.status).toBe('succeeded');
    // Pages 1..4: 1+2+3+4 on the 9th, 10+20+30+40 on the 10th.
    expect(facts).toEqual(['2026-03-09 orders=10', '2026-03-10 orders=100']);
    expect(srv.requests.filter((r) => r.url.startsWith('/rows')).length).toBe(4);
    expect(tokens).toBe(1);
  });

  it('a refresh token refused with invalid_grant fails the run as a config error naming the connector, asked once', async () => {
    let tokens = 0;
    const srv = await api((req, res) => {
      if (req.url!.startsWith('/token')) return (tokens++, json(res, { error: 'invalid_grant', error_description: 'Refresh token revoked' }, 400));
      json(res, { rows: [{ day: '2026-03-09', n: 1 }] });
    });
    const def = definition({ auth: { type: 'oauth2_refresh', tokenUrl: `${srv.url}/token`, clientId: 'client', clientSecret: '{config.apiKey}', refreshToken: '{config.apiKey}' } });
    const { result, error, runs, log } = await sync(def, { apiKey: 'revoked-refresh-token-42', baseUrl: srv.url });
    expect(result.run.status).toBe('failed');
    expect(error).toBe('connector "hostile": the token endpoint refused the refresh token (invalid_grant: Refresh token revoked); sign in again and store the new refresh token');
    expect(runs[0]!.error_kind).toBe('config');
    expect(tokens).toBe(1);
    expect(srv.requests.filter((r) => r.url.startsWith('/rows'))).toEqual([]);
    expect(JSON.stringify(runs) + log).not.toContain('revoked-refresh-token-42');
  });

  it('a token endpoint answering 200 without a token (a maintenance notice) is asked again, not taken as a refused sign-in', async () => {
    let tokens = 0;
    const srv = await api((req, res) => {
      if (req.url!.startsWith('/token')) {
        if (++tokens === 1) return json(res, { status: 'maintenance', message: 'back in a minute' });
        return json(res, { access_token: 'fresh-access-token-0001', expires_in: 3600 });
      }
      json(res, { rows: [{ day: '2026-03-09', n: 7 }] });
    });
    const def = definition({ auth: { type: 'oauth2_refresh', tokenUrl: `${srv.url}/token`, clientId: 'client', clientSecret: '{config.apiKey}', refreshToken: '{config.apiKey}' } });
    const { result, facts } = await sync(def, { apiKey: 'good-refresh-token-42', baseUrl: srv.url });
    expect(result.run.status).toBe('succeeded');
    expect(facts).toEqual(['2026-03-09 orders=7']);
    expect(tokens).toBe(2);
  });

  it('a secret setting written into the YAML as it is and put in the URL never reaches the run, the log or the error', async () => {
    const key = 'literal-api-key-7f3e9a';
    // An API that quotes the request, key and all, in its error, as many do.
    const srv = await api((req, res) => json(res, { message: `invalid request ${req.url}` }, 400));
    const def = definition({ request: { path: '/v1/{config.apiKey}/rows', query: { api_key: '{config.apiKey}', from: '{from}' } } });
    const { result, error, runs, log } = await sync(def, { apiKey: key, baseUrl: srv.url });
    expect(result.run.status).toBe('failed');
    expect(error).toMatch(/rejected GET .*\/v1\/\[redacted\]\/rows \(HTTP 400\)/);
    expect(JSON.stringify(runs)).toContain('[redacted]');
    for (const text of [error, JSON.stringify(runs), log]) {
      expect(text).not.toContain(key);
      expect(text).not.toContain(encodeURIComponent(key));
      expect(text).not.toContain(Buffer.from(key).toString('base64'));
    }
    expect(srv.requests[0]!.url).toContain(key);
  });

  it('an error rule that names only a body field applies when the field is there, not to every answer', async () => {
    let n = 0;
    const srv = await api((_req, res) => (++n === 1 ? json(res, { rows: [{ day: '2026-03-09', n: 3 }, { day: '2026-03-10', n: 4 }] }) : json(res, { error: 'account suspended' })));
    const def = definition({ errors: [{ status: 200, body: { path: 'error' }, kind: 'config' }] });
    const first = await sync(def, { apiKey: 'some-api-key-1234', baseUrl: srv.url });
    expect(first.result.run.status).toBe('succeeded');
    expect(first.facts).toEqual(['2026-03-09 orders=3', '2026-03-10 orders=4']);
    const second = await sync(def, { apiKey: 'some-api-key-1234', baseUrl: srv.url });
    expect(second.result.run.status).toBe('failed');
    expect(second.error).toMatch(/account suspended/);
    // A config error is not asked again.
    expect(n).toBe(2);
    expect(second.facts).toEqual(first.facts);
  });

  it('an error told with status 200 (no records key) fails the run and leaves the checkpoint, rather than storing nothing as success', async () => {
    let failing = true;
    const srv = await api((_req, res) => (failing ? json(res, { errors: 'Internal error, please retry' }) : json(res, { rows: [{ day: '2026-03-09', n: 5 }, { day: '2026-03-10', n: 6 }] })));
    const def = definition();
    const first = await sync(def, { apiKey: 'some-api-key-1234', baseUrl: srv.url });
    expect(first.result.run.status).toBe('failed');
    expect(first.error).toBe('connector "hostile": the answer has no "rows" (its keys: "errors"): an error answered with status 200, or a definition whose records path is not where the API puts them');
    expect(first.facts).toEqual([]);
    expect(await wh.db.selectFrom('checkpoints').selectAll().where('connector', '=', 'hostile').execute()).toEqual([]);
    // The source recovers: the next sync reads the days the failed one could not.
    failing = false;
    const second = await sync(def, { apiKey: 'some-api-key-1234', baseUrl: srv.url });
    expect(second.result.run.status).toBe('succeeded');
    expect(second.facts).toEqual(['2026-03-09 orders=5', '2026-03-10 orders=6']);
  });

  it('an empty answer for days that had facts is held, not applied (the delete guard holds for definitions)', async () => {
    let empty = false;
    const srv = await api((_req, res) => json(res, { rows: empty ? [] : [{ day: '2026-03-09', n: 5 }, { day: '2026-03-10', n: 6 }] }));
    const def = definition();
    expect((await sync(def, { apiKey: 'some-api-key-1234', baseUrl: srv.url })).result.run.status).toBe('succeeded');
    empty = true;
    const second = await sync(def, { apiKey: 'some-api-key-1234', baseUrl: srv.url });
    expect(second.result.run.status).toBe('held');
    expect(second.facts).toEqual(['2026-03-09 orders=5', '2026-03-10 orders=6']);
  });

  it('a next-page URL on another host is not followed with the credentials', async () => {
    const elsewhere = await api((_req, res) => json(res, { rows: [{ day: '2026-03-09', n: 1000 }] }));
    const srv = await api((_req, res) => json(res, { rows: [{ day: '2026-03-09', n: 1 }], next: `${elsewhere.url}/rows?page=2` }));
    const def = definition({ auth: { type: 'header', name: 'X-Api-Key', value: '{config.apiKey}' }, pagination: { type: 'next_url', path: 'next' } });
    const { result, error, facts } = await sync(def, { apiKey: 'header-api-key-5678', baseUrl: srv.url });
    expect(result.run.status).toBe('failed');
    expect(error).toMatch(/not to http:\/\/127\.0\.0\.1:\d+ where the connector's API is; credentials are only sent there/);
    expect(elsewhere.requests).toEqual([]);
    expect(facts).toEqual([]);
  });

  it('a definition whose accounts name a setting it does not have, or an optional one, is refused: it would read nothing on every sync', () => {
    expect(() => sourceConnector(definition({ accounts: { single: 'acount' } }))).toThrow('source definition "hostile" is not valid: accounts.single: names the setting "acount", which `config` does not have (it has: apiKey, account)');
    const optional = definition({ config: { ids: { kind: 'list', optional: true, description: 'ids' } }, accounts: { list: 'ids' } });
    expect(() => sourceConnector(optional)).toThrow(/accounts\.list: names the setting "ids", which is optional: unset, the connector would read nothing/);
  });

  it('an empty list of accounts is a config error, not a sync that reads nothing', () => {
    const def = definition({ config: { ids: { kind: 'list', description: 'ids' } }, accounts: { list: 'ids' } });
    const parsed = sourceConnector(def).configSchema.safeParse({ name: 'hostile', type: 'hostile', ids: [] });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual(['ids: give at least 1: each is an account the connector reads']);
    expect(sourceConnector(def).configSchema.safeParse({ name: 'hostile', type: 'hostile', ids: ['a1'] }).success).toBe(true);
  });

  it("a template naming Object's own keys ({config.constructor}, {config.__proto__}) is an error, not Object's source text", () => {
    const scope = { config: { apiKey: 'k-123456' }, zone: 'UTC', name: 'hostile' };
    for (const key of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(() => fill(`/x/{config.${key}}`, scope)).toThrow(`connector "hostile": the source definition's {config.${key}} has no value here`);
    }
    expect(fill('/x/{config.apiKey}', scope)).toBe('/x/k-123456');
  });

  it('a definition with scale 0 is refused when it is read', () => {
    expect(() => sourceConnector(definition({ metrics: { orders: { path: 'n', scale: 0 } } }))).toThrow(/metrics\.orders.*scale 0 would store every value as 0/);
  });
});
