/**
 * `npm run bench`: every benchmark against real Postgres and Redis, each figure printed with
 * the baseline taken in the same run, the ratio and PASS/FAIL against its target, and
 * BENCHMARKS.md rewritten with the machine and the figures.
 *
 *   npm run bench                      full sizes, targets judged, BENCHMARKS.md written
 *   npm run bench -- --quick           small sizes, no targets, nothing written (CI smoke test)
 *   npm run bench -- --only ingest,queue
 *   npm run bench -- --no-write        full sizes without touching BENCHMARKS.md
 *   npm run bench -- --only console --console-facts 1000000
 *                                      the console benchmark on another number of facts (nothing written)
 *
 * Exit code: 0 every target met (or quick mode), 1 a target missed, 2 a benchmark failed to run.
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dropLeftoverDatabases, runId, serverVersions, settings } from './lib/env.ts';
import { renderMarkdown, writeBenchmarksFile, type Machine } from './lib/markdown.ts';
import { cpuMeter } from './lib/profile.ts';
import { figureLine, secs, timer, type BenchContext, type BenchResult } from './lib/report.ts';

type Bench = (ctx: BenchContext) => Promise<BenchResult>;

/**
 * In run order. Each is imported only when it runs, so one whose code does not load (work in
 * progress elsewhere) is reported as an error without stopping the others; alerts runs last.
 */
const BENCHES: Array<{ name: string; load: () => Promise<Bench> }> = [
  { name: 'ingest', load: async () => (await import('./ingest.ts')).ingestBench },
  { name: 'memory', load: async () => (await import('./memory.ts')).memoryBench },
  { name: 'recompute', load: async () => (await import('./recompute.ts')).recomputeBench },
  { name: 'queue', load: async () => (await import('./queue.ts')).queueBench },
  { name: 'requests', load: async () => (await import('./requests.ts')).requestsBench },
  { name: 'pglite', load: async () => (await import('./pglite.ts')).pgliteBench },
  { name: 'alerts', load: async () => (await import('./alerts.ts')).alertsBench },
  { name: 'console', load: async () => (await import('./console.ts')).consoleBench },
];

function parseArgs(argv: string[]) {
  const quick = argv.includes('--quick');
  const onlyArg = argv.find((a) => a.startsWith('--only'));
  const onlyValue = onlyArg?.includes('=') ? onlyArg.split('=')[1] : onlyArg ? argv[argv.indexOf(onlyArg) + 1] : undefined;
  const only = onlyValue ? new Set(onlyValue.split(',').map((s) => s.trim())) : undefined;
  const unknown = [...(only ?? [])].filter((n) => !BENCHES.some((b) => b.name === n));
  if (unknown.length > 0) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')}`);
    process.exit(2);
  }
  const factsArg = argv.find((a) => a.startsWith('--console-facts'));
  const factsValue = factsArg?.includes('=') ? factsArg.split('=')[1] : factsArg ? argv[argv.indexOf(factsArg) + 1] : undefined;
  const consoleFacts = factsValue === undefined ? undefined : Number(factsValue);
  if (consoleFacts !== undefined && !(Number.isInteger(consoleFacts) && consoleFacts >= 350)) {
    console.error(`--console-facts must be a whole number of facts, at least 350; got ${factsValue}`);
    process.exit(2);
  }
  // A size of one's own choosing is not the file's figure.
  return { quick, only, consoleFacts, write: !quick && !argv.includes('--no-write') && only === undefined && consoleFacts === undefined };
}

async function machineInfo(): Promise<Omit<Machine, 'loadAfter'>> {
  const versions = await serverVersions();
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    memoryGb: os.totalmem() / 1024 ** 3,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres: versions.postgres,
    redis: versions.redis,
    postgresSettings: await settings(['shared_buffers', 'work_mem', 'max_wal_size', 'synchronous_commit']),
    loadBefore: os.loadavg(),
  };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const started = new Date();
  const whole = timer();
  const progress = (message: string) => process.stderr.write(`  … ${secs(whole()).padStart(7)}  ${message}\n`);
  const machine = await machineInfo();
  const leftovers = await dropLeftoverDatabases();
  if (leftovers.length > 0) progress(`dropped ${leftovers.length} database(s) an earlier run left behind`);

  console.log(`kpi-pipeline benchmarks (${args.quick ? 'quick: small sizes, no targets' : 'full sizes'}), run ${runId}`);
  console.log(`${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb.toFixed(1)} GB; Node ${machine.node}; PostgreSQL ${machine.postgres}; Redis ${machine.redis}; load ${machine.loadBefore.map((l) => l.toFixed(2)).join(' ')}`);

  const results: BenchResult[] = [];
  for (const b of BENCHES) {
    if (args.only && !args.only.has(b.name)) continue;
    const t = timer();
    const cpu = cpuMeter();
    let result: BenchResult;
    try {
      const run = await b.load();
      result = await run({ quick: args.quick, progress, ...(args.consoleFacts ? { consoleFacts: args.consoleFacts } : {}) });
    } catch (err) {
      result = { name: b.name, size: '', figures: [], totalMs: t(), setupMs: 0, error: (err as Error).stack ?? String(err) };
    }
    const outside = cpu().otherMs;
    if (outside !== undefined) result.outsideCpuMs = outside;
    results.push(result);
    if (result.error) {
      console.log(`[${b.name}] ERROR: ${result.error.split('\n')[0]}`);
      console.error(result.error);
      continue;
    }
    const load = result.outsideCpuMs === undefined ? '' : `, other processes used ${secs(result.outsideCpuMs)} CPU meanwhile`;
    console.log(`[${b.name}] size: ${result.size} (benchmark ${secs(result.totalMs)}, untimed setup ${secs(result.setupMs)}${load})`);
    for (const f of result.figures) {
      console.log(figureLine(b.name, f));
      for (const n of f.notes ?? []) console.log(`    ${n}`);
    }
  }

  const figures = results.flatMap((r) => r.figures);
  const failed = figures.filter((f) => f.pass === false).length;
  const passed = figures.filter((f) => f.pass === true).length;
  const errors = results.filter((r) => r.error).length;
  console.log(`${passed} passed, ${failed} failed, ${figures.length - passed - failed} without target, ${errors} not run; ${secs(whole())}`);

  if (args.write) {
    const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'BENCHMARKS.md');
    writeBenchmarksFile(file, renderMarkdown(results, { ...machine, loadAfter: os.loadavg() }, started, whole(), 'npm run bench'));
    console.log(`wrote ${path.relative(process.cwd(), file) || file}`);
  }
  return errors > 0 ? 2 : failed > 0 ? 1 : 0;
}

process.exitCode = await main();
