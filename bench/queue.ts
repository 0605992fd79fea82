import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { createPipelineHandlers } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import type { AnyConnector, ConnectorConfig } from '../src/connectors/index.ts';
import { defaultTuning, openQueues, startQueueMode, syncJobId, type PipelineHandlers, type SyncJob } from '../src/jobs/index.ts';
import type { SyncRun } from '../src/warehouse/index.ts';
import { benchPrefix, createBenchDatabase, dropRedisPrefix, nullLogger, redisUrl } from './lib/env.ts';
import { cpuMeter, cpuNote, type CpuUse } from './lib/profile.ts';
import { int, rate, secs, timer, type BenchContext, type BenchResult } from './lib/report.ts';

const WINDOW = { from: '2026-01-01', to: '2026-01-01' };

/** One connector per job, so no two jobs meet at the per-connector gate. */
function connectorsFor(n: number): ConnectorConfig[] {
  const yaml = `
reporting: { currency: EUR }
connectors:
  - name: c0
    type: csv
    path: unused.csv
    date: { column: Day }
    metrics: { clicks: Clicks }
`;
  const template = parseConfig(yaml, 'bench-queue.yaml', { env: {} }).connectors[0]!;
  return Array.from({ length: n }, (_, i) => ({ ...template, name: `c${i}` }));
}

function jobsFor(connectors: ConnectorConfig[]): Array<{ name: string; data: SyncJob; opts: { jobId: string } }> {
  return connectors.map((c) => ({ name: 'sync', data: { connector: c.name, window: WINDOW, trigger: 'manual' }, opts: { jobId: syncJobId(c.name, WINDOW) } }));
}

const fakeRun = { id: 1, status: 'succeeded' } as SyncRun;

/** Handlers that do nothing: what is left is the queue mode's own cost per job. */
const noopHandlers: PipelineHandlers = {
  sync: async () => ({ ok: true, runId: 1, run: fakeRun, touched: null }),
  notConfigured: async () => fakeRun,
  recompute: async () => {},
  evaluate: async () => ({ outboxIds: [] }),
  notify: async () => {},
};

/** A source with nothing in it: the real sync handler still opens, records and closes a run. */
const emptyConnector: AnyConnector = {
  type: 'csv',
  defaultLookbackDays: () => 0,
  streams: () => [],
  open: () => ({
    recordSchema: z.unknown(),
    describe: async () => ({ currency: null, timeZone: 'UTC' }),
    read: async function* () {},
    normalize: () => [],
  }),
};

function countTo(worker: Worker, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    worker.on('completed', () => {
      if (++done === n) resolve();
    });
    worker.on('failed', (job, err) => reject(new Error(`job ${job?.id} failed: ${err.message}`)));
  });
}

async function enqueue(prefix: string, connectors: ConnectorConfig[]): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  const queues = openQueues(redis, prefix, defaultTuning);
  try {
    const jobs = jobsFor(connectors);
    for (let i = 0; i < jobs.length; i += 1000) await queues.sync.addBulk(jobs.slice(i, i + 1000));
  } finally {
    await queues.close();
    redis.disconnect();
  }
}

/** BullMQ's own Worker, same queue, same job options, same concurrency, an empty processor. */
async function bareWorker(prefix: string, connectors: ConnectorConfig[]): Promise<{ ms: number; cpu: CpuUse }> {
  await enqueue(prefix, connectors);
  const t = timer();
  const cpu = cpuMeter();
  const worker = new Worker('sync', async () => ({}), { connection: { url: redisUrl, maxRetriesPerRequest: null }, prefix, concurrency: defaultTuning.syncConcurrency });
  try {
    await countTo(worker, connectors.length);
    return { ms: t(), cpu: cpu() };
  } finally {
    await worker.close();
  }
}

/** The pipeline's queue mode (role worker): gate claim, logging, next-step bookkeeping, around `handlers`. */
async function queueMode(prefix: string, connectors: ConnectorConfig[], handlers: PipelineHandlers): Promise<{ ms: number; cpu: CpuUse }> {
  await enqueue(prefix, connectors);
  const t = timer();
  const cpu = cpuMeter();
  const qm = await startQueueMode({ redisUrl, prefix, connectors, handlers, log: nullLogger(), role: 'worker' });
  try {
    const sync = qm.workers.find((w) => w.name === 'sync')!;
    await countTo(sync, connectors.length);
    return { ms: t(), cpu: cpu() };
  } finally {
    await qm.stop(5_000);
  }
}

/**
 * Queue overhead: 10,000 sync jobs through the pipeline's real workers with handlers that do
 * nothing, against BullMQ's bare Worker on the same Redis with the same concurrency; each
 * measured twice, the better run kept. For scale, the same jobs through the real sync
 * handler with an empty source (each job opens and closes a run in the warehouse).
 */
export async function queueBench(ctx: BenchContext): Promise<BenchResult> {
  const total = timer();
  const n = ctx.quick ? 200 : 10_000;
  const connectors = connectorsFor(n);
  const prefixes: string[] = [];
  const prefix = (what: string) => {
    const p = `${benchPrefix('queue')}-${what}-${prefixes.length}`;
    prefixes.push(p);
    return p;
  };
  const db = await createBenchDatabase('queue');
  const wh = await db.open(10);
  try {
    const bare: Array<{ ms: number; cpu: CpuUse }> = [];
    const real: Array<{ ms: number; cpu: CpuUse }> = [];
    for (let round = 0; round < 2; round++) {
      ctx.progress(`queue: ${int(n)} jobs, bare BullMQ worker (round ${round + 1})`);
      bare.push(await bareWorker(prefix('bare'), connectors));
      ctx.progress(`queue: ${int(n)} jobs, pipeline workers with no-op handlers (round ${round + 1})`);
      real.push(await queueMode(prefix('noop'), connectors, noopHandlers));
    }
    const config = { ...parseConfig('reporting: { currency: EUR }', 'bench-queue.yaml', { env: {} }), connectors };
    const handlers = createPipelineHandlers({ config, db: wh.db, log: nullLogger(), connectors: { csv: emptyConnector } });
    ctx.progress(`queue: ${int(n)} jobs, pipeline workers with the real sync handler and an empty source`);
    const withRuns = await queueMode(prefix('runs'), connectors, handlers);

    const best = (runs: Array<{ ms: number; cpu: CpuUse }>) => runs.reduce((a, b) => (b.ms < a.ms ? b : a));
    const bareBest = best(bare);
    const realBest = best(real);
    const bareMs = bareBest.ms;
    const realMs = realBest.ms;
    return {
      name: 'queue',
      size: `${int(n)} sync jobs, concurrency ${defaultTuning.syncConcurrency}, one connector per job`,
      setupMs: total() - [...bare, ...real, withRuns].reduce((a, b) => a + b.ms, 0),
      totalMs: total(),
      figures: [
        {
          id: 'noop-jobs',
          title: 'No-op sync jobs through the pipeline workers, against a bare BullMQ Worker (same Redis, same concurrency)',
          value: `${rate(n, realMs, 'jobs')} (${secs(realMs)} for ${int(n)})`,
          baseline: `bare BullMQ Worker ${rate(n, bareMs, 'jobs')} (${secs(bareMs)})`,
          // Throughput against throughput: 0.5× means half as many jobs per second.
          ratio: bareMs / realMs,
          notes: [
            `rounds: pipeline ${real.map((r) => secs(r.ms)).join(', ')}; bare ${bare.map((r) => secs(r.ms)).join(', ')}; the ratio is jobs/s against jobs/s`,
            `pipeline ${cpuNote(realMs, realBest.cpu)}`,
            `bare ${cpuNote(bareMs, bareBest.cpu)}`,
            `per job the pipeline worker adds a gate claim and release (two Lua scripts on Redis), a claim-renewal timer, a child logger and a 'job done' log line`,
            `with the real sync handler and an empty source (a run row opened and closed per job): ${rate(n, withRuns.ms, 'jobs')} (${secs(withRuns.ms)})`,
          ],
        },
      ],
    };
  } finally {
    for (const p of prefixes) await dropRedisPrefix(p);
    await wh.close();
    await db.drop();
  }
}
