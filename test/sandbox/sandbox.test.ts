import { describe, expect, it } from 'vitest';
import { createDataset, restate, startSandbox } from '../../src/sandbox/index.ts';
import { callers, FAKE_NAMES } from './helpers.ts';

describe('startSandbox', () => {
  it('starts every fake on 127.0.0.1 and closes them all', async () => {
    const sb = await startSandbox(createDataset({ seed: 9, endDate: '2024-03-31', days: 30 }));
    const urls = Object.values(sb.urls);
    expect(urls).toHaveLength(12);
    expect(new Set(urls).size).toBe(12);
    for (const u of urls) expect(u).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const c = callers(sb);
    for (const name of FAKE_NAMES) expect((await c[name].call()).status).toBe(200);
    await sb.close();
    await expect(fetch(`${sb.urls.shop}/orders.json`)).rejects.toThrow();
  });

  it('serves the same answers for the same seed', async () => {
    const bodies = async (): Promise<string[]> => {
      const sb = await startSandbox(createDataset({ seed: 'same', endDate: '2024-03-31', days: 30 }));
      try {
        const c = callers(sb);
        const out: string[] = [];
        for (const name of FAKE_NAMES) {
          const text = await (await c[name].call()).text();
          // Request ids and links carry per-run values; the data must not.
          out.push(text.replace(/"requestId":"[^"]+"/g, '').replace(/http:\/\/127\.0\.0\.1:\d+/g, ''));
        }
        return out;
      } finally {
        await sb.close();
      }
    };
    expect(await bodies()).toEqual(await bodies());
  });

  it('serves a restated day from the next request on', async () => {
    const ds = createDataset({ seed: 9, endDate: '2024-03-31', days: 30 });
    const sb = await startSandbox(ds);
    try {
      const report = async (): Promise<number> => {
        const res = await fetch(`${sb.urls.ga4}/v1beta/properties/123456789:runReport`, {
          method: 'POST',
          headers: { authorization: `Bearer ${sb.credentials.google.staticAccessToken}` },
          body: JSON.stringify({ dateRanges: [{ startDate: '2024-03-28', endDate: '2024-03-28' }], metrics: [{ name: 'sessions' }] }),
        });
        const body = (await res.json()) as { rows: Array<{ metricValues: Array<{ value: string }> }> };
        return Number(body.rows[0]?.metricValues[0]?.value);
      };
      const before = await report();
      restate(ds, { source: 'ga4', date: '2024-03-28', factor: 1.2 });
      const after = await report();
      expect(after).toBeGreaterThan(before * 1.15);
      expect(after).toBe(ds.ga4.day('2024-03-28').reduce((s, r) => s + r.sessions, 0));
    } finally {
      await sb.close();
    }
  });
});
