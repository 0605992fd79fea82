import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { chainKey, isPass, memoryGate, mergeRanges, redisGate, stepJobId, syncJobId, type GatePass, type SyncGate } from '../../src/jobs/index.ts';

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());
let n = 0;
const prefix = () => `${inject('redisPrefix')}-gate-${++n}`;

async function pass(gate: SyncGate, connector: string, job: string, source = 'csv'): Promise<GatePass> {
  const entry = await gate.enter({ connector, source, job });
  if (!isPass(entry)) throw new Error(`expected a pass, got ${entry}`);
  return entry;
}

describe('job ids', () => {
  it('never contain ":" and are the same for the same input', () => {
    expect(syncJobId('ads:eu', { from: '2026-03-01', to: '2026-03-10' })).toBe('sync.ads_eu.2026-03-01.2026-03-10');
    const key = chainKey('ads', { from: '2026-03-01', to: '2026-03-02' }, 42);
    expect(key).toBe('ads.2026-03-01.2026-03-02.run42');
    expect(stepJobId('evaluate', key)).toBe('evaluate.ads.2026-03-01.2026-03-02.run42');
    expect(stepJobId('recompute', 'repeat:ads:1700000000000')).not.toContain(':');
  });
});

describe('mergeRanges', () => {
  it('merges overlapping and adjacent ranges and keeps gaps', () => {
    expect(
      mergeRanges([{ from: '2026-03-05', to: '2026-03-07' }, null, { from: '2026-03-01', to: '2026-03-04' }, { from: '2026-03-06', to: '2026-03-06' }, { from: '2026-04-01', to: '2026-04-02' }]),
    ).toEqual([
      { from: '2026-03-01', to: '2026-03-07' },
      { from: '2026-04-01', to: '2026-04-02' },
    ]);
    expect(mergeRanges([])).toEqual([]);
  });
});

describe.each([
  ['memory', () => memoryGate({ ads: 2 })],
  ['redis', () => redisGate(redis, { prefix: prefix(), ttlMs: 2_000, sourceLimits: { ads: 2 } })],
] as const)('%s gate', (_kind, make) => {
  it('lets one job per connector in, and a retry of the same job take over', async () => {
    const gate = make();
    const first = await pass(gate, 'google', 'job-1', 'ads');
    expect(await gate.enter({ connector: 'google', source: 'ads', job: 'job-2' })).toBe('connector-busy');
    // The same job handed out again (its worker died) gets in.
    const again = await pass(gate, 'google', 'job-1', 'ads');
    await again.release();
    await first.release();
    const next = await pass(gate, 'google', 'job-2', 'ads');
    await next.release();
  });

  it('caps concurrent syncs of one source type', async () => {
    const gate = make();
    const a = await pass(gate, 'google', 'a', 'ads');
    const b = await pass(gate, 'meta', 'b', 'ads');
    expect(await gate.enter({ connector: 'bing', source: 'ads', job: 'c' })).toBe('source-full');
    const other = await pass(gate, 'ga4', 'd', 'analytics');
    await a.release();
    const c = await pass(gate, 'bing', 'c', 'ads');
    await Promise.all([b.release(), c.release(), other.release()]);
  });
});

describe('redis gate', () => {
  it('expires the claim of a worker that stopped renewing it (SIGKILL), and renews a live one', async () => {
    const p = prefix();
    const gate = redisGate(redis, { prefix: p, ttlMs: 300 });
    const live = await pass(gate, 'google', 'job-1');
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(await gate.enter({ connector: 'google', source: 'csv', job: 'job-2' })).toBe('connector-busy');
    expect(live.signal.aborted).toBe(false);
    await live.release();

    // A claim nobody renews, as a killed worker leaves it.
    await redis.set(`${p}:gate:connector:google`, 'dead-job|x', 'PX', 300);
    expect(await gate.enter({ connector: 'google', source: 'csv', job: 'job-3' })).toBe('connector-busy');
    await new Promise((resolve) => setTimeout(resolve, 400));
    await (await pass(gate, 'google', 'job-3')).release();
  });

  it('tells the old holder when the same job was taken over by another worker', async () => {
    const gate = redisGate(redis, { prefix: prefix(), ttlMs: 300 });
    const old = await pass(gate, 'google', 'job-1');
    const taken = await pass(gate, 'google', 'job-1');
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(old.signal.aborted).toBe(true);
    expect(taken.signal.aborted).toBe(false);
    // Releasing the stale claim must not free the connector under the new holder.
    await old.release();
    expect(await gate.enter({ connector: 'google', source: 'csv', job: 'job-2' })).toBe('connector-busy');
    await taken.release();
  });
});
