import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { sql } from 'kysely';
import { Redis } from 'ioredis';
import { main } from '../../src/cli.ts';
import { redisGate } from '../../src/jobs/index.ts';
import { runCli, tempProject } from '../helpers/cli.ts';
import { connects, outsideAddress } from '../helpers/net.ts';
import { testPostgres, type TestPostgres } from '../helpers/warehouse.ts';
import { waitFor } from './helpers.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Real CSV connectors: one with data, one whose file is missing (enabled in with-broken.yaml). */
const config = (brokenEnabled: boolean) => `
reporting:
  currency: EUR
connectors:
  - name: leads
    type: csv
    path: exports/leads.csv
    account: crm
    date: { column: Day }
    metrics: { leads: Leads }
  - name: broken
    type: csv
    path: missing/leads.csv
    date: { column: Day }
    metrics: { leads: Leads }
    enabled: ${brokenEnabled}
server:
  port: 0
redis:
  prefix: \${env:REDIS_PREFIX}
`;

describe('CLI: run, sync, runs, start', () => {
  let wh: TestPostgres;
  const project = tempProject({ 'kpi.yaml': config(false), 'with-broken.yaml': config(true) });
  const { dir } = project;
  const env = () => ({ DATABASE_URL: wh.url, REDIS_PREFIX: `${inject('redisPrefix')}-cli` });
  const kpi = (args: string[], broken = false) => runCli([...args, '--config', broken ? 'with-broken.yaml' : 'kpi.yaml'], { cwd: dir, env: env() });

  beforeAll(async () => {
    wh = await testPostgres({ migrate: false });
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(path.join(dir, 'exports'));
    writeFileSync(path.join(dir, 'exports/leads.csv'), 'Day,Leads\n2026-01-01,3\n2026-01-02,5\n2026-01-03,4\n');
  });
  afterAll(async () => {
    await wh.close();
    project.cleanup();
  });
  beforeEach(async () => {
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from information_schema.tables where table_schema = ${wh.schema} and table_name = 'sync_runs'`.execute(wh.db);
    if (rows[0]!.n > 0) await sql`truncate metric_facts, checkpoints, sync_runs, quarantine, source_files`.execute(wh.db);
  });

  it('kpi runs says so when there are no runs yet', async () => {
    const res = await kpi(['runs']);
    expect(res).toMatchObject({ code: 0, stdout: 'no sync runs yet\n' });
  });

  it('kpi run needs --once', async () => {
    const res = await kpi(['run']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('pass --once');
  });

  it('kpi run --once syncs every enabled connector, prints a summary table and exits 0', async () => {
    const res = await kpi(['run', '--once']);
    expect(res.code).toBe(0);
    const lines = res.stdout.split('\n');
    expect(lines[1]).toMatch(/│ connector\s+│ status\s+│ read\s+│ written\s+│ rejected\s+│ duration\s+│ error\s+│/);
    expect(res.stdout).toMatch(/│ leads\s+│ succeeded\s+│ 3\s+│ 3\s+│ 0\s+│ [\d.]+ m?s\s+│\s+│/);
    expect(res.stdout).not.toContain('broken');
    expect(res.stdout).toContain('recomputed 2026-01-01..2026-01-03; goals evaluated; 0 notifications');
    expect(res.stdout).toContain('1 of 1 connectors synced');
  });

  it('kpi run --once exits 1 when a sync fails, with the error in the table', async () => {
    const res = await kpi(['run', '--once'], true);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/│ broken\s+│ failed\s+│ 0\s+│ 0\s+│ 0\s+│ .+│ connector "broken": file missing\/leads\.csv .*│/);
    expect(res.stdout).toContain('1 of 2 connectors synced, 1 failed');
  });

  it('kpi sync rejects an unknown connector, naming the configured ones, with exit 2', async () => {
    const res = await kpi(['sync', 'nope']);
    expect(res).toMatchObject({ code: 2, stdout: '' });
    expect(res.stderr).toBe('unknown connector "nope"; configured: leads, broken\n');
  });

  it('kpi sync checks its window arguments', async () => {
    expect((await kpi(['sync', 'leads', '--to', '2026-01-03'])).stderr).toBe('--to needs --from\n');
    expect((await kpi(['sync', 'leads', '--from', '2026-01-05', '--to', '2026-01-03'])).code).toBe(2);
    const bad = await kpi(['sync', 'leads', '--from', '2026-13-01']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('expected a date as YYYY-MM-DD');
  });

  it('kpi sync backfills a window with one plain line per day when not on a terminal', async () => {
    const res = await kpi(['sync', 'leads', '--from', '2026-01-01', '--to', '2026-01-03']);
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n');
    expect(lines.slice(0, 3)).toEqual(['leads crm 2026-01-01 (1/3 days)', 'leads crm 2026-01-02 (2/3 days)', 'leads crm 2026-01-03 (3/3 days)']);
    expect(lines[3]).toMatch(/^leads: succeeded \(run \d+\), 3 rows read, 3 written, 0 deleted, 0 rejected in \d+ ms$/);
    expect(lines[4]).toBe('recomputed 2026-01-01..2026-01-03; goals evaluated; 0 notifications');
    const run = await wh.db.selectFrom('sync_runs').selectAll().executeTakeFirstOrThrow();
    expect(run).toMatchObject({ trigger: 'backfill', window_from: '2026-01-01', window_to: '2026-01-03', status: 'succeeded' });
  });

  it('kpi sync draws a progress bar on a terminal', async () => {
    let stdout = '';
    const code = await main(['sync', 'leads', '--from', '2026-01-01', '--to', '2026-01-02', '--config', 'kpi.yaml'], {
      stdout: { write: (s: string) => ((stdout += s), true), isTTY: true },
      stderr: { write: () => true },
      env: env(),
      cwd: dir,
    });
    expect(code).toBe(0);
    expect(stdout).toContain('\rleads crm [###############...............] 1/2 days, 2026-01-01');
    expect(stdout).toContain('\rleads crm [##############################] 2/2 days, 2026-01-02');
    expect(stdout).toMatch(/\nleads: succeeded/);
  });

  it('kpi sync exits 1 when the sync fails', async () => {
    const res = await kpi(['sync', 'broken']);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/^broken: failed \(run \d+\), 0 rows read, 0 written, 0 deleted, 0 rejected in .+\n {2}error: connector "broken": file missing\/leads\.csv/);
  });

  it('kpi runs lists recent runs, newest first, filtered and limited', async () => {
    await kpi(['run', '--once'], true);
    await kpi(['sync', 'leads', '--from', '2026-01-02', '--to', '2026-01-03']);
    const all = await kpi(['runs']);
    expect(all.code).toBe(0);
    const rows = all.stdout.split('\n').filter((l) => /^│ \d/.test(l));
    expect(rows).toHaveLength(3);
    expect(all.stdout.split('\n')[1]).toMatch(/│ id\s+│ connector\s+│ status\s+│ window\s+│ read\s+│ written\s+│ deleted\s+│ rejected\s+│ requests\s+│ quota\s+│ duration\s+│ error\s+│/);
    // The CSV source reads its whole file; the day outside the window is quarantined.
    expect(rows[0]).toMatch(/│ leads\s+│ succeeded\s+│ 2026-01-02\.\.2026-01-03\s+│ 3\s+│ 0\s+│ 0\s+│ 1\s+│/);
    expect(rows.some((r) => /│ broken\s+│ failed\s+│\s+│ 0\s+│ 0\s+│ 0\s+│ 0\s+│ .+│ connector "broken"/.test(r))).toBe(true);
    // A scheduled run has no window of its own; the table shows what its streams read.
    expect(rows.some((r) => /│ leads\s+│ succeeded\s+│ 2026-01-01\.\.2026-01-03\s+│ 3\s+│ 3\s+│/.test(r))).toBe(true);

    const filtered = await kpi(['runs', '--connector', 'broken']);
    expect(filtered.stdout.split('\n').filter((l) => /^│ \d/.test(l))).toHaveLength(1);
    const limited = await kpi(['runs', '--limit', '1']);
    expect(limited.stdout.split('\n').filter((l) => /^│ \d/.test(l))).toHaveLength(1);
    expect((await kpi(['runs', '--limit', '0'])).code).toBe(2);
  });

  it('with Redis, kpi sync and kpi run --once leave a connector that a worker is syncing alone', async () => {
    const redis = new Redis(inject('redisUrl'));
    const held = await redisGate(redis, { prefix: `${inject('redisPrefix')}-cli` }).enter({ connector: 'leads', source: 'csv', job: 'worker-job' });
    try {
      const withRedis = { ...env(), REDIS_URL: inject('redisUrl') };
      const sync = await runCli(['sync', 'leads', '--config', 'kpi.yaml'], { cwd: dir, env: withRedis });
      expect(sync).toMatchObject({ code: 1, stderr: 'leads is being synced by another process; try again when it has finished\n' });
      const once = await runCli(['run', '--once', '--config', 'kpi.yaml'], { cwd: dir, env: withRedis });
      expect(once.code).toBe(0);
      expect(once.stdout).toMatch(/│ leads\s+│ skipped\s+│\s+│\s+│\s+│ .+│ already syncing in another process\s+│/);
      expect(once.stdout).toContain('0 of 1 connectors synced, 1 skipped');
    } finally {
      if (typeof held !== 'string') await held.release();
      redis.disconnect();
    }
  });

  const outside = outsideAddress();

  async function startBinary(extraEnv: Record<string, string>, args: string[] = []) {
    const child = spawn(process.execPath, ['bin/kpi.js', 'start', '--config', path.join(dir, 'kpi.yaml'), '--shutdown-timeout', '5', ...args], {
      cwd: root,
      env: { PATH: process.env.PATH, ...env(), LOG_LEVEL: 'warn', ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stderr += String(d)));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const port = await waitFor(() => Number(/http on port (\d+)/.exec(stdout)?.[1]) || null, { timeoutMs: 45_000, what: `kpi start to listen (stderr: ${stderr})` });
    return { child, port, exited, out: () => stdout, err: () => stderr };
  }

  it('kpi start runs in embedded mode without Redis, serves the probes on loopback only, and stops cleanly on SIGTERM', async () => {
    const app = await startBinary({});
    expect(app.out()).toContain(`kpi started in embedded mode (no Redis configured); http on port ${app.port} (127.0.0.1)\n`);
    if (outside) expect(await connects(outside, app.port)).toBe(false);
    expect((await fetch(`http://127.0.0.1:${app.port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${app.port}/readyz`)).status).toBe(200);
    app.child.kill('SIGTERM');
    expect(await app.exited).toBe(0);
    expect(app.out()).toMatch(/SIGTERM received; stopping \(up to 5 s for running jobs\)\nstopped\n$/);
  }, 90_000);

  it('kpi start --role scheduler --host 0.0.0.0 runs in queue mode with Redis, reachable from outside (as the Dockerfile runs it)', async () => {
    const app = await startBinary({ REDIS_URL: inject('redisUrl') }, ['--role', 'scheduler', '--host', '0.0.0.0']);
    expect(app.out()).toContain(`kpi started in queue mode, role scheduler; http on port ${app.port} (0.0.0.0)\n`);
    if (outside) expect(await connects(outside, app.port)).toBe(true);
    const ready = (await (await fetch(`http://127.0.0.1:${app.port}/readyz`)).json()) as { checks: Record<string, unknown> };
    expect(Object.keys(ready.checks).sort()).toEqual(['database', 'migrations', 'redis']);
    app.child.kill('SIGTERM');
    expect(await app.exited).toBe(0);
  }, 90_000);

  it('kpi start rejects an unknown role with exit 2', async () => {
    const res = await kpi(['start', '--role', 'boss']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("argument 'boss' is invalid. Allowed choices are scheduler, worker, all.");
  });
});
