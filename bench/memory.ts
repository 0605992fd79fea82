import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { addDays } from '../src/core/dates.ts';
import type { DateRange } from '../src/core/dates.ts';
import { benchPrefix, createBenchDatabase, dropRedisPrefix, redisUrl } from './lib/env.ts';
import { adsConfigFile, startAdsSource } from './lib/google-ads.ts';
import { int, mb, rate, secs, timer, type BenchContext, type BenchResult } from './lib/report.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

interface ChildReport {
  maxRssKb: number;
  vmHwmKb: number | null;
  /** RSS (high-water mark) when the process has started, has loaded the CLI, and is about to sync. */
  bootRssKb: number;
  cliRssKb: number;
  readyRssKb: number;
  rowsWritten: number;
  rowsRead: number;
  ms: number;
}

interface ChildArgs {
  configFile: string;
  connector: string;
  window: DateRange;
  env: Record<string, string>;
}

/**
 * Started as bin/kpi.js starts the CLI (tsx for a .ts entry, which applies src/v8-flags.ts first); a bundled
 * .mjs runs without tsx. `nodeArgs` go to node itself.
 */
async function syncInChild(args: ChildArgs, options: { entry?: string; nodeArgs?: string[] } = {}): Promise<ChildReport> {
  const entry = options.entry ?? path.join(here, 'memory-child.ts');
  const { env, ...childArgs } = args;
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), path.join(here, 'lib', 'kpi-entry.mjs'), entry, JSON.stringify(childArgs)], {
    cwd: path.resolve(here, '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`memory child exited ${code}: ${err.slice(-2000)}`);
  return JSON.parse(out.trim().split('\n').at(-1)!) as ChildReport;
}

/**
 * memory-child.ts compiled to ES modules (dependencies left as imports), for plain node; null
 * without esbuild. Split into chunks, so what the sources import on first use is still loaded
 * on first use.
 */
async function bundleChild(): Promise<{ file: string; remove(): void } | null> {
  let esbuild: { build(options: object): Promise<unknown> };
  try {
    // tsx's own compiler; not a dependency of ours, so it may be missing.
    esbuild = (await import('esbuild' as string)) as typeof esbuild;
  } catch {
    return null;
  }
  const dir = path.join(here, `.memory-child-${process.pid}`);
  await esbuild.build({
    entryPoints: [path.join(here, 'memory-child.ts')],
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    target: 'node20',
    outdir: dir,
    outExtension: { '.js': '.mjs' },
    logLevel: 'silent',
  });
  return { file: path.join(dir, 'memory-child.mjs'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Memory: one Google Ads sync of ~2,000,000 metric rows (the source's rows are streamed week
 * by week, committed day by day) in a child process, and its peak RSS. Baseline: the same
 * sync of a tenth of the days in the same kind of process; a ratio near 1 means memory does
 * not grow with the size of the source.
 */
export async function memoryBench(ctx: BenchContext): Promise<BenchResult> {
  const total = timer();
  const size = ctx.quick ? { campaigns: 100, days: 20 } : { campaigns: 1000, days: 200 };
  const db = await createBenchDatabase('memory');
  const wh = await db.open(2);
  const source = await startAdsSource(size);
  const dir = mkdtempSync(path.join(tmpdir(), 'kpi-bench-memory-'));
  const prefix = benchPrefix('memory');
  try {
    // A config file as a deployment has one: the connector, and Redis for the connector's
    // claim (which loads the Redis client, as `kpi sync` does wherever workers run).
    const { yaml, env } = adsConfigFile(source.fakeUrl, source.tokenUrl);
    const configFile = path.join(dir, 'kpi.yaml');
    writeFileSync(configFile, `${yaml}\nredis: { prefix: "${prefix}" }\n`);
    const common = { configFile, connector: 'gads', env: { ...env, DATABASE_URL: db.url, REDIS_URL: redisUrl, LOG_LEVEL: 'info' } };
    const small = { from: addDays(source.window.to, -(Math.ceil(size.days / 10) - 1)), to: source.window.to };
    ctx.progress(`memory: baseline sync of ${small.from}..${small.to} in a child process`);
    const base = await syncInChild({ ...common, window: small });
    await sql`truncate metric_facts, checkpoints, sync_runs`.execute(wh.db);
    ctx.progress(`memory: sync of ${source.window.from}..${source.window.to} in a child process`);
    const big = await syncInChild({ ...common, window: source.window });
    // Where the peak comes from, in full runs only: the same sync under V8's default heap
    // growth (what src/v8-flags.ts changes), and compiled ahead of time (no tsx loader thread).
    const variants: string[] = [];
    let variantMs = 0;
    if (!ctx.quick) {
      await sql`truncate metric_facts, checkpoints, sync_runs`.execute(wh.db);
      ctx.progress('memory: the same sync under V8\'s default heap growth');
      const growing = await syncInChild({ ...common, window: source.window }, { nodeArgs: ['--heap-growing-percent=0'] });
      variantMs += growing.ms;
      variants.push(
        `the same sync under V8's default heap growth (node --heap-growing-percent=0, overriding src/v8-flags.ts): peak ${mb(growing.maxRssKb * 1024)} (${secs(growing.ms)}); the difference is dead heap not yet collected, not data held`,
      );
      const bundle = await bundleChild();
      if (bundle) {
        try {
          await sql`truncate metric_facts, checkpoints, sync_runs`.execute(wh.db);
          ctx.progress('memory: the same sync compiled ahead of time (esbuild, plain node)');
          const compiled = await syncInChild({ ...common, window: source.window }, { entry: bundle.file });
          variantMs += compiled.ms;
          variants.push(`the same sync compiled ahead of time (esbuild, plain node, same V8 flags, no tsx): peak ${mb(compiled.maxRssKb * 1024)}, ${mb(compiled.readyRssKb * 1024)} before the sync (${secs(compiled.ms)})`);
        } finally {
          bundle.remove();
        }
      } else variants.push('esbuild not found: the compiled variant was skipped');
    }
    const peak = big.maxRssKb * 1024;
    const basePeak = base.maxRssKb * 1024;
    const ratio = peak / basePeak;
    return {
      name: 'memory',
      size: `${int(big.rowsWritten)} metric rows (${int(big.rowsRead)} Google Ads rows, ${size.days} days); baseline ${int(base.rowsWritten)} rows`,
      setupMs: total() - big.ms - base.ms - variantMs,
      totalMs: total(),
      figures: [
        {
          id: 'peak-rss',
          title: 'Peak RSS of a process running one large sync (maxRSS), against the same sync of a tenth of the days',
          value: `${mb(peak)} peak RSS for ${int(big.rowsWritten)} rows (${secs(big.ms)}, ${rate(big.rowsWritten, big.ms, 'rows')})`,
          baseline: `${mb(basePeak)} for ${int(base.rowsWritten)} rows`,
          ratio,
          ...(ctx.quick ? {} : { target: '< 300 MB', pass: peak < 300 * 1024 * 1024 }),
          notes: [
            `VmHWM ${big.vmHwmKb === null ? 'n/a' : mb(big.vmHwmKb * 1024)}; RSS ${mb(big.bootRssKb * 1024)} once node and tsx are up, ${mb(big.cliRssKb * 1024)} with the CLI loaded, ${mb(big.readyRssKb * 1024)} with the config, warehouse and Redis claim open (before the sync)`,
            'the child takes the steps of `kpi sync gads --from … --to …` up to the end of the sync (not the recompute after it), started as bin/kpi.js starts the CLI (its V8 flags, tsx registered, TypeScript compiled on load); the fake source runs in the parent process',
            ...variants,
          ],
        },
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await source.close();
    await wh.close();
    await db.drop();
    await dropRedisPrefix(prefix);
  }
}
