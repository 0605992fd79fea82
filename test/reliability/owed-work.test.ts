/**
 * KPI work owed to the facts is never lost: a process killed between a sync's commit and its
 * recompute leaves facts whose KPI values were never computed, and the next opportunity (a
 * sync, a start in either mode, a recompute of other days) computes them. And a process that
 * cannot bind its port fails before it takes any work.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPipelineHandlers, metricsEngine, startApp, type MetricsEngine } from '../../src/app.ts';
import { configChecks } from '../../src/config-checks.ts';
import { owedSummary } from '../../src/cli/runs.ts';
import { parseConfig, type Config } from '../../src/config/index.ts';
import { connectorFor, runSync } from '../../src/connectors/index.ts';
import { runDownstream } from '../../src/jobs/in-process.ts';
import { owedRanges, recompute, recomputeOwed } from '../../src/metrics/index.ts';
import type { Database } from '../../src/warehouse/index.ts';
import { useWarehouse, warehouseKinds } from '../helpers/warehouse.ts';
import { capturedLogger, kpiValues, report, waitFor } from './helpers.ts';
import { inUnitTier } from '../helpers/tier.ts';

const clear = async (db: Kysely<Database>) => {
  await sql`truncate metric_facts, checkpoints, sync_runs, quarantine, source_files, kpi_points`.execute(db);
  await sql`delete from kpi_days`.execute(db);
};

describe.each(warehouseKinds)('KPI work owed to the facts, on %s', (kind) => {
  const wh = useWarehouse(kind, clear);
  const { log } = capturedLogger('warn');
  const dir = mkdtempSync(path.join(tmpdir(), 'kpi-owed-'));
  let config: Config;
  let n = 0;
  const write = (rows: string) => writeFileSync(path.join(dir, 'orders.csv'), `Day,Channel,Orders,Revenue\n${rows}`);

  beforeAll(() => {
    config = parseConfig(
      `reporting: { currency: EUR }
redis: { prefix: ${inject('redisPrefix')}-owed-${kind} }
connectors:
  - { name: shop, type: csv, path: orders.csv, currency: EUR, date: { column: Day }, dimensions: { channel: Channel }, metrics: { orders: Orders, revenue: Revenue }, schedule: "0 0 1 1 *" }
`,
      path.join(dir, 'kpi.yaml'),
      { env: {}, checks: configChecks },
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** What a SIGKILL right after the run was marked succeeded leaves: the facts, and no KPI values from them. */
  async function killedAfterCommit(rows: string): Promise<void> {
    write(rows);
    const res = await runSync({ db: wh.db, connector: await connectorFor('csv'), config: config.connectors[0]!, log, configDir: dir });
    expect(res.run.status).toBe('succeeded');
    expect(await owedRanges(wh.db, config)).not.toEqual([]);
  }

  /** The KPI values equal a full recompute's from the facts, and nothing is owed. */
  async function expectCaughtUp(): Promise<void> {
    expect(await owedRanges(wh.db, config)).toEqual([]);
    const now = await kpiValues(wh.db);
    expect(now.length).toBeGreaterThan(0);
    await recompute(wh.db, config);
    expect(now).toEqual(await kpiValues(wh.db));
  }

  it('the next sync, with nothing new to read, still computes them; kpi runs says they are behind until then', async () => {
    await killedAfterCommit('2026-01-01,email,3,30\n2026-01-02,paid,5,50\n2026-01-04,email,1,10\n');
    expect(await owedSummary(wh.db, config)).toBe('KPI values are behind their facts on 3 days (2026-01-01..2026-01-02, 2026-01-04): the next sync or start recomputes them, or run `kpi recompute` now');
    // The next sync finds the file unchanged and writes nothing, as `kpi sync` would run it.
    const handlers = createPipelineHandlers({ config, db: wh.db, log });
    const outcome = await handlers.sync({ connector: 'shop', trigger: 'manual' });
    expect(outcome.run.rows_written).toBe(0);
    expect(outcome.touched).not.toBeNull();
    await runDownstream(handlers, [outcome.touched!]);
    await expectCaughtUp();
    expect(await owedSummary(wh.db, config)).toBeNull();
  });

  it('many syncs finding the same owed days (fxRates changed, 5 connectors ticking) recompute them once, not once per sync', async () => {
    write('2026-01-01,email,3,30\n2026-01-02,paid,5,50\n2026-01-03,email,1,10\n');
    const res = await runSync({ db: wh.db, connector: await connectorFor('csv'), config: config.connectors[0]!, log, configDir: dir });
    expect(res.run.status).toBe('succeeded');
    await recomputeOwed(wh.db, config);
    // A new rate: every day's KPI values are owed to it.
    const rated = { ...config, reporting: { ...config.reporting, fxRates: { USD: 0.9 } } };
    expect(await owedRanges(wh.db, rated)).toEqual([{ from: '2026-01-01', to: '2026-01-03' }]);
    const recomputed: string[] = [];
    const watched: MetricsEngine = {
      ...metricsEngine,
      recompute: async (db, cfg, range) => {
        recomputed.push(`${range.from}..${range.to}`);
        return metricsEngine.recompute(db, cfg, range);
      },
    };
    const { log: chainLog, lines } = capturedLogger('info');
    const handlers = createPipelineHandlers({ config: rated, db: wh.db, log: chainLog, metrics: watched });
    // Each tick's sync reads its unchanged source and starts a chain for what is owed.
    const outcomes = [];
    for (let i = 0; i < 5; i++) outcomes.push(await handlers.sync({ connector: 'shop', trigger: 'schedule' }));
    expect(outcomes.map((o) => [o.run.rows_written, o.touched?.from, o.touched?.to])).toEqual(Array(5).fill([0, '2026-01-01', '2026-01-03']));
    for (const o of outcomes) await runDownstream(handlers, [o.touched!]);
    expect(recomputed).toEqual(['2026-01-01..2026-01-03']);
    expect(lines.filter((l) => l.includes('"msg":"the KPI work this chain was started for is done already; nothing to recompute"')).length).toBe(4);
    expect(await owedRanges(wh.db, rated)).toEqual([]);
    const now = await kpiValues(wh.db);
    await recompute(wh.db, rated);
    expect(await kpiValues(wh.db)).toEqual(now);
    report(`5 syncs that changed nothing, after a change of fxRates made 3 days owed (${kind})`, `${recomputed.length} recompute of the owed days, 4 chains found nothing left to do`);
  });

  it('a recompute of other days takes the owed days along', async () => {
    await killedAfterCommit('2026-01-01,email,3,30\n2026-03-01,paid,5,50\n');
    const results = await recomputeOwed(wh.db, config, { from: '2026-02-10', to: '2026-02-10' });
    expect(results.map((r) => `${r.from}..${r.to}`)).toEqual(['2026-01-01..2026-01-01', '2026-02-10..2026-02-10', '2026-03-01..2026-03-01']);
    await expectCaughtUp();
  });

  it('kpi start in embedded mode computes them at start-up', async () => {
    await killedAfterCommit('2026-01-05,email,2,20\n2026-01-06,paid,7,70\n');
    const app = await startApp({ config: { ...config, redis: { ...config.redis, url: undefined } }, warehouse: wh, env: {}, log, http: false, background: false });
    try {
      expect(app.mode).toBe('embedded');
      await app.embedded!.idle();
      await expectCaughtUp();
    } finally {
      await app.stop(1_000);
    }
  });

  it.skipIf(inUnitTier)('kpi start in queue mode computes them at start-up, through the queues', async () => {
    await killedAfterCommit('2026-01-07,email,4,40\n2026-01-08,paid,1,10\n');
    const prefix = `${inject('redisPrefix')}-owed-${kind}-${++n}`;
    const app = await startApp({ config: { ...config, redis: { ...config.redis, prefix } }, warehouse: wh, env: { REDIS_URL: inject('redisUrl') }, log, http: false, background: false });
    try {
      expect(app.mode).toBe('queue');
      // Done when nothing is owed and the recompute job has finished writing every grain.
      const idle = async () => {
        const counts = await app.queue!.queues.recompute.getJobCounts('active', 'waiting', 'delayed', 'completed');
        return counts.completed! > 0 && counts.active === 0 && counts.waiting === 0 && counts.delayed === 0;
      };
      await waitFor(async () => (await owedRanges(wh.db, config)).length === 0 && (await idle()), { what: 'the owed recompute to run through the queue', timeoutMs: 30_000 });
      await expectCaughtUp();
    } finally {
      await app.stop(1_000);
    }
    report(`facts committed by a sync killed before its recompute (${kind})`, 'computed by the next sync, by a recompute of other days, at embedded and queue start-up; equal to a full recompute each time');
  });
});

describe.skipIf(inUnitTier)('a process that cannot bind its port takes no work', () => {
  const wh = useWarehouse('postgres', clear);
  const { log } = capturedLogger('warn');

  it('queue mode: a second worker on a taken port fails at start with the job still waiting for another worker', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    const prefix = `${inject('redisPrefix')}-port`;
    const config = parseConfig(
      `redis: { prefix: ${prefix} }\nconnectors:\n  - { name: leads, type: csv, path: leads.csv, date: { column: Day }, metrics: { leads: Leads }, schedule: "0 0 1 1 *" }\n`,
      path.join(tmpdir(), 'kpi.yaml'),
      { env: {} },
    );
    const queue = new Queue('sync', { connection: { url: inject('redisUrl') }, prefix });
    try {
      await queue.add('sync', { connector: 'leads', trigger: 'backfill', window: { from: '2026-01-01', to: '2026-01-02' } }, { jobId: 'waiting-backfill' });
      await expect(startApp({ config, warehouse: wh, env: { REDIS_URL: inject('redisUrl') }, log, role: 'worker', http: { port, host: '127.0.0.1' }, background: false })).rejects.toThrow(/EADDRINUSE/);
      expect(await queue.getJobState('waiting-backfill')).toBe('waiting');
      expect(await wh.db.selectFrom('sync_runs').selectAll().execute()).toEqual([]);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      await new Promise((resolve) => taken.close(resolve));
    }
    report('kpi start --role worker on a port another process holds, with a backfill waiting', 'start failed with EADDRINUSE; the job still waiting; no run row');
  });
});
