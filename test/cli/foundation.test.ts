import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, tempProject } from '../helpers/cli.ts';
import { testDatabaseUrlWithSchema } from '../helpers/warehouse.ts';
import { inUnitTier } from '../helpers/tier.ts';

const exec = promisify(execFile);
const root = path.resolve(__dirname, '../..');

describe('kpi validate', () => {
  it('passes on the example config with its placeholder environment', async () => {
    const res = await runCli(['validate', '--config', 'config/example.yaml', '--env-from', 'config/example.env'], { cwd: root });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('config/example.yaml: valid (12 connectors, 2 custom KPIs, 2 goals, 1 OKR, 5 alert rules, 2 channels)\n');
  });

  it('lists every missing secret of the example when the environment lacks them, with exit code 3', async () => {
    const res = await runCli(['validate', '--config', 'config/example.yaml'], { cwd: root });
    expect(res.code).toBe(3);
    const lines = res.stderr.trim().split('\n').slice(1);
    expect(lines.length).toBeGreaterThanOrEqual(9);
    expect(lines[0]).toMatch(/^config\/example\.yaml:\d+:\d+ connectors\[0\]\.auth\.clientId: environment variable GOOGLE_CLIENT_ID is not set/);
  });

  it('reads the config from $KPI_CONFIG when --config is not given', async () => {
    const p = tempProject({ 'mine.yaml': 'reporting: { currency: GBP }\n' });
    try {
      const res = await runCli(['validate'], { cwd: p.dir, env: { KPI_CONFIG: 'mine.yaml' } });
      expect(res).toMatchObject({ code: 0, stdout: 'mine.yaml: valid (0 connectors, 0 custom KPIs, 0 goals, 0 OKRs, 0 alert rules, 0 channels)\n' });
    } finally {
      p.cleanup();
    }
  });
});

describe('DATABASE_URL and REDIS_URL with a password that was not percent-encoded', () => {
  // "@" then "#" in a password written as it is: a URL parser ends the host at the "#", so the
  // host is "hunter2", a piece of the password, and every "host not found" error showed it.
  const password = 'Zq7@hunter2#rT5';

  it.each([
    ['DATABASE_URL', `postgres://kpi:${password}@127.0.0.1:5432/postgres`, ['runs']],
    ['REDIS_URL', `redis://:${password}@127.0.0.1:6379`, ['validate']],
  ])('%s: refused before any connection (exit 3), naming the variable and what to encode, never any part of the password', async (name, url, command) => {
    const p = tempProject({ 'kpi.yaml': 'reporting: { currency: EUR }\n' });
    try {
      const res = await runCli([...command, '--config', 'kpi.yaml'], { cwd: p.dir, env: { [name]: url } });
      expect(res).toEqual({
        code: 3,
        stdout: '',
        stderr: `configuration error:\n${name}: has an "@" after its host name: a password with "@" and then "#", "/" or "?" written as it is ends the host early; percent-encode them in the user name and password (@ %40, # %23, / %2F, ? %3F). The URL is not shown, as it holds the password\n`,
      });
    } finally {
      p.cleanup();
    }
  });
});

describe('kpi migrate', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('creates the embedded database under dataDir when DATABASE_URL is unset, and is a no-op the second time', async () => {
    const p = tempProject({ 'kpi.yaml': 'dataDir: ./state\n' });
    cleanups.push(p.cleanup);
    const first = await runCli(['migrate', '--config', 'kpi.yaml'], { cwd: p.dir });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^applied 001-facts-and-runs.* to pglite \(.*state\/pglite\)\n$/);
    expect(existsSync(path.join(p.dir, 'state/pglite/PG_VERSION'))).toBe(true);
    const second = await runCli(['migrate', '--config', 'kpi.yaml'], { cwd: p.dir });
    expect(second.stdout).toMatch(/^pglite \(.*\) is up to date at /);
  }, 120_000);

  it.skipIf(inUnitTier)('migrates the Postgres server named by DATABASE_URL without printing its credentials', async () => {
    const db = await testDatabaseUrlWithSchema();
    cleanups.push(db.drop);
    const p = tempProject({ 'kpi.yaml': 'reporting: { currency: EUR }\n' });
    cleanups.push(p.cleanup);
    const res = await runCli(['migrate', '--config', 'kpi.yaml'], { cwd: p.dir, env: { DATABASE_URL: db.url } });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^applied 001-facts-and-runs.* to postgres \(127\.0\.0\.1:5432\/kpi_test_/);
  });
});

describe.skipIf(inUnitTier)('the kpi binary', () => {
  it('lists its commands with --help and exits 0', async () => {
    const { stdout } = await exec('node', ['bin/kpi.js', '--help'], { cwd: root });
    for (const command of ['validate', 'migrate']) expect(stdout).toContain(command);
  });

  it('answers a wrong command or option with usage and exit code 2', async () => {
    for (const args of [['frobnicate'], ['validate', '--no-such-flag']]) {
      const err = await exec('node', ['bin/kpi.js', ...args], { cwd: root }).then(
        () => null,
        (e: { code: number; stderr: string }) => e,
      );
      expect(err?.code).toBe(2);
      expect(err?.stderr).toMatch(/error: (unknown command|unknown option)/);
      expect(err?.stderr).toContain('--help');
    }
  });

  it('gives each command its own --help', async () => {
    const { stdout } = await exec('node', ['bin/kpi.js', 'validate', '--help'], { cwd: root });
    expect(stdout).toContain('Usage: kpi validate [options]');
    expect(stdout).toContain('--config <file>');
  });
});
