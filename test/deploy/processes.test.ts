/**
 * `kpi start` as processes on one host: ports chosen per process (or none), start-up that
 * waits for Postgres and Redis instead of exiting, a process that stops when whatever started
 * it is killed, and the compiled program (`npm run build`) that the Docker image runs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, readlinkSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { tempProject } from '../helpers/cli.ts';
import { testPostgres, type TestPostgres } from '../helpers/warehouse.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// server.port is one fixed port for every process: each test's processes choose their own.
const config = (port: number | false = 9464) => `
reporting: { currency: EUR }
server:
  port: ${port}
redis:
  prefix: \${var:REDIS_PREFIX}
`;

interface Kpi {
  child: ChildProcess;
  pid: number;
  out(): string;
  err(): string;
  exited: Promise<number | null>;
  alive(): boolean;
}

const started: Kpi[] = [];
const closers: Array<() => Promise<void> | void> = [];

/** Runs `cmd` (node and its arguments) with output kept; stopped after each test if still running. */
function run(args: string[], env: Record<string, string>, cwd = ROOT): Kpi {
  const child = spawn(process.execPath, args, { cwd, env: { PATH: process.env.PATH, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += String(d)));
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const kpi = { child, pid: child.pid!, out: () => stdout, err: () => stderr, exited, alive: () => child.exitCode === null && child.signalCode === null };
  started.push(kpi);
  return kpi;
}

afterEach(async () => {
  for (const k of started.splice(0)) {
    if (k.alive()) k.child.kill('SIGKILL');
    await k.exited;
  }
  for (const close of closers.splice(0)) await close();
});

/** Polls `probe` until it gives a value; on timeout the error says `what` (read then, with the output so far). */
async function waitFor<T>(probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, options: { timeoutMs?: number; what: () => string }): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A TCP proxy listening on `port` (where nothing listened before) to a real server. */
async function proxyAt(port: number, target: { host: string; port: number }): Promise<void> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => (sockets.delete(s), client.destroy(), upstream.destroy()));
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
}

/** The TCP ports `pid` listens on: its socket inodes looked up in the kernel's table of listening sockets. */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
      if (inode) inodes.add(inode);
    } catch {
      // closed while listed
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const row of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = row.trim().split(/\s+/);
      // local address, state (0A: listening), inode
      if (cols[3] === '0A' && inodes.has(cols[9]!)) ports.push(parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  return ports.sort();
}

async function readyz(port: number): Promise<{ status: number; body: { ready: boolean; problems: string[] } } | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    return { status: res.status, body: (await res.json()) as { ready: boolean; problems: string[] } };
  } catch {
    return null;
  }
}

/** Whether `pid` is gone (or a zombie nobody has reaped yet). */
function isGone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
  } catch {
    return true;
  }
}

describe('kpi start processes on one host', () => {
  let wh: TestPostgres;
  const project = tempProject({ 'kpi.yaml': config(), 'no-http.yaml': config(false) });
  const env = () => ({ DATABASE_URL: wh.url, REDIS_URL: inject('redisUrl'), REDIS_PREFIX: `${inject('redisPrefix')}-deploy` });
  const start = (args: string[], extra: Record<string, string> = {}, file = 'kpi.yaml') =>
    run(['bin/kpi.js', 'start', '--config', path.join(project.dir, file), '--shutdown-timeout', '5', ...args], { ...env(), ...extra });
  const startedLine = (k: Kpi, what: string) => waitFor(() => /^kpi started .*$/m.exec(k.out())?.[0], { timeoutMs: 60_000, what: () => `${what} to start (stderr: ${k.err()})` });

  beforeAll(async () => {
    wh = await testPostgres({ migrate: false });
  });
  afterAll(async () => {
    await wh.close();
    project.cleanup();
  });

  it('two processes with different --port and KPI_PORT both serve and are ready; with server.port false (or KPI_PORT=false) a worker listens on nothing', async () => {
    // All five start side by side (each compiles the sources on load, the longest part of a start).
    const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
    const scheduler = start(['--role', 'scheduler', '--port', String(p1)]);
    const worker = start(['--role', 'worker'], { KPI_PORT: String(p2) });
    const quiet = start(['--role', 'worker'], {}, 'no-http.yaml');
    const quietToo = start(['--role', 'worker'], { KPI_PORT: 'false' });
    // --port wins over KPI_PORT, which wins over server.port.
    const both = start(['--role', 'worker', '--port', String(p3)], { KPI_PORT: 'false' });
    expect(await startedLine(scheduler, 'the scheduler')).toBe(`kpi started in queue mode, role scheduler; http on port ${p1} (127.0.0.1)`);
    expect(await startedLine(worker, 'the worker')).toBe(`kpi started in queue mode, role worker; http on port ${p2} (127.0.0.1)`);
    for (const port of [p1, p2]) expect((await readyz(port))?.status).toBe(200);
    expect(listeningPorts(scheduler.pid)).toEqual([p1]);
    expect(listeningPorts(worker.pid)).toEqual([p2]);

    for (const k of [quiet, quietToo]) {
      expect(await startedLine(k, 'a worker without HTTP')).toBe('kpi started in queue mode, role worker; no http (port false)');
      expect(listeningPorts(k.pid)).toEqual([]);
    }
    expect(await startedLine(both, 'a worker with --port and KPI_PORT')).toBe(`kpi started in queue mode, role worker; http on port ${p3} (127.0.0.1)`);

    for (const k of [scheduler, worker, quiet, quietToo, both]) k.child.kill('SIGTERM');
    expect(await Promise.all([scheduler, worker, quiet, quietToo, both].map((k) => k.exited))).toEqual([0, 0, 0, 0, 0]);
  }, 180_000);

  it('a KPI_PORT that is no port is a usage error naming the variable', async () => {
    const k = start([], { KPI_PORT: 'http' });
    expect(await k.exited).toBe(2);
    expect(k.err()).toBe('error: KPI_PORT is "http": expected a port number from 0 to 65535, or false for no HTTP surface\n');
  }, 60_000);

  it('waits for Postgres and then Redis to answer, /readyz saying which it waits for, and becomes ready once both do', async () => {
    const [pgPort, redisPort, httpPort] = [await freePort(), await freePort(), await freePort()];
    const db = new URL(wh.url);
    const realPg = { host: db.hostname, port: Number(db.port || 5432) };
    db.port = String(pgPort);
    db.hostname = '127.0.0.1';
    const realRedis = new URL(inject('redisUrl'));
    const k = start(['--port', String(httpPort)], { DATABASE_URL: db.toString(), REDIS_URL: `redis://127.0.0.1:${redisPort}` });

    const pgService = `Postgres at 127.0.0.1:${pgPort}${db.pathname}`;
    await waitFor(() => k.err().includes(`"waiting for ${pgService} (not reachable yet)`), { timeoutMs: 60_000, what: () => `the wait for Postgres to be logged (stderr: ${k.err()})` });
    expect(await readyz(httpPort)).toEqual({ status: 503, body: expect.objectContaining({ ready: false, problems: [`starting: waiting for ${pgService}`] }) });
    expect(k.alive()).toBe(true);

    await proxyAt(pgPort, realPg);
    const redisService = `Redis at 127.0.0.1:${redisPort}`;
    const waitingForRedis = await waitFor(async () => ((await readyz(httpPort))?.body.problems[0] === `starting: waiting for ${redisService}` ? true : null), {
      timeoutMs: 60_000,
      what: () => `/readyz to say it waits for Redis (stderr: ${k.err()})`,
    });
    expect(waitingForRedis).toBe(true);
    expect(k.err()).toMatch(new RegExp(`"${pgService.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is reachable after waiting \\d+ s"`));

    await proxyAt(redisPort, { host: realRedis.hostname, port: Number(realRedis.port || 6379) });
    expect(await startedLine(k, 'the app')).toBe(`kpi started in queue mode, role all; http on port ${httpPort} (127.0.0.1)`);
    expect(await readyz(httpPort)).toEqual({ status: 200, body: expect.objectContaining({ ready: true, problems: [] }) });
    expect(k.err()).toContain(`"waiting for ${redisService} (not reachable yet)`);
    expect(k.err()).toMatch(new RegExp(`"${redisService.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is reachable after waiting \\d+ s"`));
    // It migrated the database once it could reach it.
    const { rows } = await (await import('kysely')).sql<{ n: number }>`select count(*)::int as n from information_schema.tables where table_schema = ${wh.schema} and table_name = 'sync_runs'`.execute(wh.db);
    expect(rows[0]!.n).toBe(1);

    k.child.kill('SIGTERM');
    expect(await k.exited).toBe(0);
  }, 180_000);

  it('gives up after --startup-timeout with the reason and exit 1, and frees its port', async () => {
    const [pgPort, httpPort] = [await freePort(), await freePort()];
    const k = start(['--startup-timeout', '1', '--port', String(httpPort)], { DATABASE_URL: `postgres://postgres@127.0.0.1:${pgPort}/kpi` });
    expect(await k.exited).toBe(1);
    // No assertion on the 'waiting for' warning here: on a starved machine the first try can
    // end past a 1 s deadline, and then there is rightly no wait to announce (the test above
    // checks the warning).
    expect(k.err()).toMatch(new RegExp(`(^|\\n)error: gave up waiting for Postgres at 127\\.0\\.0\\.1:${pgPort}/kpi: not reachable after \\d+ s, and the next try would come after the start-up timeout \\(kpi start --startup-timeout\\); last error: connect ECONNREFUSED 127\\.0\\.0\\.1:${pgPort}\\n$`));
    expect(await readyz(httpPort)).toBeNull();
  }, 60_000);

  it('stops gracefully when the process that started it is killed (a wrapper such as npx)', async () => {
    // The wrapper starts the app with its own output, as npm does, and does nothing else.
    const wrapper = run(
      [
        '-e',
        `const app = require('node:child_process').spawn(process.execPath, ${JSON.stringify(['bin/kpi.js', 'start', '--config', path.join(project.dir, 'kpi.yaml'), '--port', '0'])}, { stdio: 'inherit' });
         console.log('app pid ' + app.pid);
         setInterval(() => {}, 60000);`,
      ],
      { ...env(), REDIS_URL: '' },
    );
    const appPid = Number(await waitFor(() => /^app pid (\d+)$/m.exec(wrapper.out())?.[1], { what: () => 'the wrapper to start the app' }));
    closers.push(() => void (isGone(appPid) || process.kill(appPid, 'SIGKILL')));
    await startedLine(wrapper, 'the app under the wrapper');
    expect(isGone(appPid)).toBe(false);

    wrapper.child.kill('SIGKILL');
    await waitFor(() => isGone(appPid), { timeoutMs: 30_000, what: () => `the app (pid ${appPid}) to exit after its parent was killed (output: ${wrapper.out()} ${wrapper.err()})` });
    expect(wrapper.out()).toContain(`the process that started kpi (pid ${wrapper.pid}) has exited; stopping (up to 30 s for running jobs)\nstopped\n`);
  }, 90_000);
});

describe('the compiled program (npm run build), as the Docker image lays it out', () => {
  let wh: TestPostgres;
  const image = tempProject({ 'kpi.yaml': config() });

  beforeAll(async () => {
    wh = await testPostgres({ migrate: false });
  });
  afterAll(async () => {
    await wh.close();
    image.cleanup();
  });

  it('builds with npm run build and runs kpi start from dist/ with plain node (which cannot load TypeScript)', async () => {
    // --noCheck: type errors are `tsc --noEmit -p .`'s to find (CI runs it); with isolatedModules
    // and verbatimModuleSyntax the emitted files are the same byte for byte, in a fifth of the CPU.
    const build = spawnSync('npm', ['run', 'build', '--', '--noCheck', '--outDir', path.join(image.dir, 'dist')], { cwd: ROOT, encoding: 'utf8', env: process.env });
    expect(build.status, build.stdout + build.stderr).toBe(0);
    // The image's /app: package.json (type: module), node_modules, dist/.
    copyFileSync(path.join(ROOT, 'package.json'), path.join(image.dir, 'package.json'));
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(image.dir, 'node_modules'));
    expect(readdirSync(path.join(image.dir, 'dist')).filter((f) => f.endsWith('.ts'))).toEqual([]);

    const k = run(['dist/main.js', 'start', '--config', 'kpi.yaml', '--port', '0', '--shutdown-timeout', '5'], { DATABASE_URL: wh.url, REDIS_PREFIX: 'unused' }, image.dir);
    const port = Number(await waitFor(() => /http on port (\d+)/.exec(k.out())?.[1], { timeoutMs: 60_000, what: () => `dist/main.js to start (stderr: ${k.err()})` }));
    expect(k.out()).toBe(`kpi started in embedded mode (no Redis configured); http on port ${port} (127.0.0.1)\n`);
    expect((await readyz(port))?.status).toBe(200);
    k.child.kill('SIGTERM');
    expect(await k.exited).toBe(0);
    expect(k.out()).toMatch(/SIGTERM received; stopping \(up to 5 s for running jobs\)\nstopped\n$/);
  }, 180_000);
});
