import { rmSync } from 'node:fs';
import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { startApp, type App } from '../../src/app.ts';
import { configChecks } from '../../src/config-checks.ts';
import { parseConfig } from '../../src/config/index.ts';
import { addDays, todayIn } from '../../src/core/dates.ts';
import { recompute } from '../../src/metrics/index.ts';
import { migrateToLatest, openWarehouse, type Warehouse } from '../../src/warehouse/index.ts';
import { testDatabaseUrlWithSchema } from '../helpers/warehouse.ts';
import { chaosSource, expectedFacts } from './fixtures/source.ts';
import { capturedLogger, kpiValues, report, scriptedFacts, scriptedYaml, secretScanCase, secretValue, sleep, startRedisServer, waitFor, workDir, type RedisServer } from './helpers.ts';

const DOWN_MS = 12_000;

/**
 * Our own redis-server (the shared one is never touched), configured as docker-compose.yml
 * ships it: append-only file, noeviction. The service runs in this process, in queue mode.
 */
describe('Redis restarted in the middle of a cycle', () => {
  const wd = workDir('redis');
  const { log, lines } = capturedLogger('info');
  const secrets = { dashboard: secretValue('dash') };
  let redis: RedisServer;
  const dbs: Array<{ url: string; drop(): Promise<void> }> = [];
  let app: App | undefined;
  const queues: Queue[] = [];
  const start = addDays(todayIn('UTC'), -29);

  beforeAll(async () => {
    redis = await startRedisServer(wd.dir);
  });
  afterEach(async () => {
    await app?.stop(2_000);
    app = undefined;
    await Promise.all(queues.splice(0).map((q) => q.close()));
  });
  afterAll(async () => {
    await redis?.crash();
    for (const d of dbs) await d.drop();
    wd.cleanup();
  });

  async function scenario(name: string, outage: () => Promise<void>) {
    const db = await testDatabaseUrlWithSchema();
    dbs.push(db);
    const wh: Warehouse = await openWarehouse({ url: db.url, poolSize: 4 });
    try {
      await migrateToLatest(wh.db);
      const connectors = ['r-a', 'r-b', 'r-c', 'r-d'].map((c) => `${name}-${c}`);
      const yaml = scriptedYaml({
        prefix: `kpi-${name}`,
        connectors: connectors.map((c) => ({ name: c, schedule: '*/2 * * * * *', startDate: start, lookbackDays: 5 })),
        extra: 'server: { port: 0, dashboard: { user: ops, password: "${env:R_DASH}" } }',
      });
      const env = { REDIS_URL: redis.url, R_DASH: secrets.dashboard };
      const config = parseConfig(yaml, wd.file(`${name}.yaml`, yaml), { env, checks: configChecks });
      app = await startApp({
        config,
        warehouse: wh,
        env,
        log,
        connectors: { csv: chaosSource({ dayDelayMs: 40 }) },
        tuning: { lockDurationMs: 3_000, stalledIntervalMs: 2_000, gateTtlMs: 9_000, backoffMs: 1_000, busyDelayMs: 500 },
        http: false,
      });
      await waitFor(async () => (await wh.db.selectFrom('sync_runs').select('id').where('status', '=', 'running').execute()).length >= 2, { timeoutMs: 60_000, what: 'two syncs running at once' });
      const running = (await wh.db.selectFrom('sync_runs').select('id').where('status', '=', 'running').execute()).length;
      const logFrom = lines.length;
      await outage();
      const restartedAt = Date.now();

      const failedJobs = new Map<string, string>();
      const collect = () => {
        for (const line of lines.slice(logFrom)) {
          const l = JSON.parse(line) as { msg: string; jobId?: string; queue?: string; err?: string };
          if (l.msg === 'job failed' && l.jobId) failedJobs.set(`${l.queue}|${l.jobId}`, l.err ?? '');
        }
      };
      const byName = Object.fromEntries(['sync', 'recompute', 'evaluate', 'notify'].map((q) => [q, new Queue(q, { connection: { url: redis.url }, prefix: `kpi-${name}` })]));
      queues.push(...Object.values(byName));
      let recoveredAt = 0;
      let recovered = true;
      try {
        await waitFor(
          async () => {
            collect();
            const ok = await wh.db.selectFrom('sync_runs').select('connector').distinct().where('status', '=', 'succeeded').where('trigger', '=', 'schedule').where('started_at', '>', new Date(restartedAt + 1_000)).execute();
            if (ok.length < connectors.length) return false;
            for (const key of failedJobs.keys()) {
              const [queue, id] = key.split('|') as [string, string];
              const job = await byName[queue]!.getJob(id);
              if (job && (await job.getState()) !== 'completed') return false;
            }
            const counts = await Promise.all(['recompute', 'evaluate', 'notify'].map((q) => byName[q]!.getJobCounts('waiting', 'active', 'delayed')));
            return counts.every((c) => (c.waiting ?? 0) + (c.active ?? 0) + (c.delayed ?? 0) === 0);
          },
          // A hang detector, not a speed check: a loaded machine recovers later, not wrongly.
          { timeoutMs: 150_000, what: 'every connector to sync on schedule again and every failed job to complete', everyMs: 250 },
        );
        recoveredAt = Date.now();
      } catch {
        recovered = false;
      }
      await app.stop(5_000);
      app = undefined;
      collect();

      const runs = await wh.db.selectFrom('sync_runs').select(['id', 'connector', 'job_id', 'status', 'started_at']).execute();
      const succeededPerJob = new Map<string, number>();
      for (const r of runs) if (r.status === 'succeeded') succeededPerJob.set(r.job_id!, (succeededPerJob.get(r.job_id!) ?? 0) + 1);
      const afterRestart = new Set(runs.filter((r) => new Date(r.started_at).getTime() > restartedAt + 1_000).map((r) => r.connector));
      const facts = await scriptedFacts(wh.db);
      const expected = connectors.flatMap((c) => expectedFacts(c, { from: start, to: todayIn('UTC') })).sort();
      const pipelineKpis = await kpiValues(wh.db);
      await recompute(wh.db, config);
      const truth = await kpiValues(wh.db);
      const schedulers = await byName.sync!.getJobSchedulersCount();
      const failedForGood = (await Promise.all(Object.values(byName).map((q) => q.getJobCounts('failed')))).reduce((n, c) => n + (c.failed ?? 0), 0);
      // Two runs of one connector at the same time would be two writers on one slice.
      const spans = runs
        .filter((x) => x.status !== 'running')
        .map((x) => ({ c: x.connector, id: x.id, from: new Date(x.started_at).getTime() }))
        .sort((a, b) => a.from - b.from);
      const finished = new Map((await wh.db.selectFrom('sync_runs').select(['id', 'finished_at']).execute()).map((x) => [x.id, x.finished_at ? new Date(x.finished_at).getTime() : Infinity]));
      let overlaps = 0;
      for (const a of spans) for (const b of spans) if (a.c === b.c && a.id < b.id && b.from < finished.get(a.id)!) overlaps++;
      return {
        failedForGood,
        overlaps, running, failedJobs, recovered, recoveryMs: recoveredAt - restartedAt, runs, succeededPerJob, afterRestart, facts, expected, pipelineKpis, truth, schedulers, connectors };
    } finally {
      await wh.close();
    }
  }

  it('restarted (SIGTERM, append-only file kept): in-flight jobs retry and complete; facts and KPIs exact, nothing doubled', async () => {
    const r = await scenario('aof', async () => {
      await redis.stop();
      await sleep(DOWN_MS);
      await redis.start();
    });
    report(
      `stopped our Redis (append-only file, as docker-compose ships it) for ${DOWN_MS / 1000} s while ${r.running} syncs ran, then started it again`,
      `${r.failedJobs.size} jobs failed around the restart and ${[...r.succeededPerJob.values()].filter((n) => n > 1).length} were run again because their lock expired while Redis was away (at-least-once; the second run found the data unchanged); ${r.failedForGood} jobs failed for good; every connector back on schedule ${(r.recoveryMs / 1000).toFixed(1)} s after the restart; ${r.schedulers} job schedulers; ${r.runs.length} runs, ${r.runs.filter((x) => x.status === 'running').length} left running, ${r.overlaps} overlapping syncs of one connector; facts ${r.facts.length}/${r.expected.length} exact, none doubled; KPI values ${r.pipelineKpis.length} = full recompute ${r.truth.length}`,
    );
    expect(r.recovered).toBe(true);
    expect(r.schedulers).toBe(4);
    expect(r.failedForGood).toBe(0);
    expect(r.runs.filter((x) => x.status === 'running')).toEqual([]);
    expect(r.overlaps).toBe(0);
    expect(r.facts).toEqual(r.expected);
    expect(r.pipelineKpis).toEqual(r.truth);
  }, 240_000);

  it('restarted empty (SIGKILL and its data gone, as a Redis without persistence): the schedules come back and every connector syncs again', async () => {
    const r = await scenario('empty', async () => {
      await redis.crash();
      rmSync(wd.path('appendonlydir'), { recursive: true, force: true });
      await sleep(DOWN_MS);
      await redis.start();
    });
    report(
      `killed our Redis while ${r.running} syncs ran, deleted its data and started it empty after ${DOWN_MS / 1000} s`,
      `${r.schedulers} of ${r.connectors.length} job schedulers exist afterwards (put back on reconnection); connectors syncing on schedule after the restart: ${r.afterRestart.size}/${r.connectors.length}; ${r.runs.filter((x) => x.status === 'running').length} runs left running; facts ${r.facts.length}/${r.expected.length} exact; KPI values ${r.pipelineKpis.length} vs full recompute ${r.truth.length}`,
    );
    expect(r.schedulers).toBe(4);
    expect(r.recovered).toBe(true);
    expect(r.runs.filter((x) => x.status === 'running')).toEqual([]);
    expect(r.facts).toEqual(r.expected);
    // Not asserted: KPI values. A recompute job that was waiting in the lost data is gone
    // with it; only a Redis that keeps its data (AOF, as shipped) keeps the chain whole.
  }, 240_000);

  it('leaves no configured secret in the logs, the databases or our Redis', async () => {
    const findings = await secretScanCase('the Redis restart runs', {
      secrets,
      texts: { 'service log': lines.join('') },
      databases: dbs.map((d) => d.url),
      redis: [{ url: redis.url, prefix: 'kpi' }],
    });
    expect(findings).toEqual([]);
  }, 60_000);
});
