import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import type { DateRange } from '../src/core/dates.ts';
import { applyV8Flags } from '../src/v8-flags.ts';

applyV8Flags();

/**
 * One `kpi sync NAME --from … --to …` in a process of its own, so its peak RSS is the sync's
 * and nothing else's (the fake source runs in the parent). memory.ts starts it as bin/kpi.js
 * starts the CLI, or compiled ahead of time. It loads the CLI and the sync command's module
 * as main() does, then takes the command's steps up to the end of the sync: the config file
 * loaded and checked, the warehouse opened (and migrated), the connector claimed, the sync run
 * through the pipeline's sync handler (the one queue workers run). The recompute that
 * `kpi sync` starts afterwards is left out: it is a benchmark of its own.
 *
 * Prints one JSON line: RSS at each stage, peak RSS, rows, time.
 */
interface Args {
  configFile: string;
  connector: string;
  window: DateRange;
}

const maxRssKb = () => process.resourceUsage().maxRSS;

function vmHwmKb(): number | null {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

const args = JSON.parse(process.argv.at(-1) ?? '{}') as Args;
const bootRssKb = maxRssKb();
await import('../src/cli.ts');
const cliRssKb = maxRssKb();
await import('../src/cli/sync.ts');
const { createPipelineHandlers, openSyncGate } = await import('../src/app.ts');
const { loadCheckedConfig, openConfiguredWarehouse } = await import('../src/cli/context.ts');
const { claimedSync } = await import('../src/jobs/in-process.ts');
const { createLogger } = await import('../src/core/log.ts');

const io = { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
const config = loadCheckedConfig(args.configFile, io);
const cfg = config.connectors.find((c) => c.name === args.connector);
if (!cfg) throw new Error(`no connector ${args.connector} in ${args.configFile}`);
const wh = await openConfiguredWarehouse(config, io);
const gate = await openSyncGate(config, io.env);
// A real logger at info level that writes nowhere: logging costs what it costs in production.
const log = createLogger({ level: 'info', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
try {
  const handlers = createPipelineHandlers({ config, db: wh.db, log });
  const readyRssKb = maxRssKb();
  const t0 = performance.now();
  const outcome = await claimedSync(handlers, gate.gate, cfg, { connector: cfg.name, trigger: 'backfill', window: args.window }, { jobId: `bench.${cfg.name}` });
  const ms = performance.now() - t0;
  if (typeof outcome === 'string') throw new Error(`sync refused: ${outcome}`);
  if (!outcome.ok) throw new Error(`sync failed: ${String((outcome.error as Error)?.message ?? outcome.error)}`);
  const { run } = outcome;
  process.stdout.write(
    `${JSON.stringify({ maxRssKb: maxRssKb(), vmHwmKb: vmHwmKb(), bootRssKb, cliRssKb, readyRssKb, rowsWritten: run.rows_written, rowsRead: run.rows_read, ms })}\n`,
  );
} finally {
  await gate.close();
  await wh.close();
}
