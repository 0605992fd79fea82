import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, inject, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BENCHMARKS = ['ingest', 'memory', 'recompute', 'queue', 'requests', 'pglite', 'alerts', 'console'];

/**
 * `npm run bench -- --quick` is the benchmarks' smoke test: small sizes, no targets. It must
 * run every benchmark to the end (each with its own database and Redis prefix) and print a
 * figure line for each, so a change that breaks a benchmark is caught here and not the next
 * time someone runs the full set.
 */
it('the quick benchmark run finishes, exits 0 and prints every benchmark’s figures', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick'], {
    cwd: root,
    env: { ...process.env, BENCH_REDIS_URL: inject('redisUrl') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

  expect({ code, stderr: code === 0 ? '' : stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });
  expect(stdout).not.toMatch(/ERROR/);
  for (const name of BENCHMARKS) {
    // e.g. "[ingest] first-load: 20,980 rows in 827 ms (25,369 rows/s) | baseline COPY … | ratio 8.98× | no target | INFO"
    expect(stdout, `${name} printed no figure`).toMatch(new RegExp(`^\\[${name}\\] [a-z-]+: .+ \\| baseline .+ \\| ratio \\S+ \\| no target \\| INFO$`, 'm'));
  }
  expect(stdout).toMatch(/0 passed, 0 failed, \d+ without target, 0 not run/);
}, 240_000);
