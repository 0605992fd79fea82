import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.ts';
import { connectorFor, runSync } from '../../../src/connectors/index.ts';
import { scrubbedLine } from '../../../src/core/http/redact.ts';
import { clearSecrets, redactAndCut, redactSecrets, registerSecret } from '../../../src/core/secrets.ts';
import { captureLogs } from '../../helpers/logs.ts';
import { useWarehouse } from '../../helpers/warehouse.ts';
import { json, startServer, type TestServer } from './server.ts';

// Everything a URL, a form or a JSON string has to escape, and text outside ASCII.
const SECRET = 'k+y/Z=9%&é😀 "q\\x';

/** \u escapes for everything outside ASCII, as JSON encoders with ensure_ascii write them. */
const asciiJson = (text: string) => JSON.stringify(text).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

describe('redactSecrets', () => {
  beforeAll(() => registerSecret(SECRET));
  afterAll(() => clearSecrets());

  it.each([
    ['as it is', SECRET],
    ['percent-encoded', encodeURIComponent(SECRET)],
    ['percent-encoded with lower-case hex', encodeURIComponent(SECRET).replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase())],
    ['form-encoded (space as +)', new URLSearchParams({ a: SECRET }).toString().slice(2)],
    ['percent-encoded twice', encodeURIComponent(encodeURIComponent(SECRET))],
    ['JSON-escaped', JSON.stringify(SECRET).slice(1, -1)],
    ['JSON-escaped with \\u for everything outside ASCII', asciiJson(SECRET).slice(1, -1)],
    ['JSON-escaped with \\/', JSON.stringify(SECRET).slice(1, -1).replace(/\//g, '\\/')],
    ['a mix: form-encoded, then quoted in JSON', JSON.stringify(new URLSearchParams({ a: SECRET }).toString().slice(2)).slice(1, -1)],
    ['lower-cased (a host name)', SECRET.toLowerCase()],
    ['upper-cased (a field a source upper-cases)', SECRET.toUpperCase()],
    ['decomposed (é as e and a combining accent, as macOS writes it)', SECRET.normalize('NFD')],
    ['decomposed, then percent-encoded', encodeURIComponent(SECRET.normalize('NFD'))],
  ])('scrubs the secret %s', (_how, form) => {
    expect(redactSecrets(`before ${form} after`)).toBe('before [redacted] after');
  });

  it.each([['kpi'], ['an'], ['a'], ['']])('scrubs the secret base64-encoded in a Basic header for user "%s", leaving no whole character of it', (user) => {
    const header = `Basic ${Buffer.from(`${user}:${SECRET}`).toString('base64')}`;
    const scrubbed = redactSecrets(header);
    expect(scrubbed).toMatch(/^Basic [A-Za-z0-9+/]{0,8}\[redacted\][A-Za-z0-9+/]?=*$/);
    // What is left decodes to the user name and at most a few bits of the secret's edges.
    const left = scrubbed.slice('Basic '.length).split('[redacted]');
    expect(left[0]!.length * 6).toBeLessThan((user.length + 1) * 8 + 8);
    expect(left[1]!.replace(/=+$/, '').length * 6).toBeLessThan(8);
  });

  it.each([['kpi'], ['']])('scrubs the secret base64url-encoded (the URL-safe alphabet: - and _ for + and /) after "%s:"', (user) => {
    const token = Buffer.from(`${user}:${SECRET}`).toString('base64url');
    expect(token).toMatch(/[-_]/);
    expect(redactSecrets(`token=${token}`)).toMatch(/^token=[A-Za-z0-9_-]{0,8}\[redacted\][A-Za-z0-9_-]?$/);
  });

  it('scrubs a secret whose whitespace was trimmed or collapsed on the way (one line of a message)', () => {
    const key = ' -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASC-----END PRIVATE KEY-----\n';
    registerSecret(key);
    expect(redactSecrets(`invalid key:${key.replace(/\s+/g, ' ').trim()}.`)).toBe('invalid key:[redacted].');
    expect(redactSecrets(`invalid key: ${key.replace(/\s+/g, '')}`)).toBe('invalid key: [redacted]');
  });

  it('leaves text that only shares a part of the secret alone', () => {
    expect(redactSecrets('k+y/Z=9%& and q\\x')).toBe('k+y/Z=9%& and q\\x');
  });
});

describe('redactAndCut on a long text (only its head is scrubbed)', () => {
  const KEY = 'Zk+9/qW=e é😀-'.repeat(8);
  beforeAll(() => registerSecret(KEY));
  afterAll(() => clearSecrets());

  it('scrubs a secret quoted across the cut, however long the text after it', () => {
    const text = `${'a'.repeat(290)}${encodeURIComponent(KEY)}${'b'.repeat(5_000_000)}`;
    expect(redactAndCut(text, 301)).toBe(`${'a'.repeat(290)}[redacted]…`);
  });

  it('reads further when scrubbing shrinks the head: a text of nothing but the secret, again and again', () => {
    const text = `${encodeURIComponent(KEY).repeat(2_000)}tail`;
    expect(redactAndCut(text, 301)).toBe(`${'[redacted]'.repeat(30)}…`);
    expect(redactAndCut(`${KEY.repeat(20)}tail`, 301)).toBe(`${'[redacted]'.repeat(20)}tail`);
  });

  it('reads further when collapsing the blanks shrinks it: a secret after a megabyte of blanks', () => {
    expect(redactAndCut(`error:${' \n'.repeat(500_000)}${KEY} is revoked`, 301, scrubbedLine)).toBe('error: [redacted] is revoked');
  });
});

describe('a credential sent as a query parameter (http_json auth: query)', () => {
  const wh = useWarehouse('postgres');
  let server: TestServer;
  const appid = 'Ab+cd/Ef=gh+ij/KL==';
  beforeAll(async () => {
    // Two 503s (retried at once, Retry-After: 0), then the orders.
    server = await startServer((_req, res, n) => (n < 2 ? json(res, 503, { message: 'busy' }, { 'retry-after': '0' }) : json(res, 200, { orders: [] })));
  });
  afterAll(async () => {
    await server.close();
    clearSecrets();
  });

  it('is redacted from every log line, whatever the parameter is called, however it is encoded', async () => {
    const yaml = `
connectors:
  - name: weather
    type: http_json
    url: \${var:BASE}/v1/orders
    startDate: 2026-03-01
    params: { from: "{from}" }
    auth: { type: query, name: appid, value: "\${env:APPID}" }
    recordsPath: orders
    fields: { date: created_at, metrics: { orders: { count: true } } }
`;
    const config = parseConfig(yaml, 'kpi.yaml', { env: { BASE: server.url, APPID: appid } }).connectors[0]!;
    const { lines, logger } = captureLogs();
    const res = await runSync({ db: wh.db, connector: await connectorFor('http_json'), config, log: logger, window: { from: '2026-03-02', to: '2026-03-02' } });
    expect(res.run.status).toBe('succeeded');
    const retries = lines.map((l) => JSON.parse(l) as { msg: string; path?: string; attempt?: number }).filter((l) => l.msg === 'retrying http request');
    expect(retries.map((l) => [l.attempt, l.path])).toEqual([
      [1, '/v1/orders?from=2026-03-01&appid=[redacted]'],
      [2, '/v1/orders?from=2026-03-01&appid=[redacted]'],
    ]);
    // The source did get the key, encoded as a form encodes it.
    expect(server.requests[0]!.url).toBe(`/v1/orders?from=2026-03-01&appid=${new URLSearchParams({ a: appid }).toString().slice(2)}`);
    for (const form of [appid, encodeURIComponent(appid), new URLSearchParams({ a: appid }).toString().slice(2)]) {
      expect(lines.join('')).not.toContain(form);
    }
  });
});
