import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpClient } from '../../../src/core/http/index.ts';
import { createLogger } from '../../../src/core/log.ts';
import { clearSecrets, registerSecret } from '../../../src/core/secrets.ts';
import { fakeSleep, json, startServer, type TestServer } from './server.ts';

const SECRET = 'fake-meta-token-superSecretToken123';
// Not registered: only the query redaction keeps it out of the logs.
const UNREGISTERED_KEY = 'AIzaSyUnregisteredApiKey987';

describe('secrets never reach logs or errors', () => {
  let server: TestServer;
  beforeAll(async () => {
    registerSecret(SECRET);
    server = await startServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      // Sources do echo credentials back: in messages, and in URLs of "see also" links.
      const echo = `Invalid token ${SECRET}; see https://api.example.com/debug?access_token=${SECRET}`;
      if (path === '/server-error') return json(res, 500, { error: { message: echo } });
      if (path === '/unauthorized') return json(res, 401, { error: { message: echo } });
      if (path === '/forbidden') return json(res, 403, { message: echo });
      if (path === '/bad-request') return json(res, 400, { error: { message: echo, code: 100 } });
      if (path === '/throttled') return json(res, 429, { errors: [{ message: echo }] }, { 'retry-after': '1' });
      if (path === '/truncated') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(`{"token": "${SECRET}", "rows": [`);
      }
      if (path === '/hang') return;
      json(res, 200, { ok: true });
    });
  });
  afterAll(async () => {
    await server.close();
    clearSecrets();
  });

  it('holds for every kind of failure', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer | string, _encoding, callback) {
        lines.push(chunk.toString());
        callback();
      },
    });
    const logger = createLogger({ level: 'debug', destination });
    const http = createHttpClient({
      baseURL: server.url,
      auth: { headers: () => ({ Authorization: `Bearer ${SECRET}` }), onUnauthorized: () => {} },
      headers: { 'X-Api-Key': SECRET },
      retry: { maxRetries: 2 },
      timeoutMs: 100,
      sleep: fakeSleep().sleep,
      logger,
    });
    const query = { access_token: SECRET, api_key: UNREGISTERED_KEY, fields: 'clicks' };

    const errors: unknown[] = [];
    for (const path of ['/server-error', '/unauthorized', '/forbidden', '/bad-request', '/throttled', '/truncated', '/hang']) {
      await http.get(path, { query }).then(
        () => expect.fail(`${path} should have failed`),
        (err: unknown) => errors.push(err),
      );
    }
    await http.get(`/ok?access_token=${SECRET}&key=${UNREGISTERED_KEY}`);
    // A refused connection, with the secret in the absolute URL (a client of its own: this
    // one sends nothing to a host other than its baseURL's).
    const closed = await startServer(() => {});
    await closed.close();
    const bare = createHttpClient({ headers: { 'X-Api-Key': SECRET }, retry: { maxRetries: 2 }, sleep: fakeSleep().sleep, logger });
    await bare.get(`${closed.url}/gone`, { query }).catch((err: unknown) => errors.push(err));

    expect(errors).toHaveLength(8);
    expect(lines.length).toBeGreaterThan(20);
    const logText = lines.join('');
    expect(logText).toContain('access_token=[redacted]');
    expect(logText).toContain('fields=clicks');
    for (const leaked of [SECRET, UNREGISTERED_KEY]) {
      expect(logText).not.toContain(leaked);
      for (const err of errors) {
        const e = err as Error;
        expect(e.message).not.toContain(leaked);
        expect(String(e.stack)).not.toContain(leaked);
        expect(inspect(err, { depth: 10 })).not.toContain(leaked);
        expect(JSON.stringify(err)).not.toContain(leaked);
      }
    }
    // The requests did carry the credentials; only the reporting hides them.
    expect(server.requests[0]?.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(server.requests[0]?.url).toContain(`access_token=${SECRET}`);
  });
});
