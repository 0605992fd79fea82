import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { sql } from 'kysely';
import { createPipelineHandlers, type AlertsEngine, type MetricsEngine } from '../../src/app.ts';
import { parseConfig } from '../../src/config/index.ts';
import { defaultTuning, enqueueBackfill, reconcileSchedulers, startQueueMode, type QueueMode, type QueueTuning } from '../../src/jobs/index.ts';
import type { DateRange } from '../../src/core/dates.ts';
import type { Warehouse } from '../../src/warehouse/index.ts';
import { testWarehouse } from '../helpers/warehouse.ts';
import { ConfigError, TransientError } from '../../src/core/errors.ts';
import { expectedFacts, scriptedConnector, type Script } from './fixtures/scripted.ts';
import { configYaml, defaultStart, factsOf, memoryLog, today, waitFor, type TestConnector } from './helpers.ts';

const tuning: Partial<QueueTuning> = {
  lockDurationMs: 2_000,
  stalledIntervalMs: 1_000,
  gateTtlMs: 4_000,
  attempts: 3,
  backoffMs: 50,
  busyDelayMs: 150,
};

let wh: Warehouse;
let n = 0;
let running: QueueMode[] = [];
const { log, lines } = memoryLog();

beforeAll(async () => {
  wh = await testWarehouse('postgres');
});
afterAll(async () => {
  await wh.close();
});
beforeEach(async () => {
  await sql`truncate metric_facts, checkpoints, sync_runs, quarantine`.execute(wh.db);
});
afterEach(async () => {
  await Promise.all(running.map((q) => q.stop(2_000)));
  running = [];
});

function prefix(): string {
  return `${inject('redisPrefix')}-queue-${++n}`;
}

interface Setup {
  connectors: TestConnector[];
  script?: Script;
  metrics?: MetricsEngine;
  alerts?: AlertsEngine;
  tuning?: Partial<QueueTuning>;
  role?: 'scheduler' | 'worker' | 'all';
}

async function start(setup: Setup, redisPrefix = prefix()): Promise<QueueMode> {
  const config = parseConfig(configYaml({ connectors: setup.connectors }), 'kpi.yaml', { env: {} });
  const handlers = createPipelineHandlers({ config, db: wh.db, log, connectors: { csv: scriptedConnector(setup.script) }, metrics: setup.metrics, alerts: setup.alerts });
  const qm = await startQueueMode({
    redisUrl: inject('redisUrl'),
    prefix: redisPrefix,
    connectors: config.connectors,
    handlers,
    log,
    role: setup.role ?? 'all',
    tuning: { ...tuning, ...setup.tuning },
  });
  running.push(qm);
  return qm;
}

const runsOf = (connector: string) => wh.db.selectFrom('sync_runs').selectAll().where('connector', '=', connector).orderBy('id').execute();

describe('queue mode, in one process', () => {
  it('chains sync → recompute → evaluate → notify, in order, with the range the sync touched', async () => {
    const events: string[] = [];
    const metrics: MetricsEngine = {
      recompute: async (_db, _config, range: DateRange) => void events.push(`recompute ${range.from}..${range.to}`),
      recordGoals: async (_db, _config, asOf: Date) => void events.push(`goals ${asOf instanceof Date}`),
    };
    const alerts: AlertsEngine = {
      evaluateAlerts: async () => (events.push('alerts'), { outboxIds: [11, 12] }),
      deliver: async (_db, _config, ids) => void events.push(`deliver ${ids.join(',')}`),
    };
    const qm = await start({ connectors: [{ name: 'ads' }], metrics, alerts });
    const window = { from: defaultStart(), to: today() };
    const jobId = await enqueueBackfill(qm.queues, 'ads', window);
    expect(jobId).toBe(`sync.ads.${window.from}.${window.to}`);
    // The same window again is the same job.
    expect(await enqueueBackfill(qm.queues, 'ads', window)).toBe(jobId);

    await waitFor(async () => (await qm.queues.notify.getJobCounts('completed')).completed === 1, { what: 'notify to complete' });
    const [run] = await runsOf('ads');
    expect(run).toMatchObject({ status: 'succeeded', job_id: jobId, trigger: 'backfill', touched_from: window.from, touched_to: window.to });
    expect(events).toEqual([`recompute ${window.from}..${window.to}`, 'goals true', 'alerts', 'deliver 11,12']);

    const key = `ads.${window.from}.${window.to}.run${run!.id}`;
    expect((await qm.queues.recompute.getJob(`recompute.${key}`))?.data.range).toEqual(window);
    expect((await qm.queues.evaluate.getJob(`evaluate.${key}`))?.returnvalue).toEqual({ outboxIds: [11, 12] });
    expect((await qm.queues.notify.getJob(`notify.${key}`))?.data.outboxIds).toEqual([11, 12]);
    expect(await factsOf(wh.db)).toEqual(expectedFacts('ads', window));
    // Only the connector's next scheduled tick is left.
    expect(await qm.queues.sync.getJobCounts('waiting', 'active', 'delayed', 'failed')).toEqual({ waiting: 0, active: 0, delayed: 1, failed: 0 });
  });

  it('syncs that change days while a recompute runs queue one recompute behind it, not one each', async () => {
    const recomputed: string[] = [];
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const metrics: MetricsEngine = {
      recompute: async (_db, _config, range: DateRange) => {
        recomputed.push(`${range.from}..${range.to}`);
        if (recomputed.length === 1) await held;
      },
      recordGoals: async () => undefined,
    };
    const names = ['a1', 'a2', 'a3', 'a4', 'a5'];
    const qm = await start({ connectors: names.map((name) => ({ name })), metrics });
    const window = { from: defaultStart(), to: today() };
    for (const name of names) await enqueueBackfill(qm.queues, name, window);
    await waitFor(async () => (await qm.queues.sync.getJobCounts('completed')).completed === names.length, { what: 'the five syncs' });
    // Each sync changed days; the first chain's recompute is held, the others wait as one.
    expect(await qm.queues.recompute.getJobCounts('active', 'waiting', 'delayed')).toEqual({ active: 1, waiting: 0, delayed: 0 });
    expect(recomputed).toHaveLength(1);
    release();
    await waitFor(async () => (await qm.queues.evaluate.getJobCounts('completed')).completed === 2, { what: 'two chains to finish' });
    expect(recomputed).toHaveLength(2);
    expect((await qm.queues.recompute.getJobCounts('completed', 'waiting', 'active')).completed).toBe(2);
  });

  it('a sync that changed nothing starts no chain; without alerts nothing is notified', async () => {
    const qm = await start({ connectors: [{ name: 'ads' }] });
    const window = { from: defaultStart(), to: today() };
    await enqueueBackfill(qm.queues, 'ads', window);
    await waitFor(async () => (await qm.queues.evaluate.getJobCounts('completed')).completed === 1, { what: 'first chain' });
    await enqueueBackfill(qm.queues, 'ads', { from: window.from, to: window.from });
    await waitFor(async () => (await qm.queues.sync.getJobCounts('completed')).completed === 2, { what: 'second sync' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await runsOf('ads')).map((r) => [r.status, r.rows_written, r.touched_from])).toEqual([
      ['succeeded', 8, window.from],
      ['succeeded', 0, null],
    ]);
    expect((await qm.queues.recompute.getJobCounts('completed')).completed).toBe(1);
    expect((await qm.queues.notify.getJobCounts('completed', 'waiting')).completed).toBe(0);
  });

  it('does not retry a ConfigError, and retries a TransientError with backoff until it succeeds', async () => {
    const qm = await start({
      connectors: [{ name: 'broken' }, { name: 'flaky' }],
      script: {
        failOpen: (name, attempt) =>
          name === 'broken' ? new ConfigError('credentials were rejected by the source (401)') : name === 'flaky' && attempt < 3 ? new TransientError('503 from the source') : null,
      },
    });
    const window = { from: defaultStart(), to: today() };
    const broken = await enqueueBackfill(qm.queues, 'broken', window);
    const flaky = await enqueueBackfill(qm.queues, 'flaky', window);

    await waitFor(async () => (await qm.queues.sync.getJob(broken))?.finishedOn && (await qm.queues.sync.getJob(flaky))?.finishedOn, { what: 'both jobs to finish' });
    const b = (await qm.queues.sync.getJob(broken))!;
    expect(await b.getState()).toBe('failed');
    expect(b.attemptsMade).toBe(1);
    expect(b.failedReason).toBe('credentials were rejected by the source (401)');
    expect((await runsOf('broken')).map((r) => [r.status, r.error_kind])).toEqual([['failed', 'config']]);

    const f = (await qm.queues.sync.getJob(flaky))!;
    expect(await f.getState()).toBe('completed');
    expect(f.attemptsMade).toBe(3);
    expect((await runsOf('flaky')).map((r) => [r.status, r.error_kind])).toEqual([
      ['failed', 'transient'],
      ['failed', 'transient'],
      ['succeeded', null],
    ]);
    expect(await factsOf(wh.db, 'flaky')).toEqual(expectedFacts('flaky', window));
  });

  it('runs one sync per connector at a time: a backfill waits, a tick is dropped, a source limit holds across connectors', async () => {
    const active = new Map<string, number>();
    let maxPerConnector = 0;
    let maxPerSource = 0;
    const script: Script = {
      dayDelayMs: 60,
      onRead: (name, phase) => {
        active.set(name, (active.get(name) ?? 0) + (phase === 'start' ? 1 : -1));
        maxPerConnector = Math.max(maxPerConnector, ...active.values());
        maxPerSource = Math.max(maxPerSource, [...active.values()].reduce((a, b) => a + b, 0));
      },
    };
    const qm = await start({ connectors: [{ name: 'one' }, { name: 'two' }], script, tuning: { syncConcurrency: 4, sourceLimits: { csv: 1 } } });
    const start1 = defaultStart();
    const a = await enqueueBackfill(qm.queues, 'one', { from: start1, to: today() });
    const b = await enqueueBackfill(qm.queues, 'one', { from: start1, to: start1 });
    const c = await enqueueBackfill(qm.queues, 'two', { from: start1, to: today() });
    await waitFor(() => active.get('one') === 1, { what: 'first sync to start' });
    await qm.queues.sync.add('sync', { connector: 'one', trigger: 'schedule' }, { jobId: 'tick-while-busy' });

    await waitFor(async () => (await Promise.all([a, b, c].map(async (id) => (await qm.queues.sync.getJob(id))?.finishedOn))).every(Boolean), { what: 'all backfills' });
    await waitFor(async () => (await qm.queues.sync.getJob('tick-while-busy'))?.finishedOn, { what: 'the tick' });
    expect((await qm.queues.sync.getJob('tick-while-busy'))?.returnvalue).toEqual({ skipped: 'busy' });
    for (const id of [a, b, c]) expect(await (await qm.queues.sync.getJob(id))!.getState()).toBe('completed');
    expect(maxPerConnector).toBe(1);
    expect(maxPerSource).toBe(1);
    const runs = await wh.db.selectFrom('sync_runs').select(['job_id', 'status']).orderBy('id').execute();
    expect(runs.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(runs.map((r) => r.job_id).sort()).toEqual([a, b, c].sort());
    expect(lines.some((l) => l.includes('"reason":"connector-busy"') && l.includes('sync postponed'))).toBe(true);
  });

  it('reconciles job schedulers with the config: upsert in place, leave unchanged ones, remove removed and disabled ones', async () => {
    const p = prefix();
    const first = await start({ connectors: [{ name: 'a', schedule: '*/5 * * * *' }, { name: 'b', schedule: '0 * * * *' }, { name: 'c' }], role: 'scheduler' }, p);
    expect(first.schedulers).toEqual({ upserted: ['a', 'b', 'c'], unchanged: [], removed: [] });
    await first.stop();

    const second = await start({ connectors: [{ name: 'a', schedule: '*/5 * * * *' }, { name: 'b', schedule: '30 * * * *' }, { name: 'c', enabled: false }], role: 'scheduler' }, p);
    expect(second.schedulers).toEqual({ upserted: ['b'], unchanged: ['a'], removed: ['c'] });
    const schedulers = await second.queues.sync.getJobSchedulers();
    expect(schedulers.map((s) => [s.key, s.pattern, s.template?.data]).sort()).toEqual([
      ['a', '*/5 * * * *', { connector: 'a', trigger: 'schedule' }],
      ['b', '30 * * * *', { connector: 'b', trigger: 'schedule' }],
    ]);
    // One waiting tick per scheduler, not one per start.
    expect((await second.queues.sync.getJobCounts('delayed')).delayed).toBe(2);

    const config = parseConfig(configYaml({ connectors: [] }), 'kpi.yaml', { env: {} });
    const emptied = await reconcileSchedulers(second.queues.sync, config.connectors, { ...defaultTuning, ...tuning });
    expect(emptied.removed.sort()).toEqual(['a', 'b']);
    expect(await second.queues.sync.getJobSchedulers()).toEqual([]);
  });

  it('on stop, lets a running sync finish within the timeout', async () => {
    const qm = await start({ connectors: [{ name: 'slow' }], script: { dayDelayMs: 150 } });
    const id = await enqueueBackfill(qm.queues, 'slow', { from: defaultStart(), to: today() });
    await waitFor(async () => (await qm.queues.sync.getJob(id))?.processedOn, { what: 'the sync to start' });
    await qm.stop(5_000);
    const [run] = await runsOf('slow');
    expect(run?.status).toBe('succeeded');
  });

  it('on stop, releases a sync that outlasts the timeout back to the queue without spending an attempt', async () => {
    const p = prefix();
    const qm = await start({ connectors: [{ name: 'slow' }], script: { dayDelayMs: 400 } }, p);
    const window = { from: defaultStart(), to: today() };
    const id = await enqueueBackfill(qm.queues, 'slow', window);
    await waitFor(async () => (await runsOf('slow')).length === 1, { what: 'the sync to start' });
    const t0 = Date.now();
    await qm.stop(300);
    expect(Date.now() - t0).toBeLessThan(2_000);
    const [run] = await runsOf('slow');
    expect(run).toMatchObject({ status: 'failed', error_kind: 'transient', error: 'the worker is shutting down; the job goes back to the queue' });

    const next = await start({ connectors: [{ name: 'slow' }], script: { dayDelayMs: 10 } }, p);
    const job = await next.queues.sync.getJob(id);
    expect(job?.attemptsMade).toBe(0);
    await waitFor(async () => (await next.queues.sync.getJob(id))?.finishedOn, { what: 'the released job to be finished by the next worker' });
    expect(await (await next.queues.sync.getJob(id))!.getState()).toBe('completed');
    expect(await factsOf(wh.db)).toEqual(expectedFacts('slow', window));
  });
});
