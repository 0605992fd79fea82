import type { Job, Worker } from 'bullmq';
import { Queue } from 'bullmq';
import { sql } from 'kysely';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { createPipelineHandlers, type MetricsEngine } from '../../src/app.ts';
import { parseConfig } from '../../src/config/index.ts';
import { defaultTuning, jobOptions } from '../../src/jobs/queues.ts';
import { reconcileSchedulers, startEmbedded, startQueueMode, type QueueMode } from '../../src/jobs/index.ts';
import { useWarehouse } from '../helpers/warehouse.ts';
import { scriptedConnector } from './fixtures/scripted.ts';
import { configYaml, manualClock, memoryLog } from './helpers.ts';

// A connector at 02:30 in Berlin, through the two days a year its 02:30 is missing or doubled,
// in both runners. The rows in sync_runs are what an operator would look at: one scheduled
// run a day, named (job_id) by the instant it was planned for.

const DAY = 24 * 3_600_000;
const berlin = { name: 'berlin', schedule: '30 2 * * *', timezone: 'Europe/Berlin' };
const noMetrics: MetricsEngine = { recompute: async () => {}, recordGoals: async () => {} };

const wh = useWarehouse('postgres', async (db) => {
  await sql`truncate metric_facts, checkpoints, sync_runs, quarantine`.execute(db);
});
const { log } = memoryLog();

function setup(connectors: Array<{ name: string; schedule: string; timezone: string }>) {
  const config = parseConfig(configYaml({ connectors }), 'kpi.yaml', { env: {} });
  const handlers = createPipelineHandlers({ config, db: wh.db, log, connectors: { csv: scriptedConnector() }, metrics: noMetrics });
  return { config, handlers };
}

const runsOf = (connector: string) =>
  wh.db.selectFrom('sync_runs').select(['job_id', 'trigger', 'status']).where('connector', '=', connector).orderBy('id').execute();

describe('embedded mode across the Berlin clock changes', () => {
  it.each([
    // 28 March as usual (02:30 CET), 29 March at 03:00 CEST (02:30 does not exist), 30 March at 02:30 CEST.
    ['spring forward', '2026-03-27T23:00:00Z', ['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']],
    // 25 October: 02:30 CEST only, not again at 02:30 CET an hour later.
    ['fall back', '2026-10-23T22:00:00Z', ['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']],
  ])('%s: a connector at 02:30 syncs once on each of the three days, at the planned instant', async (_name, startIso, planned) => {
    const { config, handlers } = setup([berlin]);
    const clock = manualClock(startIso);
    // When (on the test's clock) each sync began.
    const startedAt: string[] = [];
    const watched = { ...handlers, sync: (...args: Parameters<typeof handlers.sync>) => (startedAt.push(new Date(clock.now()).toISOString()), handlers.sync(...args)) };
    const embedded = startEmbedded({ connectors: config.connectors, handlers: watched, log, clock });
    try {
      // A minute at a time, each sync finished before the clock moves on.
      for (let elapsed = 0; elapsed < 3 * DAY; elapsed += 60_000) {
        clock.advance(60_000);
        await embedded.idle();
      }
    } finally {
      await embedded.stop(1_000);
    }
    expect(startedAt).toEqual(planned);
    expect(await runsOf('berlin')).toEqual(planned.map((at, i) => ({ job_id: `schedule.berlin.${at}.${i + 1}`, trigger: 'schedule', status: 'succeeded' })));
  });
});

/** Resolves with the job's result once `worker` finishes it; rejects if it fails. */
function finished(worker: Worker, jobId: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const completed = (job: Job, result: unknown) => {
      if (job.id !== jobId) return;
      off();
      resolve(result);
    };
    const failed = (job: Job | undefined, err: Error) => {
      if (job?.id !== jobId) return;
      off();
      reject(err);
    };
    const off = () => {
      worker.off('completed', completed);
      worker.off('failed', failed);
    };
    worker.on('completed', completed);
    worker.on('failed', failed);
  });
}

describe('queue mode across the Berlin clock changes (real Redis and BullMQ, the test owning Date)', () => {
  let n = 0;
  let qm: QueueMode | undefined;
  const prefix = () => `${inject('redisPrefix')}-dst-${++n}`;
  afterEach(async () => {
    await qm?.stop(2_000);
    qm = undefined;
    vi.useRealTimers();
  });

  // BullMQ's scripts take every timestamp from the client's Date.now, so moving Date moves
  // BullMQ's clock: the delayed tick is promoted when Date reaches it, and the worker that
  // takes it plans the next one from then.
  async function startAt(iso: string, connectors: Array<{ name: string; schedule: string; timezone: string }>, redisPrefix = prefix()): Promise<QueueMode> {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.parse(iso));
    const { config, handlers } = setup(connectors);
    qm = await startQueueMode({ redisUrl: inject('redisUrl'), prefix: redisPrefix, connectors: config.connectors, handlers, log, tuning: { lockDurationMs: 5_000, stalledIntervalMs: 5_000 } });
    return qm;
  }

  /** The one tick waiting in the sync queue, and when it is planned for. */
  async function plannedTick(mode: QueueMode, connector: string): Promise<{ job: Job; at: string }> {
    const delayed = await mode.queues.sync.getDelayed();
    expect(delayed.map((j) => j.id)).toHaveLength(1);
    const job = delayed[0]!;
    const millis = Number(job.id!.slice(`repeat:${connector}:`.length));
    expect(job.id).toBe(`repeat:${connector}:${millis}`);
    expect(job.timestamp + job.delay).toBe(millis);
    return { job, at: new Date(millis).toISOString() };
  }

  /** Sets Date to `takenAt` and lets the sync worker take the tick then. */
  async function takeTick(mode: QueueMode, job: Job, takenAt: string): Promise<void> {
    vi.setSystemTime(Date.parse(takenAt));
    const done = finished(mode.workers.find((w) => w.name === 'sync')!, job.id!);
    await mode.queues.sync.promoteJobs();
    await done;
  }

  it.each([
    {
      name: 'spring forward',
      start: '2026-03-27T12:00:00Z',
      pattern: '30 2 * * *',
      ticks: [{ at: '2026-03-28T01:30:00.000Z' }, { at: '2026-03-29T01:00:00.000Z' }, { at: '2026-03-30T00:30:00.000Z' }],
      then: '2026-03-31T00:30:00.000Z',
    },
    {
      name: 'fall back, the 25 October tick taken 40 minutes late, inside the repeated hour',
      start: '2026-10-23T12:00:00Z',
      pattern: '30 2 * * *',
      ticks: [{ at: '2026-10-24T00:30:00.000Z' }, { at: '2026-10-25T00:30:00.000Z', takenAt: '2026-10-25T01:10:00.000Z' }, { at: '2026-10-26T01:30:00.000Z' }],
      then: '2026-10-27T01:30:00.000Z',
    },
    {
      name: 'fall back, hourly: both 02:00s, one real hour apart',
      start: '2026-10-24T23:30:00Z',
      pattern: '0 * * * *',
      ticks: [{ at: '2026-10-25T00:00:00.000Z' }, { at: '2026-10-25T01:00:00.000Z' }, { at: '2026-10-25T02:00:00.000Z' }],
      then: '2026-10-25T03:00:00.000Z',
    },
  ])('$name: one tick per planned instant, each planned by our schedule', async ({ start, pattern, ticks, then }) => {
    const mode = await startAt(start, [{ ...berlin, schedule: pattern }]);
    for (const tick of ticks) {
      const { job, at } = await plannedTick(mode, 'berlin');
      expect(at).toBe(tick.at);
      await takeTick(mode, job, tick.takenAt ?? tick.at);
    }
    expect((await plannedTick(mode, 'berlin')).at).toBe(then);
    expect(await runsOf('berlin')).toEqual(ticks.map((t) => ({ job_id: `repeat:berlin:${Date.parse(t.at)}`, trigger: 'schedule', status: 'succeeded' })));
  });

  it('re-plans a tick BullMQ planned on its own (03:30 for a skipped 02:30), and leaves a right one alone', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.parse('2026-03-28T12:00:00Z'));
    const redisPrefix = prefix();
    // What an earlier version left in Redis: the same scheduler, its tick from cron-parser.
    const plain = new Queue('sync', { connection: { url: inject('redisUrl') }, prefix: redisPrefix });
    try {
      await plain.upsertJobScheduler('berlin', { pattern: berlin.schedule, tz: berlin.timezone }, { name: 'sync', data: { connector: 'berlin', trigger: 'schedule' }, opts: jobOptions(defaultTuning) });
      expect((await plain.getDelayed()).map((j) => j.id)).toEqual([`repeat:berlin:${Date.parse('2026-03-29T01:30:00Z')}`]);
    } finally {
      await plain.close();
    }

    const mode = await startAt('2026-03-28T12:00:00Z', [berlin], redisPrefix);
    expect(mode.schedulers).toEqual({ upserted: ['berlin'], unchanged: [], removed: [] });
    expect((await plannedTick(mode, 'berlin')).at).toBe('2026-03-29T01:00:00.000Z');
    // Config unchanged and the tick right: reconciling again touches nothing.
    const { config } = setup([berlin]);
    expect(await reconcileSchedulers(mode.queues.sync, config.connectors, defaultTuning)).toEqual({ upserted: [], unchanged: ['berlin'], removed: [] });
    expect((await plannedTick(mode, 'berlin')).at).toBe('2026-03-29T01:00:00.000Z');
  });
});
