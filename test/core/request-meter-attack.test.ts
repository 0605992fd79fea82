import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpClient } from '../../src/core/http/client.ts';
import { BrokenStream, jsonArrayElements } from '../../src/core/http/json-array.ts';
import { meterRequests, newTally, recordQuota, recordRateLimitHeaders } from '../../src/core/request-meter.ts';

async function* chunksOf(text: string, size: number): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text, 'utf8');
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}
async function all(text: string, size: number): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const e of jsonArrayElements(chunksOf(text, size), { maxElementBytes: 1 << 20, what: 'POST h/p', tooLarge: () => 'too large' })) out.push(e);
  return out;
}

describe('json-array attacks', () => {
  it('strings with brackets and escaped quotes split anywhere', async () => {
    const arr = [{ s: '\\"]}[{\\\\"', t: '\\', u: '"' }, { v: ['"]', '\\\\]'] }];
    const text = JSON.stringify(arr);
    for (let size = 1; size <= text.length; size++) expect(await all(text, size)).toEqual(arr);
  });
  it('top-level non-array, empty, truncated', async () => {
    await expect(all('{"a":1}', 3)).rejects.toBeInstanceOf(BrokenStream);
    await expect(all('', 3)).rejects.toBeInstanceOf(BrokenStream);
    await expect(all('[', 1)).rejects.toBeInstanceOf(BrokenStream);
    await expect(all('[{"a":"]', 1)).rejects.toBeInstanceOf(BrokenStream);
    await expect(all('[{"a":1},', 1)).rejects.toBeInstanceOf(BrokenStream);
    expect(await all(' [ ] ', 1)).toEqual([]);
    await expect(all('[1]', 1)).rejects.toBeInstanceOf(BrokenStream);
    await expect(all('[] x', 1)).rejects.toBeInstanceOf(BrokenStream);
  });
  it('an answer with misplaced or missing commas is not JSON: broken, not read as if whole', async () => {
    for (const text of ['[{"a":1}{"b":2}]', '[,{"a":1}]', '[{"a":1},,{"b":2}]', '[{"a":1},]', '[,]']) {
      await expect(all(text, 1), text).rejects.toBeInstanceOf(BrokenStream);
    }
    expect(await all('[ {"a":1} ,\n{"b":2} ]', 1)).toEqual([{ a: 1 }, { b: 2 }]);
  });
});

describe('rate-limit headers', () => {
  const cases: Array<[Record<string, string>, number | undefined]> = [
    [{ 'x-ratelimit-limit': '100', 'x-ratelimit-remaining': '-5' }, 100],
    [{ 'x-ratelimit-limit': '100', 'x-ratelimit-remaining': '500' }, 0],
    [{ 'x-ratelimit-limit': '1e400', 'x-ratelimit-remaining': '1' }, undefined],
    [{ 'x-ratelimit-limit': 'NaN', 'x-ratelimit-remaining': '1' }, undefined],
    [{ 'x-ratelimit-limit': '100', 'x-ratelimit-remaining': '' }, undefined],
    [{ 'x-ratelimit-limit': '100' }, undefined],
    [{ 'x-ratelimit-limit': '100, 100', 'x-ratelimit-remaining': '5, 5' }, undefined],
  ];
  for (const [h, want] of cases) {
    it(`headers ${JSON.stringify(h)}`, async () => {
      const t = newTally();
      await meterRequests(t, async () => recordRateLimitHeaders(h));
      expect(t.quota.rate_limit_pct).toBe(want);
    });
  }
  it('odd quota amounts', async () => {
    const t = newTally();
    await meterRequests(t, async () => { recordQuota('ga4_tokens', NaN); recordQuota('ga4_tokens', -1); recordQuota('ga4_tokens', Infinity); recordQuota('ga4_tokens', 1e308); recordQuota('ga4_tokens', 1e308); recordQuota('ga4_tokens', '5' as unknown as number); });
    expect(t.quota).toEqual({ ga4_tokens: 1e308 });
  });
});

describe('two metered works at once through one client', () => {
  let server: Server;
  let base = '';
  let hits = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      hits++;
      if (req.url?.startsWith('/flaky') && hits % 2 === 1) { res.writeHead(503, { 'retry-after': '0' }); res.end('{}'); return; }
      res.writeHead(200, { 'content-type': 'application/json', 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': req.url?.startsWith('/a') ? '9' : '1' });
      res.end('{"ok":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('counts each work its own requests and retries', async () => {
    const http = createHttpClient({ sleep: async () => {}, retry: { maxAttempts: 3 } as never });
    const a = newTally();
    const b = newTally();
    await Promise.all([
      meterRequests(a, async () => { for (let i = 0; i < 5; i++) await http.request({ method: 'GET', url: `${base}/a${i}` }); }),
      meterRequests(b, async () => { await Promise.all([0, 1, 2].map((i) => http.request({ method: 'GET', url: `${base}/b${i}` }))); }),
    ]);
    expect(a.requests).toBe(5);
    expect(b.requests).toBe(3);
    expect(a.quota).toEqual({ rate_limit_pct: 10 });
    expect(b.quota).toEqual({ rate_limit_pct: 90 });
    const c = newTally();
    hits = 0;
    await meterRequests(c, () => http.request({ method: 'GET', url: `${base}/flaky` }));
    expect(c.requests).toBe(2);
  });
});
