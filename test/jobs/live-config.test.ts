import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SyncRun } from '../../src/warehouse/index.ts';
import { testPostgres, type TestPostgres } from '../helpers/warehouse.ts';
import { expectedFacts } from './fixtures/scripted.ts';
import { configYaml, defaultStart, factsOf, tempDir, today, waitFor, type TestConnector } from './helpers.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const entry = path.join(root, 'test/jobs/fixtures/replica.ts');

const EVERY_2S = '*/2 * * * * *';
const EVERY_5S = '*/5 * * * * *';

interface Replica {
  role: string;
  child: ChildProcess;
  out: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

interface LogLine {
  pid: number;
  level: number;
  msg: string;
  reason?: string;
  problems?: string[];
  connector?: string;
  runId?: number;
}

/**
 * One scheduler and two workers in queue mode against the real Redis and Postgres, each told
 * of a new configuration file by SIGHUP as an operator would (`kpi start` listens the same
 * way: listenForReloads in src/live-config.ts).
 */
describe('live configuration: three processes in queue mode reload on SIGHUP', () => {
  const tmp = tempDir('kpi-live-config-');
  const prefix = `${inject('redisPrefix')}-live`;
  const logFile = path.join(tmp.dir, 'replicas.log');
  const configFile = path.join(tmp.dir, 'kpi.yaml');
  const window = { from: defaultStart(), to: today() };
  let wh: TestPostgres;
  let syncQueue: Queue;
  const replicas: Replica[] = [];

  const write = (connectors: TestConnector[]) => writeFileSync(configFile, configYaml({ connectors, redisPrefix: prefix }));
  const v1: TestConnector[] = [
    { name: 'alpha', schedule: EVERY_2S },
    { name: 'beta', schedule: EVERY_2S },
    { name: 'gamma', schedule: EVERY_2S },
  ];
  // alpha unchanged, beta removed, gamma on a new schedule, delta added.
  const v2: TestConnector[] = [
    { name: 'alpha', schedule: EVERY_2S },
    { name: 'gamma', schedule: EVERY_5S },
    { name: 'delta', schedule: EVERY_2S },
  ];

  function spawnReplica(role: 'scheduler' | 'worker'): Replica {
    const child = spawn(process.execPath, ['--import', 'tsx', entry, configFile], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: wh.url, REDIS_URL: inject('redisUrl'), ROLE: role, TUNING: JSON.stringify({ backoffMs: 100, busyDelayMs: 200, attempts: 3 }), SHUTDOWN_TIMEOUT_MS: '2000', LOG_FILE: logFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const replica: Replica = { role, child, out: '', exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))) };
    child.stdout!.on('data', (d) => (replica.out += String(d)));
    child.stderr!.on('data', (d) => (replica.out += String(d)));
    return replica;
  }

  const logLines = (): LogLine[] =>
    existsSync(logFile)
      ? readFileSync(logFile, 'utf8')
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as LogLine)
      : [];
  const runs = (connector?: string): Promise<SyncRun[]> => {
    let q = wh.db.selectFrom('sync_runs').selectAll().orderBy('id');
    if (connector) q = q.where('connector', '=', connector);
    return q.execute();
  };
  const schedulers = async () => Object.fromEntries((await syncQueue.getJobSchedulers()).map((s) => [s.key, s.pattern]).sort()) as Record<string, string>;
  const succeededAfter = async (name: string, id: number) => (await runs(name)).filter((r) => r.id > id && r.status === 'succeeded').length;
  /** Each line a process logged for a reload since the first `from` lines of the log. */
  const reloadLines = (pid: number, from: number) => logLines().slice(from).filter((l) => l.pid === pid && /^configuration reload/.test(l.msg));

  beforeAll(async () => {
    wh = await testPostgres();
    syncQueue = new Queue('sync', { connection: { url: inject('redisUrl') }, prefix });
    write(v1);
    replicas.push(spawnReplica('scheduler'), spawnReplica('worker'), spawnReplica('worker'));
    await waitFor(() => replicas.every((r) => r.out.includes('ready')), { timeoutMs: 40_000, what: 'three processes to start' });
  }, 60_000);

  afterAll(async () => {
    for (const r of replicas) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    await syncQueue?.obliterate({ force: true }).catch(() => {});
    await syncQueue?.close();
    await wh?.close();
    if (!process.env.KEEP_TMP) tmp.cleanup(); else console.log(tmp.dir);
  });

  const scheduler = () => replicas[0]!;
  const workers = [() => replicas[1]!, () => replicas[2]!];

  it('adds, reschedules and removes connectors; a worker told of nothing re-reads the file for a connector it does not know', async () => {
    for (const name of ['alpha', 'beta', 'gamma']) await waitFor(async () => (await succeededAfter(name, 0)) >= 2, { timeoutMs: 30_000, what: `two syncs of ${name}` });
    expect(await schedulers()).toEqual({ alpha: EVERY_2S, beta: EVERY_2S, gamma: EVERY_2S });
    // Queued before beta leaves the configuration, due after it has.
    await syncQueue.add('sync', { connector: 'beta', trigger: 'backfill', window }, { jobId: 'leftover-beta', delay: 3_600_000 });

    write(v2);
    const logFrom = logLines().length;
    scheduler().child.kill('SIGHUP');
    await waitFor(async () => JSON.stringify(await schedulers()) === JSON.stringify({ alpha: EVERY_2S, delta: EVERY_2S, gamma: EVERY_5S }), { timeoutMs: 15_000, what: 'the job schedulers to match the new file' });
    // The schedulers change before the reload is logged as done: wait for its line.
    await waitFor(() => reloadLines(scheduler().child.pid!, logFrom).length > 0, { what: 'the scheduler to log its reload' });
    expect(reloadLines(scheduler().child.pid!, logFrom).map((l) => [l.msg, l.reason])).toEqual([['configuration reloaded', 'SIGHUP']]);

    // The workers were not told: the first delta job makes one read the file again, and delta syncs.
    await waitFor(async () => (await succeededAfter('delta', 0)) >= 1, { timeoutMs: 20_000, what: 'delta to sync' });
    expect(await factsOf(wh.db, 'delta')).toEqual(expectedFacts('delta', window));
    const reread = workers.flatMap((w) => reloadLines(w().child.pid!, logFrom)).filter((l) => l.msg === 'configuration reloaded');
    expect(reread.length).toBeGreaterThanOrEqual(1);
    expect(reread.every((l) => l.reason === 'a job names a connector this process does not know')).toBe(true);
    expect((await runs('delta')).filter((r) => r.status !== 'succeeded')).toEqual([]);

    // Now both workers are told; each ends on the new file (one already has it: no change).
    const hupFrom = logLines().length;
    for (const w of workers) w().child.kill('SIGHUP');
    for (const w of workers) await waitFor(() => reloadLines(w().child.pid!, hupFrom).some((l) => l.reason === 'SIGHUP'), { what: `worker ${w().child.pid} to reload` });

    // Every process has the new file: the job queued for beta is run now, and says why it did nothing.
    const mark = Math.max(0, ...(await runs()).map((r) => r.id));
    await (await syncQueue.getJob('leftover-beta'))!.promote();
    const skipped = await waitFor(async () => (await runs('beta')).find((r) => r.job_id === 'leftover-beta'), { what: 'the left-over beta job to be recorded' });
    expect(skipped).toMatchObject({ status: 'skipped', error_kind: 'not-configured', error: 'connector beta is not in the configuration (removed or disabled); the job was not run', rows_read: 0 });
    expect(skipped.finished_at).not.toBeNull();
    expect(logLines().some((l) => l.level === 40 && l.connector === 'beta' && l.runId === skipped.id && l.msg.startsWith('connector beta is not in the configuration'))).toBe(true);
    const job = await waitFor(async () => {
      const j = await syncQueue.getJob('leftover-beta');
      return j?.finishedOn ? j : null;
    });
    expect(job.returnvalue).toEqual({ skipped: 'not-configured', runId: skipped.id });

    // The others carry on; beta never syncs again, and gamma ticks on its new schedule.
    await waitFor(async () => (await succeededAfter('alpha', mark)) >= 3 && (await succeededAfter('gamma', mark)) >= 2 && (await succeededAfter('delta', mark)) >= 2, { timeoutMs: 30_000, what: 'alpha, gamma and delta to keep syncing' });
    expect((await runs('beta')).filter((r) => r.id > mark).map((r) => [r.job_id, r.status])).toEqual([['leftover-beta', 'skipped']]);
    const gammaTicks = (await runs('gamma')).filter((r) => r.id > mark).map((r) => Number(/^repeat:gamma:(\d+)$/.exec(r.job_id ?? '')?.[1]));
    expect(gammaTicks.every((t) => t % 5_000 === 0)).toBe(true);
  }, 120_000);

  it('refuses an invalid file on SIGHUP: the located error is logged, and the previous configuration keeps running', async () => {
    const before = await schedulers();
    expect(before).toEqual({ alpha: EVERY_2S, delta: EVERY_2S, gamma: EVERY_5S });
    // A schedule that is no cron expression, on the third connector.
    writeFileSync(configFile, configYaml({ connectors: [v2[0]!, v2[1]!, { name: 'delta', schedule: 'every two seconds' }], redisPrefix: prefix }));
    const logFrom = logLines().length;
    for (const r of replicas) r.child.kill('SIGHUP');
    for (const r of replicas) {
      const refused = await waitFor(() => reloadLines(r.child.pid!, logFrom).find((l) => l.level === 50), { what: `${r.role} ${r.child.pid} to refuse the file` });
      expect(refused.msg).toBe('configuration reload refused (1 problem in the file); the running configuration stays in force');
      expect(refused.problems).toHaveLength(1);
      expect(refused.problems![0]).toMatch(/kpi\.yaml:\d+:\d+ connectors\[2\]\.schedule: /);
    }
    const mark = Math.max(0, ...(await runs()).map((r) => r.id));
    await waitFor(async () => (await succeededAfter('alpha', mark)) >= 2 && (await succeededAfter('delta', mark)) >= 2, { timeoutMs: 30_000, what: 'the previous configuration to keep syncing' });
    expect(await schedulers()).toEqual(before);
    expect(replicas.every((r) => r.child.exitCode === null && r.child.signalCode === null)).toBe(true);
  }, 60_000);

  it('lost and doubled no tick of the connector that did not change, across both reloads', async () => {
    for (const r of replicas) r.child.kill('SIGTERM');
    for (const r of replicas) expect(await r.exited).toEqual({ code: 0, signal: null });
    const all = await runs();
    expect(all.filter((r) => r.status === 'running')).toEqual([]);
    const alpha = all.filter((r) => r.connector === 'alpha');
    const perJob = new Map<string, number>();
    for (const r of alpha) perJob.set(r.job_id!, (perJob.get(r.job_id!) ?? 0) + 1);
    expect([...perJob.values()].every((n) => n === 1)).toBe(true);
    expect(alpha.every((r) => r.status === 'succeeded')).toBe(true);
    // Every tick between the first and the last synced, or found alpha busy, or was never
    // created because the one before was taken late (BullMQ plans the next tick when a worker
    // takes the current one): as in replicas.test.ts.
    const millis = [...perJob.keys()].map((id) => Number(/^repeat:alpha:(\d+)$/.exec(id)?.[1])).sort((a, b) => a - b);
    const takenAt = new Map(alpha.map((r) => [r.job_id!, new Date(r.started_at).getTime()]));
    let previous = millis[0]!;
    for (let tick = millis[0]!; tick <= millis.at(-1)!; tick += 2_000) {
      if (perJob.has(`repeat:alpha:${tick}`)) {
        previous = tick;
        continue;
      }
      const job = await syncQueue.getJob(`repeat:alpha:${tick}`);
      if (job) {
        expect(job.returnvalue).toEqual({ skipped: 'busy' });
        takenAt.set(job.id!, job.processedOn ?? 0);
        previous = tick;
        continue;
      }
      expect(takenAt.get(`repeat:alpha:${previous}`), `tick ${tick} of alpha: no job, and its predecessor was not late`).toBeGreaterThanOrEqual(tick - 250);
    }
    expect(millis.length).toBeGreaterThanOrEqual(8);
  }, 30_000);
});
