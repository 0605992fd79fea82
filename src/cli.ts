import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { errorMessage, isConfigError } from './errors.ts';
import { redactSecrets } from './secrets.ts';
import { ExitCode, line, type CliIo } from './cli/io.ts';
// Command modules are imported by their action, not here: each pulls in its own part of the
// pipeline (the HTTP server and queues, the demo's fake APIs, notification channels), and a
// `kpi sync` process should not hold all of them in memory for hours.
import type { DemoOptions } from './cli/demo.ts';
import type { ReportCommandOptions } from './cli/report.ts';
import type { Role } from './jobs/index.ts';
import type { DigestOptions, SilenceOptions } from './cli/alerts.ts';

const roles: Role[] = ['scheduler', 'worker', 'all'];

export function isoDateArg(value: string): string {
  // Date.parse rolls 2024-02-30 over to March 1st; a real calendar date prints back as itself.
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`)) || new Date(`${value}T00:00:00Z`).toISOString().slice(0, 10) !== value) {
    throw new InvalidArgumentError(`expected a date as YYYY-MM-DD, got "${value}"`);
  }
  return value;
}

function positiveIntArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive whole number, got "${value}"`);
  return n;
}

export interface CommonOptions {
  config?: string;
  envFrom?: string;
}

/** Every command takes --config and --env-from, before or after the command name. */
export function withCommonOptions(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'configuration file (default: $KPI_CONFIG or config/kpi.yaml)').option('--env-from <file>', 'read environment variables from this file first (values already set win)');
}

/** The config path and environment a command should use, after --env-from is applied. */
export function commandContext(cmd: Command, io: CliIo): { configFile: string; io: CliIo } {
  const opts = cmd.optsWithGlobals<CommonOptions>();
  let env = io.env;
  if (opts.envFrom) {
    const file = path.resolve(io.cwd, opts.envFrom);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw new InvalidArgumentError(`cannot read env file ${opts.envFrom}`);
    }
    env = { ...parseEnv(text), ...io.env };
  }
  const chosen = opts.config ?? env.KPI_CONFIG ?? 'config/kpi.yaml';
  return { configFile: path.resolve(io.cwd, chosen), io: { ...io, env } };
}

function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = withCommonOptions(new Command('kpi'))
    .description('Marketing KPI pipeline: sync sources into the warehouse, recompute KPIs, track goals, send alerts.')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });

  withCommonOptions(program.command('validate'))
    .description('check a configuration file and list every problem in it')
    .action(async function (this: Command) {
      const ctx = commandContext(this, io);
      const { validateCommand } = await import('./cli/validate.ts');
      setExit(await validateCommand(ctx.io, ctx.configFile));
    });

  withCommonOptions(program.command('migrate'))
    .description('apply warehouse migrations (DATABASE_URL, or the embedded database under dataDir)')
    .action(async function (this: Command) {
      const ctx = commandContext(this, io);
      const { migrateCommand } = await import('./cli/migrate.ts');
      setExit(await migrateCommand(ctx.io, ctx.configFile));
    });

  withCommonOptions(program.command('demo'))
    .description('run the whole cycle against local fake source APIs, on the embedded database (config/demo.yaml)')
    .option('--as-of <date>', 'last day of the synthetic data and "today" for the run (default: today)', isoDateArg)
    .option('--data <dir>', 'where the embedded database, caught messages and digest go', 'data')
    .option('--fresh', 'start from an empty database')
    .action(async function (this: Command) {
      const opts = this.optsWithGlobals<DemoOptions & { data?: string; config?: string }>();
      const ctx = commandContext(this, io);
      const configFile = opts.config ? ctx.configFile : path.resolve(io.cwd, 'config/demo.yaml');
      const { demoCommand } = await import('./cli/demo.ts');
      setExit(await demoCommand(ctx.io, configFile, { ...(opts.asOf ? { asOf: opts.asOf } : {}), dataDir: opts.data ?? 'data', ...(opts.fresh ? { fresh: true } : {}) }));
    });

  withCommonOptions(program.command('start'))
    .description('run on the schedules until SIGTERM: queue workers with Redis (REDIS_URL or redis.url), everything in-process without')
    .addOption(new Option('--role <role>', 'with Redis: schedule jobs, work on them, or both').choices(roles).default('all'))
    .option('--shutdown-timeout <seconds>', 'how long running jobs may take to finish on SIGTERM before they are released', positiveIntArg, 30)
    .action(async function (this: Command) {
      const ctx = commandContext(this, io);
      const opts = this.opts<{ role: Role; shutdownTimeout: number }>();
      const { startCommand } = await import('./cli/start.ts');
      setExit(await startCommand(ctx.io, ctx.configFile, opts));
    });

  withCommonOptions(program.command('run'))
    .description('run one full cycle now: sync every enabled connector, recompute what changed, evaluate, notify')
    .option('--once', 'run one cycle and exit')
    .action(async function (this: Command) {
      const ctx = commandContext(this, io);
      const { runCommand } = await import('./cli/run.ts');
      setExit(await runCommand(ctx.io, ctx.configFile, this.opts<{ once?: boolean }>()));
    });

  withCommonOptions(program.command('sync'))
    .description('sync one connector now; with --from/--to, backfill that window')
    .argument('<connector>', 'connector name from the configuration')
    .option('--from <date>', 'first day of the window (YYYY-MM-DD)', isoDateArg)
    .option('--to <date>', 'last day of the window (default: today)', isoDateArg)
    .action(async function (this: Command, connector: string) {
      const ctx = commandContext(this, io);
      const { syncCommand } = await import('./cli/sync.ts');
      setExit(await syncCommand(ctx.io, ctx.configFile, connector, this.opts<{ from?: string; to?: string }>()));
    });

  withCommonOptions(program.command('runs'))
    .description('list recent sync runs')
    .option('--connector <name>', 'only this connector')
    .option('--limit <n>', 'how many runs to show', positiveIntArg, 20)
    .action(async function (this: Command) {
      const ctx = commandContext(this, io);
      const { runsCommand } = await import('./cli/runs.ts');
      setExit(await runsCommand(ctx.io, ctx.configFile, this.opts<{ connector?: string; limit?: number }>()));
    });

  withCommonOptions(program.command('recompute'))
    .description('recompute KPI values for the periods a date range touches; every fact without one')
    .option('--from <date>', 'first changed day (YYYY-MM-DD)', isoDateArg)
    .option('--to <date>', 'last changed day (default: today)', isoDateArg)
    .action(async function (this: Command) {
      const ctx = commandContext(this, io);
      const { recomputeCommand } = await import('./cli/recompute.ts');
      setExit(await recomputeCommand(ctx.io, ctx.configFile, this.opts<{ from?: string; to?: string }>()));
    });

  withCommonOptions(program.command('prune'))
    .description('delete sync runs, quarantined records and alert history older than the retention settings')
    .option('--dry-run', 'count what would be deleted, delete nothing')
    .action(async function (this: Command) {
      const ctx = commandContext(this, io);
      const { pruneCommand } = await import('./cli/prune.ts');
      setExit(await pruneCommand(ctx.io, ctx.configFile, this.opts<{ dryRun?: boolean }>()));
    });

  withCommonOptions(program.command('report'))
    .description('the North Star, KPIs against the previous period, goals and OKRs')
    .addOption(new Option('--grain <grain>', 'period length').choices(['day', 'week', 'month', 'quarter']).default('week'))
    .addOption(new Option('--period <which>', 'the last complete period, or the current one to date').choices(['last', 'current']).default('last'))
    .option('--as-of <date>', 'the day to report as of (default: today in the reporting time zone)', isoDateArg)
    .option('--json', 'print the report as JSON')
    .action(async function (this: Command) {
      const ctx = commandContext(this, io);
      const { reportCommand } = await import('./cli/report.ts');
      setExit(await reportCommand(ctx.io, ctx.configFile, this.opts<ReportCommandOptions>()));
    });

  const alerts = withCommonOptions(program.command('alerts')).description('alert rules and their state, channels and silences');

  withCommonOptions(alerts.command('list'))
    .description('every rule and series with its state, since when, and its last value')
    .option('--json', 'print as JSON')
    .action(async function (this: Command) {
      const ctx = commandContext(this, io);
      const { alertsListCommand } = await import('./cli/alerts.ts');
      setExit(await alertsListCommand(ctx.io, ctx.configFile, this.opts<{ json?: boolean }>()));
    });

  withCommonOptions(alerts.command('test-channel'))
    .description('send a test notification to a channel; exits 1 with the reason when it fails')
    .argument('<name>', 'channel name from the configuration')
    .action(async function (this: Command, name: string) {
      const ctx = commandContext(this, io);
      const { alertsTestChannelCommand } = await import('./cli/alerts.ts');
      setExit(await alertsTestChannelCommand(ctx.io, ctx.configFile, name));
    });

  withCommonOptions(alerts.command('silence'))
    .description('silence notifications whose labels match, for a while')
    .requiredOption('--matcher <k=v>', 'label matcher: k=v, k!=v, k=~regex or k!~regex (repeatable; all must match)', (v: string, all: string[] = []) => [...all, v])
    .requiredOption('--for <duration>', 'how long, e.g. 30m, 2h, 1d')
    .option('--comment <text>', 'why, for whoever looks later')
    .option('--hold', 'send the held notifications when the silence ends instead of dropping them')
    .action(async function (this: Command) {
      const ctx = commandContext(this, io);
      const { alertsSilenceCommand } = await import('./cli/alerts.ts');
      setExit(await alertsSilenceCommand(ctx.io, ctx.configFile, this.opts<SilenceOptions>()));
    });

  withCommonOptions(alerts.command('silences'))
    .description('list silences in force or still to come')
    .option('--all', 'include silences that have ended')
    .action(async function (this: Command) {
      const ctx = commandContext(this, io);
      const { alertsSilencesCommand } = await import('./cli/alerts.ts');
      setExit(await alertsSilencesCommand(ctx.io, ctx.configFile, this.opts<{ all?: boolean }>()));
    });

  withCommonOptions(alerts.command('unsilence'))
    .description('end a silence now')
    .argument('<id>', 'silence id (see kpi alerts silences)', positiveIntArg)
    .action(async function (this: Command, id: number) {
      const ctx = commandContext(this, io);
      const { alertsUnsilenceCommand } = await import('./cli/alerts.ts');
      setExit(await alertsUnsilenceCommand(ctx.io, ctx.configFile, id));
    });

  withCommonOptions(program.command('digest'))
    .description('build the weekly (or monthly) digest; print it, write it to a folder, or send it')
    .option('--send', 'send it to the digest channels now, even if this period was sent already')
    .option('--out <dir>', 'write digest.html, digest.txt and the sparkline PNGs to this folder')
    .option('--as-of <date>', 'the day to build it as of (default: today); it covers the period before', isoDateArg)
    .action(async function (this: Command) {
      const ctx = commandContext(this, io);
      const { digestCommand } = await import('./cli/alerts.ts');
      setExit(await digestCommand(ctx.io, ctx.configFile, this.opts<DigestOptions>()));
    });

  return program;
}

/** Runs the CLI and returns the exit code; never calls process.exit, so tests can drive it. */
export async function main(argv: string[], partial: Partial<CliIo> = {}): Promise<number> {
  const io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), ...partial };
  let exitCode: number = ExitCode.ok;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof InvalidArgumentError && err.code === 'commander.invalidArgument' && !err.message.startsWith('error:')) {
      io.stderr.write(`error: ${err.message}\n`);
      return ExitCode.usage;
    }
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return ExitCode.ok;
      // Commander has already printed what was wrong with the arguments.
      return ExitCode.usage;
    }
    if (isConfigError(err)) {
      io.stderr.write(`configuration error:\n${redactSecrets(err.message)}\n`);
      return ExitCode.config;
    }
    io.stderr.write(`error: ${redactSecrets(errorMessage(err))}\n`);
    return ExitCode.failed;
  }
}

export { line };
