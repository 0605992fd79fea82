import { spawn } from 'node:child_process';
import { chmodSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataset, startMetaFake, META_APP, META_SHORT_LIVED_TOKEN, type FakeServer, type MetaSettings } from '../../src/sandbox/index.ts';
import { runCli, tempProject } from '../helpers/cli.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** `kpi connect meta` run as a separate process whose files may grow to `blocks` KiB at most (a full disk, a quota). */
function connectWithFileLimit(cwd: string, env: NodeJS.ProcessEnv, blocks: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const main = path.join(root, 'src/main.ts');
  const child = spawn('bash', ['-c', `ulimit -f ${blocks}; exec "${process.execPath}" --import "${import.meta.resolve('tsx')}" "${main}" connect meta --config kpi.yaml --env-file .env`], {
    cwd,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += String(d)));
  child.stderr.on('data', (d) => (stderr += String(d)));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/**
 * The env file `kpi connect` writes to holds the deployment's other secrets too: a write that
 * fails half-way (a full disk, a quota) must leave it as it was, not cut short.
 */
describe('kpi connect: the env file it updates', () => {
  let meta: FakeServer<MetaSettings>;
  let project: { dir: string; cleanup(): void };
  const env = { META_APP_ID: META_APP.id, META_APP_SECRET: META_APP.secret, META_SHORT_LIVED_TOKEN };
  const others = ['# the deployment\'s secrets', ...Array.from({ length: 80 }, (_, i) => `SECRET_${i}=value-${String(i).padStart(4, '0')}-${'x'.repeat(40)}`)].join('\n') + '\n';

  beforeAll(async () => {
    meta = await startMetaFake(createDataset({ seed: 3, endDate: '2024-03-31' }));
    project = tempProject({
      'kpi.yaml': `
reporting: { timezone: Europe/Berlin, currency: EUR }
dataDir: ./state
connectors:
  - { name: meta, type: meta_ads, adAccountIds: ["act_1001"], accessToken: "\${env:META_ACCESS_TOKEN}", baseUrl: "${meta.url}" }
`,
    });
  });

  afterAll(async () => {
    await meta.close();
    project.cleanup();
  });

  it('a write that fails half-way leaves every other line of the file as it was', async () => {
    const file = path.join(project.dir, '.env');
    writeFileSync(file, others, { mode: 0o600 });
    expect(others.length).toBeGreaterThan(4 * 1024);
    const run = await connectWithFileLimit(project.dir, env, 2);
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect(run.stderr).toContain('.env');
    expect(readFileSync(file, 'utf8')).toBe(others);
    expect(readdirSync(project.dir).filter((f) => f.startsWith('.env'))).toEqual(['.env']);
  }, 60_000);

  it('a symlinked env file stays a symlink, its target updated with its mode kept', async () => {
    const target = path.join(project.dir, 'shared.env');
    const link = path.join(project.dir, 'link.env');
    writeFileSync(target, 'OTHER=1\n');
    chmodSync(target, 0o640);
    symlinkSync('shared.env', link);
    const run = await runCli(['connect', 'meta', '--config', 'kpi.yaml', '--env-file', 'link.env'], { env, cwd: project.dir });
    expect(run.stderr).toContain('warning: link.env can be read by other users than its owner');
    expect(run.code).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe('shared.env');
    const lines = readFileSync(target, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe('OTHER=1');
    expect(lines[2]).toMatch(/^META_ACCESS_TOKEN=EAAB-sandbox-long-lived-/);
    expect(statSync(target).mode & 0o777).toBe(0o640);
  });
});

describe('kpi connect: an env file a shell sources', () => {
  let meta: FakeServer<MetaSettings>;
  let project: { dir: string; cleanup(): void };
  const env = { META_APP_ID: META_APP.id, META_APP_SECRET: META_APP.secret, META_SHORT_LIVED_TOKEN };

  beforeAll(async () => {
    meta = await startMetaFake(createDataset({ seed: 3, endDate: '2024-03-31' }));
    project = tempProject({
      'kpi.yaml': `connectors:\n  - { name: meta, type: meta_ads, adAccountIds: ["act_1001"], accessToken: "\${env:META_ACCESS_TOKEN}", baseUrl: "${meta.url}" }\n`,
      // `set -a; . ./kpi.env` or `export` lines: what is not exported never reaches kpi.
      'kpi.env': 'export OTHER=1\nexport META_ACCESS_TOKEN=old-token\n',
    });
  });

  afterAll(async () => {
    await meta.close();
    project.cleanup();
  });

  it('keeps the export of the line it replaces, so the sourced token still reaches kpi', async () => {
    const run = await runCli(['connect', 'meta', '--config', 'kpi.yaml', '--env-file', 'kpi.env'], { env, cwd: project.dir });
    expect(run.code, run.stderr).toBe(0);
    const token = Object.keys(meta.settings.tokens).find((t) => t.startsWith('EAAB-sandbox-long-lived-'))!;
    const sourced = await new Promise<string>((resolve) => {
      const child = spawn('sh', ['-c', '. ./kpi.env; node -e "process.stdout.write(process.env.META_ACCESS_TOKEN ?? \'unset\')"'], { cwd: project.dir, env: { PATH: process.env.PATH } });
      let out = '';
      child.stdout.on('data', (d) => (out += String(d)));
      child.on('close', () => resolve(out));
    });
    expect(sourced).toBe(token);
  });
});
