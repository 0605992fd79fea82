import { closeSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { errorMessage, isConfigError } from './core/errors.ts';
import { isForwardable } from './cli/forward.ts';
import { isDataDirBusy } from './warehouse/data-dir-lock.ts';
import { redactSecrets } from './core/secrets.ts';
import { dateArg, durationArg, hostArg, matcherArg, portArg, sinceArg, textArg, wholeNumberArg } from './cli/args.ts';
import { ExitCode, line, printableIo, type CliIo } from './cli/io.ts';
// Command modules are imported by their action, not here: each pulls in its own part of the
// pipeline (the HTTP server and queues, the demo's fake APIs, notification channels), and a
// `kpi sync` process should not hold all of them in memory for hours.
import type { DemoOptions } from './cli/demo.ts';
import type { ReportCommandOptions } from './cli/report.ts';
import type { Role } from './jobs/index.ts';
import type { DigestOptions, HistoryOptions, SilenceOptions } from './cli/alerts.ts';
import type { ConnectGoogleOptions } from './cli/connect-google.ts';
import type { ConnectMetaOptions } from './cli/connect-meta.ts';

const roles: Role[] = ['scheduler', 'worker', 'all'];

// Ranges of the numeric options, and why (see src/cli/args.ts for dates and text).
/** Runs kept for 180 days by default; more than 10 000 rows is a query, not a table to read. */
const runsLimit = wholeNumberArg(1, 10_000);
/** A day covers any sync a source allows; beyond 24.8 days the timer would fire at once. */
const shutdownTimeout = wholeNumberArg(1, 86_400);
/** 0: fail at once as before; a day covers any outage worth waiting out rather than restarting. */
const startupTimeout = wholeNumberArg(0, 86_400);
/** Silence ids are bigserial; beyond 2^53 - 1 a JavaScript number is no longer exact. */
const silenceId = wholeNumberArg(1, Number.MAX_SAFE_INTEGER);
/** Shorter than a minute ends before anyone sees it; a silence for more than a year is a rule to change. */
const silenceLength = durationArg('1m', '365d');
/** Connector and channel names are at most 63 characters; the rest allows for a typo's length. */
const nameArg = textArg(200);
const pathArg = textArg(4096);
/** The address of a running kpi start, e.g. http://127.0.0.1:9464. */
function urlArg(value: string): string {
  const text = textArg(2048)(value);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError('expected an http:// or https:// address, e.g. http://127.0.0.1:9464');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('expected an http:// or https:// address, e.g. http://127.0.0.1:9464');
  return text;
}

/** Long enough to find the account and read the consent screen; an hour is a sign-in left open. */
const signInTimeout = wholeNumberArg(10, 3600);

export interface CommonOptions {
  config?: string;
  envFrom?: string;
}

/** Every command takes --config and --env-from, before or after the command name. */
export function withCommonOptions(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'configuration file (default: $KPI_CONFIG or config/kpi.yaml)', pathArg).option('--env-from <file>', 'read environment variables from this file first (values already set win)', pathArg);
}

/** An env file is a few lines: anything bigger is the wrong file (a log, /dev/zero), read no further. */
const ENV_FILE_MAX_BYTES = 1 << 20;

/** The file's text, or undefined when it is longer than `max` bytes; reads pipes (`<(...)`) too. */
function readAtMost(file: string, max: number): string | undefined {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(max + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    return length > max ? undefined : buffer.toString('utf8', 0, length);
  } finally {
    closeSync(fd);
  }
}

/** The config path and environment a command should use, after --env-from is applied. */
export function commandContext(cmd: Command, io: CliIo): { configFile: string; io: CliIo } {
  const opts = cmd.optsWithGlobals<CommonOptions>();
  let env = io.env;
  if (opts.envFrom) {
    const file = path.resolve(io.cwd, opts.envFrom);
    let text: string | undefined;
    try {
      text = readAtMost(file, ENV_FILE_MAX_BYTES);
    } catch {
      throw new InvalidArgumentError(`cannot read env file ${opts.envFrom}`);
    }
    if (text === undefined) throw new InvalidArgumentError(`env file ${opts.envFrom} is larger than 1 MB; is it the right file?`);
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
    .option('--against-running [url]', "also list what the file adds, removes and changes against the configuration a running kpi start loaded (its /config; default: this file's server.host and port)", urlArg)
    .action(async function (this: Command) {
      const ctx = commandContext(this, io);
      const { validateCommand } = await import('./cli/validate.ts');
      const { againstRunning } = this.opts<{ againstRunning?: string | true }>();
      setExit(await validateCommand(ctx.io, ctx.configFile, againstRunning === undefined ? {} : { againstRunning }));
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
    .option('--as-of <date>', 'last day of the synthetic data and "today" for the run (default: today)', dateArg)
    .option('--data <dir>', 'where the embedded database, caught messages and digest go', pathArg, 'data')
    .option('--fresh', 'start from an empty database')
    .option('--serve', 'then keep serving the web console (and syncing on the schedules) until Ctrl-C')
    .option('--port <n>', 'with --serve: the console\'s port (0: any free one; default $KPI_PORT, then server.port)', portArg)
    .action(async function (this: Command) {
      const opts = this.optsWithGlobals<DemoOptions & { data?: string; config?: string; port?: number | false }>();
      const ctx = commandContext(this, io);
      const configFile = opts.config ? ctx.configFile : path.resolve(io.cwd, 'config/demo.yaml');
      const { demoCommand } = await import('./cli/demo.ts');
      setExit(await demoCommand(ctx.io, configFile, { ...(opts.asOf ? { asOf: opts.asOf } : {}), dataDir: opts.data ?? 'data', ...(opts.fresh ? { fresh: true } : {}), ...(opts.serve ? { serve: true } : {}), ...(opts.port !== undefined ? { port: opts.port } : {}) }));
    });

  withCommonOptions(program.command('start'))
    .description('run on the schedules until SIGTERM: queue workers with Redis (REDIS_URL or redis.url), everything in-process without')
    .addOption(new Option('--role <role>', 'with Redis: schedule jobs, work on them, or both').choices(roles).default('all'))
    .option('--shutdown-timeout <seconds>', 'how long running jobs may take to finish on SIGTERM before they are released (1 to 86400)', shutdownTimeout, 30)
    .option('--host <address>', 'address the HTTP surface listens on (default: server.host, 127.0.0.1)', hostArg)
    .option('--port <port>', 'port of the HTTP surface, or false for none (default: $KPI_PORT, then server.port, 9464)', portArg)
    .option('--startup-timeout <seconds>', 'how long to wait for Postgres and Redis to answer at start before giving up (0 to 86400)', startupTimeout, 300)
    .option('--no-exit-with-parent', 'keep running when the process that started this one exits (by default it stops, as on SIGTERM)')
    .option('--watch-config', 'reload the configuration when its file changes, as on SIGHUP')
    .action(async function (this: Command) {
      const ctx = commandContext(this, io);
      const opts = this.opts<{ role: Role; shutdownTimeout: number; host?: string; port?: number | false; startupTimeout: number; exitWithParent: boolean; watchConfig?: boolean }>();
      const fromEnv = ctx.io.env.KPI_PORT;
      let port = opts.port;
      if (port === undefined && fromEnv !== undefined && fromEnv !== '') {
        try {
          port = portArg(fromEnv);
        } catch (err) {
          throw new InvalidArgumentError(`KPI_PORT is "${fromEnv}": ${(err as Error).message}`);
        }
      }
      const { startCommand } = await import('./cli/start.ts');
      // A reload reads --env-from's file again: a connector added with a new secret needs no restart.
      const reloadEnv = () => commandContext(this, io).io.env;
      setExit(await startCommand(ctx.io, ctx.configFile, { ...opts, port, reloadEnv, run: main }));
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
    .argument('<connector>', 'connector name from the configuration', nameArg)
    .option('--from <date>', 'first day of the window (YYYY-MM-DD)', dateArg)
    .option('--to <date>', 'last day of the window (default: today)', dateArg)
    .option('--allow-deletes', "apply the source's answer even where it would delete more of a day's stored facts than the connector's maxDeleteShare")
    .action(async function (this: Command, connector: string) {
      const ctx = commandContext(this, io);
      const { syncCommand } = await import('./cli/sync.ts');
      setExit(await syncCommand(ctx.io, ctx.configFile, connector, this.opts<{ from?: string; to?: string; allowDeletes?: boolean }>()));
    });

  withCommonOptions(program.command('check'))
    .description("check each connector's credentials and list the accounts they can see, with config lines to paste; exits 1 when one fails")
    .argument('[connector]', 'only this connector (a disabled one too)', nameArg)
    .option('--json', 'print the results as JSON')
    .action(async function (this: Command, connector: string | undefined) {
      const ctx = commandContext(this, io);
      const { checkCommand } = await import('./cli/check.ts');
      setExit(await checkCommand(ctx.io, ctx.configFile, connector, this.opts<{ json?: boolean }>()));
    });

  const connect = withCommonOptions(program.command('connect')).description("obtain a source's token and store it where the configuration's ${env:…} reads it");

  withCommonOptions(connect.command('google'))
    .description('sign in with Google (OAuth for installed apps: loopback redirect, PKCE) and store the refresh token the Google connectors read')
    .argument('[connector]', 'sign in for this connector (and every Google connector sharing its refresh token variable)', nameArg)
    .option('--env-file <file>', 'write the token to this env file: its variable line is updated or added; a new file is created with mode 0600', pathArg)
    .option('--print', 'print NAME=token on standard output')
    .option('--open', 'also try to open the URL in a browser')
    .option('--client-id <id>', "the OAuth client's id (default: the connector's auth.clientId)", textArg(500))
    .option('--client-secret <secret>', "the OAuth client's secret (default: the connector's auth.clientSecret)", textArg(500))
    .option('--testing', 'the OAuth consent screen is in Testing: the token lasts 7 days, and token_expiry rules warn on day 5')
    .option('--timeout <seconds>', "how long to wait for the browser's redirect (10 to 3600)", signInTimeout, 300)
    .option('--auth-url <url>', "Google's authorization endpoint (a sandbox, a proxy)", pathArg)
    .option('--token-url <url>', "Google's token endpoint (default: the connector's auth.tokenUrl, else Google's)", pathArg)
    .action(async function (this: Command, connector: string | undefined) {
      const ctx = commandContext(this, io);
      const { connectGoogleCommand } = await import('./cli/connect-google.ts');
      setExit(await connectGoogleCommand(ctx.io, ctx.configFile, connector, this.opts<ConnectGoogleOptions>()));
    });

  withCommonOptions(connect.command('meta'))
    .description('exchange a short-lived Meta user token ($META_SHORT_LIVED_TOKEN) for a long-lived one, show its expiry and store it')
    .argument('[connector]', 'the meta_ads connector whose accessToken variable is written', nameArg)
    .option('--env-file <file>', 'write the token to this env file: its variable line is updated or added; a new file is created with mode 0600', pathArg)
    .option('--print', 'print NAME=token on standard output')
    .option('--app-id <id>', 'the Meta app id (default: $META_APP_ID)', textArg(100))
    .option('--app-secret <secret>', "the app secret (default: the connector's appSecret, else $META_APP_SECRET)", textArg(500))
    .option('--token <token>', 'the short-lived user token (default: $META_SHORT_LIVED_TOKEN; an option shows in the shell history)', textArg(2000))
    .option('--base-url <url>', "the Graph API's base URL (default: the connector's baseUrl, else Meta's)", pathArg)
    .action(async function (this: Command, connector: string | undefined) {
      const ctx = commandContext(this, io);
      const { connectMetaCommand } = await import('./cli/connect-meta.ts');
      setExit(await connectMetaCommand(ctx.io, ctx.configFile, connector, this.opts<ConnectMetaOptions>()));
    });

  withCommonOptions(program.command('runs'))
    .description('list recent sync runs')
    .option('--connector <name>', 'only this connector', nameArg)
    .option('--limit <n>', 'how many runs to show (1 to 10000)', runsLimit, 20)
    .action(async function (this: Command) {
      const ctx = commandContext(this, io);
      const { runsCommand } = await import('./cli/runs.ts');
      setExit(await runsCommand(ctx.io, ctx.configFile, this.opts<{ connector?: string; limit?: number }>()));
    });

  withCommonOptions(program.command('status'))
    .description("each connector's health (verdict, last success, lag, next run, failing since and last error) and whether KPI values are behind their facts; exit 1 when a connector is failing")
    .option('--json', 'print the status as JSON (the object the web console reads)')
    .action(async function (this: Command) {
      const ctx = commandContext(this, io);
      const { statusCommand } = await import('./cli/status.ts');
      setExit(await statusCommand(ctx.io, ctx.configFile, this.opts<{ json?: boolean }>()));
    });

  withCommonOptions(program.command('recompute'))
    .description('recompute KPI values for the periods a date range touches; every fact without one')
    .option('--from <date>', 'first changed day (YYYY-MM-DD)', dateArg)
    .option('--to <date>', 'last changed day (default: today)', dateArg)
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
    .option('--as-of <date>', 'the day to report as of (default: today in the reporting time zone)', dateArg)
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

  withCommonOptions(alerts.command('history'))
    .description('every state change and notification, with what became of it (sent, failed, pending, silenced, inhibited), newest first')
    .option('--rule <name>', 'only this rule', nameArg)
    .option('--since <when>', 'how long back (such as 2h or 7d) or from which day (YYYY-MM-DD); default 7d', sinceArg)
    .option('--json', 'print as JSON')
    .action(async function (this: Command) {
      const ctx = commandContext(this, io);
      const { alertsHistoryCommand } = await import('./cli/alerts.ts');
      setExit(await alertsHistoryCommand(ctx.io, ctx.configFile, this.opts<HistoryOptions>()));
    });

  withCommonOptions(alerts.command('test-channel'))
    .description('send a test notification to a channel; exits 1 with the reason when it fails')
    .argument('<name>', 'channel name from the configuration', nameArg)
    .action(async function (this: Command, name: string) {
      const ctx = commandContext(this, io);
      const { alertsTestChannelCommand } = await import('./cli/alerts.ts');
      setExit(await alertsTestChannelCommand(ctx.io, ctx.configFile, name));
    });

  withCommonOptions(alerts.command('silence'))
    .description('silence notifications whose labels match, for a while')
    .requiredOption('--matcher <k=v>', 'label matcher: k=v, k!=v, k=~regex or k!~regex (repeatable; all must match)', matcherArg)
    .requiredOption('--for <duration>', 'how long, from 1m to 365d, e.g. 30m, 2h, 1d', silenceLength)
    .option('--comment <text>', 'why, for whoever looks later (up to 500 characters)', textArg(500))
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
    .argument('<id>', 'silence id (see kpi alerts silences)', silenceId)
    .action(async function (this: Command, id: number) {
      const ctx = commandContext(this, io);
      const { alertsUnsilenceCommand } = await import('./cli/alerts.ts');
      setExit(await alertsUnsilenceCommand(ctx.io, ctx.configFile, id));
    });

  withCommonOptions(program.command('digest'))
    .description('build a scheduled report (the digest by default); print it, write it to a folder, or send it')
    .option('--report <name>', 'which report under reports (default: the digest, or the only report)')
    .option('--send', "send it to the report's channels now, even if this period was sent already")
    .option('--out <dir>', 'write digest.html, digest.txt and the sparkline PNGs to this folder', pathArg)
    .option('--as-of <date>', 'the day to build it as of (default: today); it covers the period before', dateArg)
    .action(async function (this: Command) {
      const ctx = commandContext(this, io);
      const { digestCommand } = await import('./cli/alerts.ts');
      setExit(await digestCommand(ctx.io, ctx.configFile, this.opts<DigestOptions>()));
    });

  return program;
}

/** Runs the CLI and returns the exit code; never calls process.exit, so tests can drive it. */
export async function main(argv: string[], partial: Partial<CliIo> = {}): Promise<number> {
  const io = printableIo({ stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), ...partial });
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
    if (isDataDirBusy(err)) {
      // The process holding the embedded database may run the command for us.
      if (!io.host && isForwardable(argv)) {
        const { forwardCommand } = await import('./cli/forward.ts');
        const code = await forwardCommand(err.holder, argv, io);
        if (code !== null) return code;
      }
      io.stderr.write(`error: ${err.message}\n`);
      return ExitCode.failed;
    }
    io.stderr.write(`error: ${redactSecrets(errorMessage(err))}\n`);
    return ExitCode.failed;
  }
}

export { line };
