/**
 * The embedded database never has two writers: real `kpi` processes on one data folder.
 * A second one-off command stops at once naming the holder; while `kpi start` runs, every
 * other command (a backfill, a report) runs through it; a SIGKILLed holder's lock is taken
 * over and the folder opens intact.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest, openWarehouse } from '../../src/warehouse/index.ts';
import { migratedPglite } from '../helpers/warehouse.ts';
import { ROOT, report, waitFor, workDir, type WorkDir } from './helpers.ts';

const KPI = path.join(ROOT, 'bin/kpi.js');

interface Run {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  done: Promise<number | null>;
}

const spawned: ChildProcess[] = [];

/**
 * A container on this machine sharing the folder: its own pid namespace (where kpi is pid 1)
 * and, when given, its own host name. SIGKILL of the returned process kills everything in it.
 */
const CONTAINER = ['unshare', '--map-root-user', '--uts', '--pid', '--fork', '--mount-proc', '--kill-child', 'sh', '-c', 'hostname "$1"; shift; exec "$@"', 'sh'];
const containersWork = spawnSync(CONTAINER[0]!, [...CONTAINER.slice(1), hostname(), 'true']).status === 0;

/** `kpi ARGS` as a user runs it from the project folder: its own process, no database URL. */
function kpi(cwd: string, args: string[], options: { container?: { hostname: string } } = {}): Run {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  const command = options.container ? [...CONTAINER, options.container.hostname, process.execPath, KPI, ...args] : [process.execPath, KPI, ...args];
  const child = spawn(command[0]!, command.slice(1), { cwd, env: { ...env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  spawned.push(child);
  let out = '';
  let err = '';
  // Decoded as a stream: a character split between two chunks stays whole.
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const done = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, done };
}

async function finished(run: Run): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const code = await run.done;
  return { code, stdout: run.out(), stderr: run.err() };
}

/** A JSON API that holds every request until released: a sync that stays open as long as the test wants. */
async function startGatedApi(): Promise<{ url: string; requests: number; hold(): void; release(): void; close(): Promise<void> }> {
  let open = false;
  let requests = 0;
  const waiting: Array<() => void> = [];
  const server = http.createServer((_req, res) => {
    requests++;
    const answer = () => res.end(JSON.stringify({ data: [{ day: '2026-01-02', clicks: 7 }] }));
    if (open) answer();
    else waiting.push(answer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get requests() {
      return requests;
    },
    hold() {
      open = false;
    },
    release() {
      open = true;
      for (const w of waiting.splice(0)) w();
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('one writer on the embedded database, whatever the user starts', () => {
  const wd = workDir('embedded');
  let api: Awaited<ReturnType<typeof startGatedApi>>;
  const dataDir = () => path.join(wd.dir, 'data');
  const prepared = workDir('embedded-prepared');
  /** A project folder of its own, copied from the prepared one. */
  const copies: WorkDir[] = [];
  const projectCopy = (): WorkDir => {
    const copy = workDir('embedded-copy');
    copies.push(copy);
    cpSync(prepared.dir, copy.dir, { recursive: true });
    return copy;
  };

  beforeAll(async () => {
    api = await startGatedApi();
    // Where a user keeps them: config/kpi.yaml (the default), its exports beside it, data/ in the project folder.
    mkdirSync(wd.path('config/exports'), { recursive: true });
    writeFileSync(wd.path('config/exports/leads.csv'), 'Day,Leads\n2026-01-01,3\n2026-01-02,5\n2026-01-03,4\n');
    writeFileSync(
      wd.path('config/kpi.yaml'),
      `reporting: { currency: EUR }
server: { port: 0 }
connectors:
  - { name: leads, type: csv, path: exports/leads.csv, date: { column: Day }, metrics: { leads: Leads }, schedule: "0 0 1 1 *" }
  - name: slow
    type: http_json
    url: ${api.url}/clicks
    recordsPath: data
    startDate: 2026-01-01
    schedule: "0 0 1 1 *"
    fields: { date: day, metrics: { clicks: clicks } }
`,
    );
    // The data folder starts migrated (from the run's template), as after a first command:
    // what these cases try is the lock, not initdb, which would cost the first of them ten seconds.
    const wh = await openWarehouse({ dataDir: dataDir(), loadDataDir: migratedPglite() });
    await wh.close();
    // This project folder as it is now, for cases that want one of their own.
    cpSync(wd.dir, prepared.dir, { recursive: true });
  });

  // A failed case must not leave a holder behind for the next one.
  afterEach(async () => {
    for (const child of spawned.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
      }
    }
    api.release();
  });

  afterAll(async () => {
    await api?.close();
    wd.cleanup();
    prepared.cleanup();
    for (const copy of copies) copy.cleanup();
  });

  it('a second one-off command stops at once and names the holder; the first finishes untouched', async () => {
    const first = kpi(wd.dir, ['sync', 'slow', '--from', '2026-01-01', '--to', '2026-01-03']);
    await waitFor(() => api.requests > 0, { what: 'the first sync to reach its source', timeoutMs: 90_000 });
    const lock = JSON.parse(readFileSync(path.join(dataDir(), 'kpi.lock'), 'utf8')) as { pid: number };
    expect(lock.pid).toBe(first.child.pid);

    for (const args of [['sync', 'leads'], ['report'], ['runs']]) {
      const second = await finished(kpi(wd.dir, args));
      expect(second.code, `kpi ${args.join(' ')}: ${second.stderr}`).toBe(1);
      expect(second.stderr).toContain(`error: the embedded database in ${dataDir()} is in use by process ${first.child.pid} on ${hostname()} (\`${KPI} sync slow --from 2026-01-01 --to 2026-01-03\`, since `);
      expect(second.stderr).toContain('Wait for that command to finish, or stop it; run `kpi start` to have one process serve the database');
    }

    api.release();
    const done = await finished(first);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain('slow: succeeded');
    expect(existsSync(path.join(dataDir(), 'kpi.lock'))).toBe(false);
    const after = await finished(kpi(wd.dir, ['sync', 'leads']));
    expect(after.code, after.stderr).toBe(0);
    report('kpi sync (held open by its source) and then kpi sync / report / runs on the same data folder', 'each second command exit 1 naming pid and command; the first finished; the folder free afterwards');
  }, 180_000);

  it('while kpi start runs, a backfill, runs and a report from other shells run through it; one sync per connector still holds', async () => {
    const start = kpi(wd.dir, ['start']);
    await waitFor(() => start.out().includes('kpi started in embedded mode'), { what: 'kpi start', timeoutMs: 90_000 });
    expect(start.out()).toContain('other kpi commands on this database run through this process');

    const backfill = await finished(kpi(wd.dir, ['sync', 'leads', '--from', '2026-01-01', '--to', '2026-01-03']));
    expect(backfill.code, backfill.stderr).toBe(0);
    expect(backfill.stdout).toMatch(/^leads csv 2026-01-01 \(1\/3 days\)\nleads csv 2026-01-02 \(2\/3 days\)\nleads csv 2026-01-03 \(3\/3 days\)\nleads: succeeded \(run \d+\), 3 rows read, 0 written, 0 deleted, 0 rejected in /);

    const runs = await finished(kpi(wd.dir, ['runs', '--connector', 'leads']));
    expect(runs.code).toBe(0);
    expect(runs.stdout.split('\n').filter((l) => /^│ \d/.test(l)).length).toBeGreaterThanOrEqual(2);

    // kpi status reads the serving process's database: the backfill it just ran is the last run of leads.
    const statusJson = await finished(kpi(wd.dir, ['status', '--json']));
    const status = JSON.parse(statusJson.stdout) as { verdict: string; connectors: Array<{ name: string; lastRun: { status: string; id: number } | null }> };
    expect(statusJson.code).toBe(status.verdict === 'failing' ? 1 : 0);
    expect(status.connectors.map((c) => c.name)).toEqual(['leads', 'slow']);
    expect(status.connectors[0]!.lastRun?.status).toBe('succeeded');
    const statusTable = await finished(kpi(wd.dir, ['status']));
    expect(statusTable.code).toBe(statusJson.code);
    expect(statusTable.stdout.split('\n').filter((l) => /^│ (leads|slow) /.test(l)).length).toBe(2);

    const reportRun = await finished(kpi(wd.dir, ['report', '--json', '--grain', 'day', '--as-of', '2026-01-04']));
    expect(reportRun.code, reportRun.stderr).toBe(0);
    expect(() => JSON.parse(reportRun.stdout)).not.toThrow();

    // Two syncs of one connector from two shells: the claims are the serving process's.
    api.hold();
    const requestsBefore = api.requests;
    const holding = kpi(wd.dir, ['sync', 'slow', '--from', '2026-01-01', '--to', '2026-01-03']);
    await waitFor(() => api.requests > requestsBefore, { what: 'the forwarded sync to reach its source', timeoutMs: 90_000 });
    const twice = await finished(kpi(wd.dir, ['sync', 'slow']));
    expect(twice.code).toBe(1);
    expect(twice.stderr).toBe('slow is being synced by another process; try again when it has finished\n');
    api.release();
    const held = await finished(holding);
    expect(held.code, held.stderr).toBe(0);
    expect(held.stdout).toContain('slow: succeeded');

    // Ctrl-C in the shell that asked: the serving process stops that sync, and keeps serving.
    api.hold();
    const beforeCancel = api.requests;
    const cancelled = kpi(wd.dir, ['sync', 'slow', '--from', '2026-01-01', '--to', '2026-01-03']);
    await waitFor(() => api.requests > beforeCancel, { what: 'the forwarded sync to reach its source', timeoutMs: 90_000 });
    cancelled.child.kill('SIGINT');
    await cancelled.done;
    api.release();
    const afterCancel = await finished(kpi(wd.dir, ['runs', '--connector', 'slow', '--limit', '1']));
    expect(afterCancel.stdout).toMatch(/│ slow\s+│ failed\s+│/);
    expect(afterCancel.stdout).toContain('cancelled by its caller');

    // A second kpi start is refused, not forwarded.
    const again = await finished(kpi(wd.dir, ['start']));
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`is in use by process ${start.child.pid}`);
    expect(again.stderr).toContain('That process runs other kpi commands for you, but not `kpi start` or `kpi demo`: stop it first');

    start.child.kill('SIGTERM');
    expect(await start.done).toBe(0);
    expect(existsSync(path.join(dataDir(), 'kpi.lock'))).toBe(false);
    report('kpi start, then from other processes: a backfill, runs, a report, two syncs of one connector, a second start', 'all ran through kpi start (exit 0), the second sync of the busy connector refused by its claim, the second start refused');
  }, 240_000);

  it('kpi demo --fresh on the folder kpi start holds is refused and removes nothing', async () => {
    const start = kpi(wd.dir, ['start']);
    await waitFor(() => start.out().includes('kpi started in embedded mode'), { what: 'kpi start', timeoutMs: 90_000 });
    const synced = await finished(kpi(wd.dir, ['sync', 'leads', '--from', '2026-01-01', '--to', '2026-01-03']));
    expect(synced.code, synced.stderr).toBe(0);
    // The demo's default folder is ./data, the same as the service's.
    const demo = await finished(kpi(wd.dir, ['demo', '--fresh', '--config', path.join(ROOT, 'config/demo.yaml')]));
    expect(demo.code).toBe(1);
    expect(demo.stderr).toContain(`error: the embedded database in ${dataDir()} is in use by process ${start.child.pid}`);
    expect(demo.stderr).toContain('That process runs other kpi commands for you, but not `kpi start` or `kpi demo`: stop it first, give the demo another folder (`kpi demo --data DIR`)');
    expect(existsSync(path.join(dataDir(), 'pglite', 'PG_VERSION'))).toBe(true);
    start.child.kill('SIGTERM');
    expect(await start.done).toBe(0);
    // After kpi start has stopped, what it wrote is still there.
    const runs = await finished(kpi(wd.dir, ['runs', '--connector', 'leads', '--limit', '1']));
    expect(runs.code, runs.stderr).toBe(0);
    expect(runs.stdout).toMatch(/│ leads\s+│ succeeded\s+│ 2026-01-01\.\.2026-01-03/);
    report('kpi demo --fresh in the project folder while kpi start runs on ./data', 'exit 1 naming kpi start; the database folder untouched and still there after kpi start stopped');
  }, 180_000);

  it.skipIf(!containersWork)('a holder in a container on this machine: never taken for dead while it runs (pid 1 there is not pid 1 here), taken over once killed', async () => {
    const lockFile = path.join(dataDir(), 'kpi.lock');
    // The same host name, as containers given one by their compose file have: the old pid check
    // found our pid 1 alive but started at another time, took the lock over, and two processes wrote.
    api.hold();
    const requests = api.requests;
    const inside = kpi(wd.dir, ['sync', 'slow', '--from', '2026-01-01', '--to', '2026-01-03'], { container: { hostname: hostname() } });
    await waitFor(() => api.requests > requests, { what: 'the sync in the container to reach its source', timeoutMs: 90_000 });
    const beside = await finished(kpi(wd.dir, ['sync', 'leads']));
    expect(beside.code, beside.stderr).toBe(1);
    expect(beside.stderr).toContain(`error: the embedded database in ${dataDir()} is in use by process 1 on ${hostname()} (`);
    api.release();
    const done = await finished(inside);
    expect(done.code, done.stderr).toBe(0);

    // Another host name (a container replaced by a new one) and killed: before, "in use by
    // process 1 on other-box" for ever; now its silent socket shows it is gone.
    for (const args of [['start'], ['sync', 'slow', '--from', '2026-01-01', '--to', '2026-01-03']]) {
      api.hold();
      const before = api.requests;
      const other = kpi(wd.dir, args, { container: { hostname: 'other-box' } });
      if (args[0] === 'start') await waitFor(() => other.out().includes('kpi started in embedded mode'), { what: 'kpi start in the container', timeoutMs: 90_000 });
      else await waitFor(() => api.requests > before, { what: 'the sync in the container to reach its source', timeoutMs: 90_000 });
      const refused = await finished(kpi(wd.dir, ['sync', 'leads', '--from', '2026-01-01', '--to', '2026-01-03']));
      if (args[0] === 'start') {
        // kpi start in the container serves this shell too.
        expect(refused.code, refused.stderr).toBe(0);
        expect(refused.stdout).toContain('leads: succeeded');
      } else {
        expect(refused.code).toBe(1);
        expect(refused.stderr).toContain('is in use by process 1 on other-box (');
      }
      other.child.kill('SIGKILL');
      await other.done;
      expect(existsSync(lockFile)).toBe(true);
      const next = await finished(kpi(wd.dir, ['sync', 'leads']));
      expect(next.code, `after kpi ${args[0]} in a container was killed: ${next.stderr}`).toBe(0);
      expect(existsSync(lockFile)).toBe(false);
      api.release();
    }
    report('kpi sync in a container with our host name, then kpi start and kpi sync in a container named other-box, each SIGKILLed', 'never taken over while running (exit 1 naming pid 1), served through kpi start, taken over once killed (exit 0)');
  }, 240_000);

  it('a lock file that names no live process (empty, garbage, {}, pid 0 or -1) is taken over; so is one whose takeover was cut short just now', async () => {
    const here = hostname();
    const contents = ['', 'garbage', '{}', 'null', '[1]', `{"pid":0,"host":"${here}","command":"kpi sync","startedAt":"2026-01-01T00:00:00Z"}`, `{"pid":-1,"host":"${here}","command":"kpi sync","startedAt":"2026-01-01T00:00:00Z"}`, `{"pid":"12","host":"${here}"}`];
    // Each lock file in a project folder of its own, so the cases run side by side.
    const lockIn = (project: WorkDir) => path.join(project.dir, 'data', 'kpi.lock');

    // A process killed inside a takeover leaves its mutex (a folder) for TAKEOVER_STALE_MS; the
    // next command waits it out instead of giving up while it is still fresh.
    const cutShort = projectCopy();
    writeFileSync(lockIn(cutShort), `{"pid":2147483646,"host":"${here}","command":"kpi sync","startedAt":"2026-01-01T00:00:00Z"}`);
    mkdirSync(`${lockIn(cutShort)}.takeover`);
    const afterCutShort = finished(kpi(cutShort.dir, ['sync', 'leads']));

    // Two at a time beside it (two cores): each a whole kpi process opening the database.
    const queue = [...contents];
    const worker = async () => {
      for (let text = queue.shift(); text !== undefined; text = queue.shift()) {
        const project = projectCopy();
        writeFileSync(lockIn(project), text);
        const next = await finished(kpi(project.dir, ['sync', 'leads']));
        expect(next.code, `lock file ${JSON.stringify(text)}: ${next.stderr}`).toBe(0);
        expect(existsSync(lockIn(project)), `lock file ${JSON.stringify(text)} left behind`).toBe(false);
      }
    };
    await Promise.all([worker(), worker()]);

    const after = await afterCutShort;
    expect(after.code, after.stderr).toBe(0);
    expect(existsSync(`${lockIn(cutShort)}.takeover`)).toBe(false);
    expect(existsSync(lockIn(cutShort))).toBe(false);
    report('lock files: empty, garbage, {}, null, [1], pid 0, pid -1, pid as text; a dead holder with a takeover mutex made just now', 'each taken over, kpi sync exit 0');
    // Nine processes that each open a database: generous, for a loaded host.
  }, 240_000);

  it('a forwarded command with megabytes of output (kpi runs over 8,000 runs) prints all of it', async () => {
    // Written before kpi start opens the folder: 8,000 runs make a table of about 1.5 MB, one write.
    const wh = await openWarehouse({ dataDir: dataDir() });
    try {
      await migrateToLatest(wh.db);
      await sql`delete from sync_runs`.execute(wh.db);
      await sql`
        insert into sync_runs (connector, trigger, status, started_at, finished_at, error)
        select 'leads', 'manual', 'failed', now(), now(), 'a source error that says what happened 🙂 ' || n
        from generate_series(1, 8000) as n
      `.execute(wh.db);
    } finally {
      await wh.close();
    }
    const start = kpi(wd.dir, ['start']);
    await waitFor(() => start.out().includes('kpi started in embedded mode'), { what: 'kpi start', timeoutMs: 90_000 });
    const runs = await finished(kpi(wd.dir, ['runs', '--limit', '8000']));
    expect(runs.stderr).toBe('');
    expect(runs.code).toBe(0);
    expect(runs.stdout.length).toBeGreaterThan(1 << 20);
    const rows = runs.stdout.split('\n').filter((l) => /^│ \d/.test(l));
    expect(rows.length).toBe(8000);
    expect(rows.every((l) => l.includes('a source error that says what happened 🙂'))).toBe(true);
    start.child.kill('SIGTERM');
    expect(await start.done).toBe(0);
    report('kpi runs --limit 8000 through kpi start (a 1.5 MB table in one write)', `exit 0, ${rows.length} rows printed whole`);
  }, 180_000);

  it('a SIGKILLed holder leaves a stale lock: the next command takes it over and the folder opens intact', async () => {
    const start = kpi(wd.dir, ['start']);
    await waitFor(() => start.out().includes('kpi started in embedded mode'), { what: 'kpi start', timeoutMs: 90_000 });
    start.child.kill('SIGKILL');
    await start.done;
    expect(existsSync(path.join(dataDir(), 'kpi.lock'))).toBe(true);

    const next = await finished(kpi(wd.dir, ['sync', 'leads', '--from', '2026-01-01', '--to', '2026-01-03']));
    expect(next.code, next.stderr).toBe(0);

    // The table and its primary-key index agree: what two writers used to break.
    const wh = await openWarehouse({ dataDir: dataDir() });
    try {
      await sql`set enable_indexscan = off`.execute(wh.db);
      await sql`set enable_bitmapscan = off`.execute(wh.db);
      const seq = await sql<{ n: number }>`select count(*)::int as n from metric_facts`.execute(wh.db);
      await sql`set enable_seqscan = off`.execute(wh.db);
      await sql`set enable_indexscan = on`.execute(wh.db);
      const viaIndex = await sql<{ n: number }>`select count(*)::int as n from metric_facts where connector >= ''`.execute(wh.db);
      expect(viaIndex.rows[0]!.n).toBe(seq.rows[0]!.n);
      expect(seq.rows[0]!.n).toBeGreaterThan(0);
      const running = await wh.db.selectFrom('sync_runs').select('id').where('status', '=', 'running').execute();
      expect(running).toEqual([]);
    } finally {
      await wh.close();
    }
    report('SIGKILL of kpi start, then kpi sync on the same folder', 'stale lock taken over, sync exit 0, table and index agree');
  }, 180_000);
});
