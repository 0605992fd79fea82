import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createHttpClient, HttpConfigError, HttpTransientError, type HttpClientOptions } from '../../../src/core/http/index.ts';
import { ConfigError, isConfigError, isTransientError, TransientError } from '../../../src/core/errors.ts';
import { closedAfterEach, failure } from '../../helpers/async.ts';
import { captureLogs } from '../../helpers/logs.ts';
import { fakeSleep, json, startServer, type TestServer } from './server.ts';

const serve = closedAfterEach(startServer);

function client(server: TestServer, options: Partial<HttpClientOptions> = {}) {
  const { sleep, sleeps } = fakeSleep();
  const logs = captureLogs();
  const http = createHttpClient({ baseURL: server.url, sleep, random: () => 1, logger: logs.logger, ...options });
  return { http, sleeps, logs };
}

describe('retries', () => {
  it('retries 500 and 503 with exponential backoff, then succeeds', async () => {
    const server = await serve((_req, res, n) => {
      if (n === 0) json(res, 500, { error: { message: 'boom' } });
      else if (n === 1) json(res, 503, {});
      else json(res, 200, { rows: [1, 2] });
    });
    const { http, sleeps } = client(server, { retry: { baseDelayMs: 100, maxDelayMs: 1_000 } });
    const res = await http.get<{ rows: number[] }>('/v1/report');
    expect(res.data).toEqual({ rows: [1, 2] });
    expect(res.attempts).toBe(3);
    expect(server.requests).toHaveLength(3);
    // random() = 1 turns full jitter into the ceiling: base, then base * 2.
    expect(sleeps).toEqual([100, 200]);
    expect(http.stats).toMatchObject({ requests: 3, retries: 2, failures: 0, byStatus: { '500': 1, '503': 1, '200': 1 } });
  });

  it('caps the backoff at maxDelayMs and jitters below it', async () => {
    const server = await serve((_req, res) => json(res, 502, {}));
    const { http, sleeps } = client(server, { random: () => 0.5, retry: { maxRetries: 4, baseDelayMs: 100, maxDelayMs: 300 } });
    await failure(http.get('/x'));
    expect(sleeps).toEqual([50, 100, 150, 150]);
  });

  it('gives up after maxRetries with a TransientError carrying the last status', async () => {
    const server = await serve((_req, res) => json(res, 503, { error: { message: 'backend unavailable' } }));
    const { http, sleeps } = client(server, { retry: { maxRetries: 3 } });
    const err = await failure(http.get('/v1/report'));
    expect(err).toBeInstanceOf(TransientError);
    expect(isTransientError(err)).toBe(true);
    expect((err as HttpTransientError).status).toBe(503);
    expect(err.message).toContain('gave up after 4 attempts');
    expect(err.message).toContain('HTTP 503');
    expect(err.message).toContain('backend unavailable');
    expect(server.requests).toHaveLength(4);
    expect(sleeps).toHaveLength(3);
    expect(http.stats.failures).toBe(1);
  });

  it('defaults to 5 retries', async () => {
    const server = await serve((_req, res) => json(res, 500, {}));
    const { http } = client(server);
    await failure(http.get('/x'));
    expect(server.requests).toHaveLength(6);
  });

  it('retries 408 and 429 but not other 4xx', async () => {
    const server = await serve((_req, res, n) => json(res, n === 0 ? 408 : n === 1 ? 429 : 200, {}));
    const { http } = client(server);
    await http.get('/x');
    expect(server.requests).toHaveLength(3);
  });

  it('honours Retry-After in seconds', async () => {
    const server = await serve((_req, res, n) => (n === 0 ? json(res, 429, {}, { 'retry-after': '7' }) : json(res, 200, {})));
    const { http, sleeps } = client(server);
    await http.get('/x');
    expect(sleeps).toEqual([7_000]);
  });

  it('honours Retry-After as an HTTP-date', async () => {
    const now = Date.UTC(2025, 0, 15, 12, 0, 0);
    const at = new Date(now + 42_000).toUTCString();
    const server = await serve((_req, res, n) => (n === 0 ? json(res, 503, {}, { 'retry-after': at }) : json(res, 200, {})));
    const { http, sleeps } = client(server, { now: () => now });
    await http.get('/x');
    expect(sleeps).toEqual([42_000]);
  });

  it('caps Retry-After at maxRetryAfterMs but reports the full wait when it gives up', async () => {
    const server = await serve((_req, res) => json(res, 429, {}, { 'retry-after': '3600' }));
    const { http, sleeps } = client(server, { retry: { maxRetries: 1, maxRetryAfterMs: 60_000 } });
    const err = await failure(http.get('/x'));
    expect(sleeps).toEqual([60_000]);
    expect((err as TransientError).retryAfterMs).toBe(3_600_000);
  });

  it('retries a refused connection and then gives up with a TransientError', async () => {
    const server = await serve((_req, res) => json(res, 200, {}));
    await server.close();
    const { http } = client(server, { retry: { maxRetries: 2 } });
    const err = await failure(http.get('/x'));
    expect(isTransientError(err)).toBe(true);
    expect(err.message).toContain('ECONNREFUSED');
    expect(http.stats.byStatus.network).toBe(3);
  });

  it('retries a connection dropped mid-response', async () => {
    const server = await serve((_req, res, n) => {
      if (n > 0) return json(res, 200, { ok: true });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"rows": [1, 2');
      setTimeout(() => res.destroy(), 20);
    });
    const { http } = client(server);
    const res = await http.get('/x');
    expect(res.data).toEqual({ ok: true });
    expect(server.requests).toHaveLength(2);
  });

  it('retries a 200 whose JSON body is truncated', async () => {
    const server = await serve((_req, res, n) => {
      if (n > 0) return json(res, 200, { rows: [1, 2, 3] });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"rows": [1, 2');
    });
    const { http, logs } = client(server);
    const res = await http.get('/x');
    expect(res.data).toEqual({ rows: [1, 2, 3] });
    expect(server.requests).toHaveLength(2);
    expect(logs.lines.join('')).toContain('not valid JSON');
  });

  it('returns text untouched when asked for text', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/csv' });
      res.end('a,b\n1,2\n');
    });
    const { http } = client(server);
    const res = await http.get<string>('/export.csv', { responseType: 'text' });
    expect(res.data).toBe('a,b\n1,2\n');
  });
});

describe('timeouts and cancellation', () => {
  it('aborts a response that never comes and retries it', async () => {
    const server = await serve((_req, res, n) => {
      if (n > 0) json(res, 200, { ok: true });
      // else: hang, never answer
    });
    const { http } = client(server, { timeoutMs: 150 });
    const started = Date.now();
    const res = await http.get('/slow');
    expect(res.data).toEqual({ ok: true });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(server.requests).toHaveLength(2);
    expect(http.stats.byStatus.timeout).toBe(1);
  });

  it('aborts a body that stalls halfway (the deadline covers the whole exchange)', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"rows": [');
      // then stall; keep trickling so a socket-idle timeout alone would not fire
      const timer = setInterval(() => res.write(' '), 30);
      res.on('close', () => clearInterval(timer));
    });
    const { http } = client(server, { timeoutMs: 200, retry: { maxRetries: 1 } });
    const err = await failure(http.get('/slow'));
    expect(isTransientError(err)).toBe(true);
    expect(err.message).toContain('timed out after 200 ms');
    expect(server.requests).toHaveLength(2);
  });

  it('stops retrying when the signal aborts during backoff', async () => {
    const server = await serve((_req, res) => json(res, 503, {}));
    const controller = new AbortController();
    const sleeps: number[] = [];
    const { http } = client(server, {
      sleep: async (ms) => {
        sleeps.push(ms);
        controller.abort();
      },
    });
    const err = await failure(http.get('/x', { signal: controller.signal }));
    expect(err.name).toBe('AbortError');
    expect(isTransientError(err) || isConfigError(err)).toBe(false);
    expect(server.requests).toHaveLength(1);
    expect(sleeps).toHaveLength(1);
  });

  it('cancels a request in flight, using the real sleep', async () => {
    const server = await serve(() => {
      // hang
    });
    const controller = new AbortController();
    const http = createHttpClient({ baseURL: server.url, logger: captureLogs().logger, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('shutting down')), 50);
    const err = await failure(http.get('/x'));
    expect(err.message).toBe('shutting down');
    expect(server.requests).toHaveLength(1);
    expect(http.stats.byStatus.cancelled).toBe(1);
  });

  it('leaves no listener on a long-lived signal once its requests are done, however many it made', async () => {
    const server = await serve((_req, res) => json(res, 200, {}));
    const sync = new AbortController();
    const warnings: string[] = [];
    const onWarning = (w: Error) => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const http = createHttpClient({ baseURL: server.url, logger: captureLogs().logger, signal: sync.signal });
      const perCall = new AbortController();
      for (let i = 0; i < 15; i++) await http.get('/x', { signal: perCall.signal });
      await Promise.all(Array.from({ length: 15 }, () => http.get('/x')));
      // The client's own link, whatever the number of requests.
      expect(getEventListeners(sync.signal, 'abort')).toHaveLength(1);
      expect(getEventListeners(perCall.signal, 'abort')).toHaveLength(0);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('does not start when the signal is already aborted', async () => {
    const server = await serve((_req, res) => json(res, 200, {}));
    const { http } = client(server);
    const err = await failure(http.get('/x', { signal: AbortSignal.abort() }));
    expect(err.name).toBe('AbortError');
    expect(server.requests).toHaveLength(0);
  });
});

/** Credentials that start 'stale' and become 'fresh' on refresh, counting the refreshes. */
function rotatingToken(refreshDelayMs = 0) {
  const state = { token: 'stale', refreshes: 0 };
  const auth = {
    headers: () => ({ Authorization: `Bearer ${state.token}` }),
    onUnauthorized: async () => {
      state.refreshes++;
      if (refreshDelayMs > 0) await new Promise((r) => setTimeout(r, refreshDelayMs));
      state.token = 'fresh';
    },
  };
  return { state, auth };
}

describe('credentials and configuration errors', () => {
  it('on a 401 refreshes credentials once and retries once', async () => {
    const server = await serve((req, res) =>
      req.headers.authorization === 'Bearer fresh' ? json(res, 200, { ok: true }) : json(res, 401, { error: { message: 'expired' } }),
    );
    const { state, auth } = rotatingToken();
    const { http } = client(server, { auth });
    const res = await http.get('/me');
    expect(res.data).toEqual({ ok: true });
    expect(state.refreshes).toBe(1);
    expect(server.requests.map((r) => r.headers.authorization)).toEqual(['Bearer stale', 'Bearer fresh']);
  });

  it('a second 401 is a ConfigError, with no further requests', async () => {
    const server = await serve((_req, res) => json(res, 401, { error: { message: 'Invalid OAuth access token.' } }));
    let refreshes = 0;
    const { http, sleeps } = client(server, {
      auth: { headers: () => ({ Authorization: 'Bearer nope' }), onUnauthorized: () => void refreshes++ },
    });
    const err = await failure(http.get('/me'));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toBeInstanceOf(HttpConfigError);
    expect((err as HttpConfigError).status).toBe(401);
    expect(err.message).toContain(`credentials were rejected by ${server.host}`);
    expect(err.message).toContain('Invalid OAuth access token.');
    expect(refreshes).toBe(1);
    expect(server.requests).toHaveLength(2);
    expect(sleeps).toEqual([]);
  });

  it('a 401 without a refresh hook fails at once', async () => {
    const server = await serve((_req, res) => json(res, 401, {}));
    const { http } = client(server, { auth: { headers: () => ({ Authorization: 'Bearer x' }) } });
    const err = await failure(http.get('/me'));
    expect(isConfigError(err)).toBe(true);
    expect(server.requests).toHaveLength(1);
  });

  it('a 401 that arrives after another request refreshed the token retries with it, without a second refresh', async () => {
    const server = await serve((req, res) => {
      const ok = req.headers.authorization === 'Bearer fresh';
      // The slow request was sent with the stale token; its 401 comes back long after the refresh.
      setTimeout(() => json(res, ok ? 200 : 401, {}), req.url === '/slow' && !ok ? 300 : 5);
    });
    const { state, auth } = rotatingToken();
    const { http } = client(server, { auth });
    const [slow, fast] = await Promise.all([http.get('/slow'), http.get('/fast')]);
    expect([slow.status, fast.status]).toEqual([200, 200]);
    expect(state.refreshes).toBe(1);
  });

  it('concurrent 401s share one refresh', async () => {
    const server = await serve((req, res) => {
      const ok = req.headers.authorization === 'Bearer fresh';
      setTimeout(() => json(res, ok ? 200 : 401, {}), 20);
    });
    const { state, auth } = rotatingToken(20);
    const { http } = client(server, { auth });
    await Promise.all([http.get('/a'), http.get('/b'), http.get('/c')]);
    expect(state.refreshes).toBe(1);
  });

  it('403 is a ConfigError and never retried', async () => {
    const server = await serve((_req, res) => json(res, 403, { errors: [{ message: 'access forbidden' }] }));
    const { http, sleeps } = client(server);
    const err = await failure(http.get('/3.0/lists'));
    expect(isConfigError(err)).toBe(true);
    expect(err.message).toBe(`credentials were rejected by ${server.host} (HTTP 403: access forbidden); check the connector's credentials`);
    expect(server.requests).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it("400 is a ConfigError with the API's message", async () => {
    const server = await serve((_req, res) =>
      json(res, 400, { error: { message: "(#100) Tried accessing nonexisting field (impresions)", type: 'OAuthException', code: 100 } }),
    );
    const { http } = client(server);
    const err = await failure(http.get('/v19.0/act_1/insights', { query: { fields: 'impresions' } }));
    expect(isConfigError(err)).toBe(true);
    expect((err as HttpConfigError).status).toBe(400);
    expect(err.message).toContain('HTTP 400');
    expect(err.message).toContain('Tried accessing nonexisting field (impresions)');
    expect(server.requests).toHaveLength(1);
  });

  it.each([
    [404, { title: 'Resource Not Found', detail: 'The requested resource could not be found.' }, 'The requested resource could not be found.'],
    [422, { message: 'start_date is invalid' }, 'start_date is invalid'],
  ])('%i is a ConfigError with the API message', async (status, body, message) => {
    const server = await serve((_req, res) => json(res, status, body));
    const { http } = client(server);
    const err = await failure(http.get('/x'));
    expect(isConfigError(err)).toBe(true);
    expect(err.message).toContain(message);
    expect(server.requests).toHaveLength(1);
  });
});

describe('classify hook', () => {
  it('retries a Meta rate limit reported in a 200 body, with the delay the hook gives', async () => {
    const server = await serve((_req, res, n) =>
      n === 0 ? json(res, 200, { error: { message: 'User request limit reached', code: 17 } }) : json(res, 200, { data: [] }),
    );
    const { http, sleeps } = client(server, {
      classify: ({ data }) => {
        const code = (data as { error?: { code?: number } } | undefined)?.error?.code;
        if (code === 17 || code === 4 || code === 80000) return { verdict: 'retry', retryAfterMs: 60_000 };
        return undefined;
      },
    });
    const res = await http.get('/v19.0/act_1/insights');
    expect(res.data).toEqual({ data: [] });
    expect(sleeps).toEqual([60_000]);
  });

  it('can turn a response into a ConfigError with its own message, or accept a 404', async () => {
    const server = await serve((req, res) =>
      req.url === '/missing' ? json(res, 404, {}) : json(res, 200, { error: { details: [{ errorCode: 'CUSTOMER_NOT_ENABLED' }] } }),
    );
    const { http } = client(server, {
      classify: ({ status, data }) => {
        if (status === 404) return 'ok';
        if ((data as { error?: unknown }).error) return { verdict: 'config', message: 'customer 123 is not enabled' };
        return undefined;
      },
    });
    expect((await http.get('/missing')).status).toBe(404);
    const err = await failure(http.get('/search'));
    expect(isConfigError(err)).toBe(true);
    expect(err.message).toContain('customer 123 is not enabled');
  });
});

describe('requests and logs', () => {
  it('sends headers, query, JSON body and one X-Request-Id per call, kept across retries', async () => {
    const server = await serve((_req, res, n) => (n === 0 ? json(res, 500, {}) : json(res, 200, { ok: true })));
    const { http, logs } = client(server, {
      baseURL: `${server.url}/api/`,
      headers: { 'User-Agent': 'kpi-pipeline' },
      name: 'sendgrid',
    });
    const res = await http.post('/v3/stats', { a: 1 }, { query: { start_date: '2025-01-01', aggregated_by: ['day', 'week'] } });
    const [first, second] = server.requests;
    expect(first?.url).toBe('/api/v3/stats?start_date=2025-01-01&aggregated_by=day&aggregated_by=week');
    expect(first?.method).toBe('POST');
    expect(first?.body).toBe('{"a":1}');
    expect(first?.headers['content-type']).toBe('application/json');
    expect(first?.headers['user-agent']).toBe('kpi-pipeline');
    const id = first?.headers['x-request-id'];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(second?.headers['x-request-id']).toBe(id);
    expect(res.requestId).toBe(id);

    const entries = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const debug = entries.filter((e) => e.level === 20);
    const retry = entries.filter((e) => e.msg === 'retrying http request');
    expect(debug).toHaveLength(2);
    expect(retry).toHaveLength(1);
    expect(retry[0]?.level).toBe(40);
    for (const e of [...debug, ...retry]) {
      expect(e).toMatchObject({ requestId: id, method: 'POST', host: server.host, client: 'sendgrid' });
      expect(e.path).toBe('/api/v3/stats?start_date=2025-01-01&aggregated_by=day&aggregated_by=week');
      expect(e.status).toBeDefined();
      expect(e.attempt).toBeDefined();
    }
    expect(debug.map((e) => [e.status, e.attempt])).toEqual([
      [500, 1],
      [200, 2],
    ]);
    expect(typeof debug[0]?.durationMs).toBe('number');
  });
});
