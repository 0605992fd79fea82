import { describe, expect, it } from 'vitest';
import { createHttpClient } from '../../../src/core/http/index.ts';
import { createLogger } from '../../../src/core/log.ts';
import { Writable } from 'node:stream';
import { closedAfterEach } from '../../helpers/async.ts';
import { fakeSleep, json, startServer } from './server.ts';

const quiet = createLogger({ destination: new Writable({ write: (_c, _e, cb) => cb() }) });

const serve = closedAfterEach(startServer);

describe('per-host concurrency', () => {
  it('never has more requests in flight than the limit', async () => {
    const server = await serve((_req, res) => setTimeout(() => json(res, 200, {}), 30));
    const http = createHttpClient({ baseURL: server.url, concurrency: 2, logger: quiet });
    await Promise.all(Array.from({ length: 8 }, (_, i) => http.get(`/r/${i}`)));
    expect(server.requests).toHaveLength(8);
    expect(server.maxInFlight).toBe(2);
  });

  it('frees the slot while backing off, so a retrying request does not block others', async () => {
    const server = await serve((req, res) => json(res, req.url === '/flaky' && server.requests.length === 1 ? 503 : 200, {}));
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const http = createHttpClient({ baseURL: server.url, concurrency: 1, logger: quiet, sleep: () => gate });
    const flaky = http.get('/flaky');
    await new Promise((r) => setTimeout(r, 50));
    await http.get('/other');
    release();
    await flaky;
    expect(server.requests.map((r) => r.url)).toEqual(['/flaky', '/other', '/flaky']);
  });

  it('limits each host separately', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const hold = (_req: unknown, res: Parameters<typeof json>[0]): void => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      setTimeout(() => {
        inFlight--;
        json(res, 200, {});
      }, 100);
    };
    const a = await serve(hold);
    const b = await serve(hold);
    const http = createHttpClient({ concurrency: 1, logger: quiet });
    await Promise.all([http.get(`${a.url}/1`), http.get(`${b.url}/1`), http.get(`${a.url}/2`)]);
    expect(maxInFlight).toBe(2);
    expect(a.maxInFlight).toBe(1);
  });
});

describe('per-host rate limit', () => {
  it('spaces requests evenly (measured through the injected sleep)', async () => {
    const server = await serve((_req, res) => json(res, 200, {}));
    const { sleep, sleeps } = fakeSleep();
    const t = 1_000_000;
    const http = createHttpClient({ baseURL: server.url, rateLimit: { requests: 10, per: 'second' }, sleep, now: () => t, logger: quiet });
    await Promise.all(Array.from({ length: 5 }, () => http.get('/x')));
    expect(sleeps).toEqual([100, 200, 300, 400]);
  });

  it('allows a burst, then refills with time', async () => {
    const server = await serve((_req, res) => json(res, 200, {}));
    const { sleep, sleeps } = fakeSleep();
    let t = 0;
    const http = createHttpClient({
      baseURL: server.url,
      rateLimit: { requests: 60, per: 'minute', burst: 3 },
      sleep,
      now: () => t,
      logger: quiet,
    });
    for (let i = 0; i < 4; i++) await http.get('/x');
    expect(sleeps).toEqual([1_000]);
    t += 3_000;
    for (let i = 0; i < 2; i++) await http.get('/x');
    expect(sleeps).toEqual([1_000]);
  });

  it('holds real requests apart on the server', async () => {
    const arrivals: number[] = [];
    const server = await serve((_req, res) => {
      arrivals.push(performance.now());
      json(res, 200, {});
    });
    const http = createHttpClient({ baseURL: server.url, rateLimit: { requests: 20, per: 'second' }, logger: quiet });
    await Promise.all(Array.from({ length: 5 }, () => http.get('/x')));
    // Sent 50 ms apart: 200 ms from the first to the last. Unlimited, all five arrive within
    // a few ms. The server shares this process, so a pause of its event loop can hand two
    // arrivals over back to back, and the first can be late by the connection's set-up:
    // only the whole span is certain, less one interval.
    expect(arrivals).toHaveLength(5);
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThanOrEqual(150);
  });

  it('gives the token back when cancelled while waiting', async () => {
    const server = await serve((_req, res) => json(res, 200, {}));
    const { sleep, sleeps } = fakeSleep();
    const controller = new AbortController();
    const http = createHttpClient({
      baseURL: server.url,
      rateLimit: { requests: 1, per: 'second' },
      now: () => 0,
      sleep: async (ms) => {
        if (controller.signal.aborted) return sleep(ms);
        controller.abort();
        throw controller.signal.reason;
      },
      logger: quiet,
    });
    await http.get('/first');
    await expect(http.get('/cancelled', { signal: controller.signal })).rejects.toThrow();
    await http.get('/third');
    expect(sleeps).toEqual([1_000]);
    expect(server.requests.map((r) => r.url)).toEqual(['/first', '/third']);
  });
});
