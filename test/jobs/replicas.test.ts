import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SyncRun } from '../../src/warehouse/index.ts';
import { testPostgres, type TestPostgres } from '../helpers/warehouse.ts';
import { expectedFacts } from './fixtures/scripted.ts';
import { configYaml, defaultStart, factsOf, tempDir, today, waitFor } from './helpers.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const entry = path.join(root, 'test/jobs/fixtures/replica.ts');

// Short locks so a dead worker's job comes back in about two seconds; the claim outlives
// that, so only the recovered job (not the next tick) can take the connector over.
const tuning = { lockDurationMs: 1_500, stalledIntervalMs: 1_000, gateTtlMs: 6_000, backoffMs: 100, busyDelayMs: 200, attempts: 3 };

interface Replica {
  child: ChildProcess;
  stdout: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

describe('three replicas against one Redis and one Postgres schema', () => {
  const tmp = tempDir('kpi-replicas-');
  let wh: TestPostgres;
  const replicas: Replica[] = [];
  const prefix = `${inject('redisPrefix')}-replicas`;
  let syncQueue: Queue;
  const window = { from: defaultStart(), to: today() };

  function spawnReplica(configFile: string): Replica {
    const child = spawn(process.execPath, ['--import', 'tsx', entry, configFile], {
      cwd: root,
      env: {
        ...process.env,
        DATABASE_URL: wh.url,
        REDIS_URL: inject('redisUrl'),
        CONTROL_DIR: tmp.dir,
        TUNING: JSON.stringify(tuning),
        SHUTDOWN_TIMEOUT_MS: '1000',
        LOG_FILE: path.join(tmp.dir, 'replicas.log'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const replica: Replica = {
      child,
      stdout: '',
      exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
    };
    child.stdout!.on('data', (d) => (replica.stdout += String(d)));
    child.stderr!.on('data', (d) => (replica.stdout += String(d)));
    return replica;
  }

  const alive = () => replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
  const byPid = (pid: number) => replicas.find((r) => r.child.pid === pid)!;
  const runs = (connector?: string): Promise<SyncRun[]> => {
    let q = wh.db.selectFrom('sync_runs').selectAll().orderBy('id');
    if (connector) q = q.where('connector', '=', connector);
    return q.execute();
  };
  const reachedBy = () => {
    const file = path.join(tmp.dir, 'reached-gamma');
    return existsSync(file) ? Number(readFileSync(file, 'utf8')) : null;
  };

  beforeAll(async () => {
    wh = await testPostgres();
    syncQueue = new Queue('sync', { connection: { url: inject('redisUrl') }, prefix });
    const everySecond = '* * * * * *';
    const configFile = tmp.file(
      'kpi.yaml',
      configYaml({
        connectors: [
          { name: 'alpha', schedule: everySecond },
          { name: 'beta', schedule: everySecond },
          // Always reads the whole four days, so a block on the third day is always reached.
          { name: 'gamma', schedule: everySecond, lookbackDays: 10 },
        ],
        redisPrefix: prefix,
      }),
    );
    // gamma's first sync will stop mid-way, two days in, until the test lets it go.
    writeFileSync(path.join(tmp.dir, 'block-gamma'), '');
    for (let i = 0; i < 3; i++) replicas.push(spawnReplica(configFile));
    await waitFor(() => replicas.every((r) => r.stdout.includes('ready')), { timeoutMs: 30_000, what: 'three replicas to start' });
  }, 40_000);

  afterAll(async () => {
    for (const r of alive()) r.child.kill('SIGKILL');
    await syncQueue?.close();
    await wh?.close();
    tmp.cleanup();
  });

  it('runs each (connector, tick) exactly once', async () => {
    const ticks = async (name: string) => new Set((await runs(name)).map((r) => r.job_id)).size;
    await waitFor(async () => (await ticks('alpha')) >= 4 && (await ticks('beta')) >= 4, { timeoutMs: 40_000, what: 'four ticks of each connector' });
    for (const name of ['alpha', 'beta']) {
      const rs = await runs(name);
      const perJob = new Map<string, number>();
      for (const r of rs) perJob.set(r.job_id!, (perJob.get(r.job_id!) ?? 0) + 1);
      expect([...perJob.values()].every((count) => count === 1)).toBe(true);
      // BullMQ names a scheduler's jobs repeat:<scheduler>:<tick>. No tick was lost: each one
      // between the first and the last synced, or was skipped because the previous still ran,
      // or never existed because the previous was taken only once it was due (BullMQ puts the
      // next tick in place when a worker takes the current one; a starved machine does that).
      const millis = [...perJob.keys()].map((id) => Number(/^repeat:[a-z]+:(\d+)$/.exec(id)?.[1])).sort();
      const takenAt = new Map(rs.map((r) => [r.job_id!, new Date(r.started_at).getTime()]));
      let previous = millis[0]!;
      for (let tick = millis[0]!; tick <= millis.at(-1)!; tick += 1_000) {
        if (perJob.has(`repeat:${name}:${tick}`)) {
          previous = tick;
          continue;
        }
        const job = await syncQueue.getJob(`repeat:${name}:${tick}`);
        if (job) {
          expect(job.returnvalue).toEqual({ skipped: 'busy' });
          takenAt.set(job.id!, job.processedOn ?? 0);
          previous = tick;
          continue;
        }
        expect(takenAt.get(`repeat:${name}:${previous}`), `tick ${tick} of ${name}: no job, and its predecessor was not late`).toBeGreaterThanOrEqual(tick - 250);
      }
      expect(rs.filter((r) => r.status === 'succeeded' && r.finished_at).length).toBeGreaterThanOrEqual(rs.length - 1);
    }
  }, 60_000);

  it('recovers the job of a SIGKILLed worker: same facts as an uninterrupted run, no run left running', async () => {
    const pid = await waitFor(reachedBy, { what: 'a replica to block mid-sync' });
    const gammaRuns = await runs('gamma');
    expect(gammaRuns).toHaveLength(1);
    const killed = gammaRuns[0]!;
    expect(killed).toMatchObject({ status: 'running', rows_written: 2 });
    byPid(pid).child.kill('SIGKILL');
    await byPid(pid).exited;
    rmSync(path.join(tmp.dir, 'block-gamma'));

    const sameJob = await waitFor(
      async () => {
        const rs = (await runs('gamma')).filter((r) => r.job_id === killed.job_id);
        return rs.length === 2 && rs[1]!.status === 'succeeded' ? rs : null;
      },
      { timeoutMs: 15_000, what: 'another replica to finish the same job' },
    );
    expect(sameJob.map((r) => r.status)).toEqual(['abandoned', 'succeeded']);
    expect(await factsOf(wh.db, 'gamma')).toEqual(expectedFacts('gamma', window));

    // One gamma sync at a time, throughout: no two runs overlap.
    const spans = (await runs('gamma')).filter((r) => r.finished_at).map((r) => [new Date(r.started_at).getTime(), new Date(r.finished_at!).getTime()] as const);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
  });

  it('on SIGTERM a replica releases its running job within the timeout and exits 0; another finishes it', async () => {
    rmSync(path.join(tmp.dir, 'reached-gamma'), { force: true });
    writeFileSync(path.join(tmp.dir, 'block-gamma'), '');
    const pid = await waitFor(reachedBy, { what: 'a replica to block mid-sync' });
    const held = (await runs('gamma')).find((r) => r.status === 'running')!;
    const stopping = byPid(pid);
    const t0 = Date.now();
    stopping.child.kill('SIGTERM');
    expect(await stopping.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(stopping.stdout).toContain('stopped');

    // The released job blocks again in the last replica; unblocking lets it finish.
    const last = alive();
    expect(last).toHaveLength(1);
    await waitFor(() => reachedBy() === last[0]!.child.pid, { what: 'the last replica to pick the job up' });
    rmSync(path.join(tmp.dir, 'block-gamma'));
    const sameJob = await waitFor(
      async () => {
        const rs = (await runs('gamma')).filter((r) => r.job_id === held.job_id);
        return rs.at(-1)?.status === 'succeeded' ? rs : null;
      },
      { what: 'the released job to finish' },
    );
    expect(sameJob.map((r) => [r.status, r.error_kind])).toEqual([
      ['failed', 'transient'],
      ['succeeded', null],
    ]);
  });

  it('ends with every connector complete and no run left running', async () => {
    for (const r of alive()) r.child.kill('SIGTERM');
    for (const r of replicas) await r.exited;
    const all = await runs();
    expect(all.filter((r) => r.status === 'running')).toEqual([]);
    for (const name of ['alpha', 'beta', 'gamma']) expect(await factsOf(wh.db, name)).toEqual(expectedFacts(name, window));
    // The chain ran across the replicas: KPI values exist for the synced days.
    const kpis = await sql<{ n: number }>`select count(*)::int as n from kpi_values`.execute(wh.db);
    expect(kpis.rows[0]!.n).toBeGreaterThan(0);
    // A job ran again when its worker died (gamma's, and whatever else the killed replica was
    // syncing) or handed it back at shutdown, and then it succeeded. With 1.5 s locks a replica
    // starved of CPU for that long also loses a job it is finishing and another runs it again
    // (BullMQ delivers at least once): a harmless repeat, as the exact facts above show.
    const perJob = new Map<string, string[]>();
    for (const r of all) perJob.set(r.job_id!, [...(perJob.get(r.job_id!) ?? []), r.status]);
    const repeated = [...perJob.values()].filter((statuses) => statuses.length > 1).map((statuses) => statuses.join(' then '));
    for (const statuses of repeated) expect(statuses).toMatch(/^((abandoned|failed|succeeded) then )+succeeded$/);
    expect(repeated.some((s) => s.startsWith('abandoned then'))).toBe(true);
    expect(repeated.some((s) => s.startsWith('failed then'))).toBe(true);
  });
});
