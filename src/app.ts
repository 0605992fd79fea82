import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { Config } from './config/index.ts';
import { connectorFor, connectorRegistry, runSync, type AnyConnector, type ConnectorRegistry } from './connectors/index.ts';
import { memoryGate, redisGate, type SyncGate } from './jobs/gate.ts';
import type { ChainRange, Embedded, NotifyOutcome, PipelineHandlers, QueueMode, QueueTuning, Role } from './jobs/index.ts';
import type { DateRange } from './core/dates.ts';
import { logger, type Logger } from './core/log.ts';
import { errorMessage } from './core/errors.ts';
import type { AlertLoop } from './alerts/index.ts';
import type { GoalsAssessment } from './metrics/index.ts';
import type { MetricsSources, PipelineMetrics, ReportPage, ServerState } from './server/index.ts';
import { waitForService } from './core/resilience/index.ts';
import { abandonRuns, abandonStaleRuns, isLastingRefusal, migrateToLatest, ping, pruneHistory, recordSkippedRun, STALE_RUN_MS, unfinishedRuns, type Database, type Warehouse } from './warehouse/index.ts';
import { createLiveConfig, type LiveConfig } from './live-config.ts';
import type { CronTimer } from './jobs/cron-timer.ts';

// Everything beyond the sync itself (the metrics and alerts engines, the queues, the HTTP
// server, notification channels) is imported where it is first used: a process that only
// syncs (`kpi sync`, a backfill) then never loads it, which saves tens of megabytes of RSS.

export type { ConnectorRegistry };

/** What the pipeline needs from src/metrics; tests pass their own to watch the chain. */
export interface MetricsEngine {
  /** KPI values for `range`, and for every day whose KPI values are behind its facts. */
  recompute(db: Kysely<Database>, config: Config, range: DateRange): Promise<unknown>;
  /** Every goal and OKR as of `asOf`, stored; the assessment is handed on to the goal alert rules. */
  recordGoals(db: Kysely<Database>, config: Config, asOf: Date): Promise<GoalsAssessment | void>;
  /** Runs of days whose KPI values are behind their facts (none when not given). */
  owed?(db: Kysely<Database>, config: Config): Promise<DateRange[]>;
  /**
   * Which connectors feed which KPI, for the kpi_values view's `complete` (src/metrics/completeness.ts),
   * and the KPI catalogue and OKRs the BI views read (src/metrics/bi-catalogue.ts).
   */
  refreshCompleteness?(db: Kysely<Database>, config: Config): Promise<void>;
}

export const metricsEngine: MetricsEngine = {
  recompute: async (db, config, range) => (await import('./metrics/index.ts')).recomputeOwed(db, config, range),
  recordGoals: async (db, config, asOf) => (await import('./metrics/index.ts')).recordGoals(db, config, asOf),
  owed: async (db, config) => (await import('./metrics/index.ts')).owedRanges(db, config),
  refreshCompleteness: async (db, config) => (await import('./metrics/index.ts')).storeConfigTables(db, config),
};

/** Alert rules and delivery: src/alerts by default; tests pass their own. */
export interface AlertsEngine {
  /**
   * The outbox rows it created, and when they are due (the notify step runs then). `goals`: the
   * assessment the evaluate step just recorded, which goal rules use rather than assess the goals again.
   */
  evaluateAlerts(db: Kysely<Database>, config: Config, asOf: Date, goals?: GoalsAssessment): Promise<{ outboxIds: number[]; notifyAt?: Date }>;
  deliver(db: Kysely<Database>, config: Config, outboxIds: number[]): Promise<NotifyOutcome | void>;
}

interface HandlerDeps {
  config: Config;
  /** A running process's configuration, which a reload replaces: each step reads it when it runs. */
  live?: Pick<LiveConfig, 'current'>;
  db: Kysely<Database>;
  log: Logger;
  /** Connector implementations by type; the built-in registry by default. */
  connectors?: ConnectorRegistry;
  /** src/metrics by default. */
  metrics?: MetricsEngine | undefined;
  alerts?: AlertsEngine | undefined;
  now?: () => Date;
}

/** A type with no implementation in this build still gets a run row that says so. */
async function implementationOf(type: string, registry: ConnectorRegistry): Promise<AnyConnector> {
  try {
    return await connectorFor(type, registry);
  } catch (err) {
    return {
      type,
      defaultLookbackDays: () => 0,
      streams: () => [],
      open() {
        throw err;
      },
    };
  }
}

/** What a job for a connector the configuration no longer has is recorded with. */
export function notConfiguredMessage(connector: string): string {
  return `connector ${connector} is not in the configuration (removed or disabled); the job was not run`;
}

export function createPipelineHandlers(deps: HandlerDeps): PipelineHandlers {
  const { db, log } = deps;
  const current = (): Config => deps.live?.current() ?? deps.config;
  const registry = deps.connectors ?? connectorRegistry;
  const metrics = deps.metrics ?? metricsEngine;
  let alertsEngine: Promise<AlertsEngine> | undefined;
  const alerts = (): Promise<AlertsEngine> =>
    (alertsEngine ??= deps.alerts
      ? Promise.resolve(deps.alerts)
      : import('./alerts/index.ts').then((m) => m.createAlertsEngine({ log, ...(deps.now ? { now: deps.now } : {}) })));
  const notConfigured: PipelineHandlers['notConfigured'] = async (job, ctx = {}) => {
    const error = notConfiguredMessage(job.connector);
    const run = await recordSkippedRun(db, { connector: job.connector, trigger: job.trigger, jobId: ctx.jobId ?? null, window: job.window ?? null, error, errorKind: 'not-configured' });
    (ctx.log ?? log).warn({ connector: job.connector, runId: run.id, trigger: job.trigger }, error);
    return run;
  };
  return {
    notConfigured,
    async sync(job, ctx = {}) {
      const config = current();
      const cfg = config.connectors.find((c) => c.name === job.connector);
      if (!cfg) {
        // Taken off by a reload between the job's start and here.
        const run = await notConfigured(job, ctx);
        return { ok: true, runId: run.id, run, touched: null };
      }
      const jobLog = ctx.log ?? log;
      // Runs of a dead worker: closed, and the days they committed (never recomputed, and
      // re-read unchanged by this sync) carried into this sync's chain.
      let carried: DateRange | null = null;
      if (ctx.exclusive) {
        const stale = await unfinishedRuns(db, cfg.name, ctx.jobId);
        const abandoned = await abandonRuns(db, stale.staleIds);
        if (abandoned > 0) jobLog.warn({ connector: cfg.name, abandoned, touched: stale.touched }, 'marked runs of a stopped worker as abandoned');
        carried = stale.touched;
      }
      const result = await runSync({
        db,
        connector: await implementationOf(cfg.type, registry),
        config: cfg,
        log: jobLog,
        configDir: config.configDir,
        window: job.window,
        trigger: job.trigger,
        jobId: ctx.jobId ?? null,
        signal: ctx.signal,
        onDay: ctx.onDay,
        now: deps.now,
        allowDeletes: job.allowDeletes === true,
      });
      const { run } = result;
      const own = run.touched_from && run.touched_to ? { from: run.touched_from, to: run.touched_to } : null;
      let touched: ChainRange | null = own && carried ? { from: own.from < carried.from ? own.from : carried.from, to: own.to > carried.to ? own.to : carried.to } : (own ?? carried);
      // Nothing changed, but KPI work may still be owed (a process killed after a commit):
      // this sync's chain takes it along, as recompute picks up every owed day.
      if (!touched) touched = await owedChainRange(metrics, db, config);
      return { ok: result.ok, runId: run.id, run, touched, ...(result.ok ? {} : { error: result.error }) };
    },

    async recompute(range) {
      const config = current();
      if (!range.owed) return void (await metrics.recompute(db, config, range));
      // Every sync that changes nothing starts such a chain while days are owed (after a change
      // of fxRates, the whole history): the first to run does the work, the others find none.
      const owed = await owedChainRange(metrics, db, config);
      if (!owed) return log.info({ range: { from: range.from, to: range.to } }, 'the KPI work this chain was started for is done already; nothing to recompute');
      await metrics.recompute(db, config, owed);
    },

    async evaluate(asOf) {
      const config = current();
      // After every sync and recompute: a sync can complete days without changing a fact.
      await metrics.refreshCompleteness?.(db, config);
      const goals = await metrics.recordGoals(db, config, asOf);
      return (await alerts()).evaluateAlerts(db, config, asOf, goals ?? undefined);
    },

    async notify(outboxIds) {
      if (outboxIds.length === 0) return;
      return (await alerts()).deliver(db, current(), outboxIds);
    },
  };
}

/** The first run of days whose KPI work is owed, as a chain's range (recompute takes the others along); null when none is. */
async function owedChainRange(metrics: MetricsEngine, db: Kysely<Database>, config: Config): Promise<ChainRange | null> {
  const first = (await metrics.owed?.(db, config))?.[0];
  return first ? { from: first.from, to: first.to, owed: true } : null;
}

interface AppOptions {
  config: Config;
  /** Opened (and migrated, unless `startup.migrate`) by the caller, who also closes it after stop(). */
  warehouse: Warehouse;
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  role?: Role;
  connectors?: ConnectorRegistry;
  metrics?: MetricsEngine;
  alerts?: AlertsEngine;
  tuning?: Partial<QueueTuning>;
  /** false (or port false): no HTTP surface. */
  http?: { port?: number | false; host?: string } | false;
  /**
   * `kpi start`: the HTTP port is bound first, then Postgres (and in queue mode Redis) are
   * waited for with backoff until `timeoutMs` has passed, /readyz saying what it waits for;
   * `migrate` applies the migrations once the database answers. Without it an unreachable
   * service fails the start at once (tests).
   */
  startup?: { timeoutMs: number; migrate?: boolean; signal?: AbortSignal };
  /** Runs with no heartbeat for this long are closed at start (connectors since removed). */
  staleRunMs?: number;
  /** false: no alert loop and no report schedules (tests of the queue alone). */
  background?: boolean;
  /** GET /report, the page alert messages link to when server.publicUrl is set (`kpi start` renders it as `kpi report` does). */
  reportPage?: ReportPage;
  /** false: no web console at /console (it is served by default wherever the HTTP surface is). */
  console?: false;
  /**
   * Reads the configuration file again, with every check `kpi validate` makes (throws a
   * ConfigError when it is invalid): what a reload (src/live-config.ts) loads. Without it the
   * configuration is the one given, for good.
   */
  reloadConfig?: () => Config;
}

export interface App {
  mode: 'queue' | 'embedded';
  handlers: PipelineHandlers;
  metrics: PipelineMetrics;
  queue?: QueueMode;
  embedded?: Embedded;
  /** Embedded mode: the claims on connectors, which commands run for other processes share. */
  gate?: SyncGate;
  alertLoop?: AlertLoop;
  /** One cron timer per scheduled report, by report name. */
  reportTasks?: Map<string, CronTimer>;
  pruneTask?: CronTimer;
  /** The configuration in force, its version, and its reloads. */
  live: LiveConfig;
  server?: FastifyInstance;
  /** The port the HTTP surface listens on (useful with port 0). */
  port?: number;
  stop(timeoutMs?: number): Promise<void>;
}

function redisUrlOf(config: Config, env: NodeJS.ProcessEnv): string | undefined {
  return env.REDIS_URL || config.redis.url || undefined;
}

/**
 * The claim on connectors for syncs run by a command (`kpi run --once`, `kpi sync`): with
 * Redis configured it is the one the workers use, so a command never syncs a connector a
 * worker is syncing.
 */
export async function openSyncGate(config: Config, env: NodeJS.ProcessEnv): Promise<{ gate: SyncGate; close(): Promise<void> }> {
  const url = redisUrlOf(config, env);
  if (!url) return { gate: memoryGate(), close: async () => {} };
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 5_000 });
  redis.on('error', () => {});
  return {
    gate: redisGate(redis, { prefix: config.redis.prefix }),
    close: async () => {
      redis.disconnect();
    },
  };
}

/** The config's `jobs` as queue tuning; the rest keeps its defaults. */
export function tuningOf(config: Config): Partial<QueueTuning> {
  const { syncConcurrency, attempts, backoff, sourceLimits } = config.jobs;
  return { syncConcurrency, attempts, backoffMs: backoff, sourceLimits: sourceLimits as Record<string, number> };
}

/** `kpi start`: queue mode when Redis is configured, otherwise everything in this process. */
export async function startApp(options: AppOptions): Promise<App> {
  const { config, warehouse } = options;
  const db = warehouse.db;
  const log = options.log ?? logger();
  const redisUrl = redisUrlOf(config, options.env ?? process.env);

  const { createPipelineMetrics, createServer } = await import('./server/index.ts');
  const sources: MetricsSources = { db };
  const metrics = createPipelineMetrics(sources);
  const live = createLiveConfig({ initial: config, ...(options.reloadConfig ? { load: options.reloadConfig } : {}), log });
  const handlers = metrics.instrument(
    createPipelineHandlers({ config, live, db, log, connectors: options.connectors, metrics: options.metrics, alerts: options.alerts }),
  );

  const app: App = { mode: redisUrl ? 'queue' : 'embedded', handlers, metrics, live, stop: async () => {} };
  let stopping: Promise<void> | undefined;
  // A reload being applied when the stop comes (a SIGHUP and a SIGTERM a moment apart) may be
  // starting timers and loops: it is let finish first, so that what it started is stopped too.
  let applying: Promise<unknown> = Promise.resolve();
  app.stop = (timeoutMs = 30_000) => {
    stopping ??= (async () => {
      let waited: NodeJS.Timeout | undefined;
      await Promise.race([applying, new Promise((resolve) => (waited = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(waited);
      // Jobs first: the probes keep answering while running work winds down.
      for (const task of app.reportTasks?.values() ?? []) task.stop();
      await app.pruneTask?.stop();
      await app.alertLoop?.stop();
      await app.queue?.stop(timeoutMs);
      await app.embedded?.stop(timeoutMs);
      await app.server?.close();
    })();
    return stopping;
  };

  // What /readyz reports until start-up is done; the queues and their Redis come later.
  const state: ServerState = {
    starting: 'starting up',
    redis: null,
    queues: null,
    queueMode: !!redisUrl,
    config: () => {
      const refused = live.refused();
      return { ...live.summary(), loadedAt: live.loadedAt().toISOString(), file: live.current().file, refused: refused && { at: refused.at.toISOString(), problems: refused.problems } };
    },
  };
  const port = options.http === false ? false : (options.http?.port ?? config.server.port);
  const { startup } = options;
  const deadline = Date.now() + (startup?.timeoutMs ?? 0);
  const waiting = (what: string) => void (state.starting = what);
  try {
    // The HTTP port is bound before anything else: a second process on the same host fails
    // at once, never after it has claimed a job, and while start-up waits for Postgres or
    // Redis, /readyz says so.
    if (port !== false) {
      const host = (options.http && options.http.host) || config.server.host;
      // The console reads the configuration in force at each request; it asks for a sign-in off loopback.
      const console = options.console === false ? undefined : (await import('./console/index.ts')).consoleRoutes({ db, config: () => live.current(), host, log });
      app.server = await createServer({ db, metrics, state, dashboard: config.server.dashboard, report: options.reportPage, console, trustProxy: config.server.trustProxy, log });
      await app.server.listen({ port, host });
      const address = app.server.server.address();
      app.port = typeof address === 'object' && address ? address.port : undefined;
    }
    if (startup) {
      await waitForService({ service: `Postgres at ${warehouse.location}`, reach: () => ping(db), hopeless: isLastingRefusal, deadline, log, onWaiting: waiting, ...(startup.signal ? { signal: startup.signal } : {}) });
      if (startup.migrate) {
        state.starting = 'applying migrations';
        const { applied } = await migrateToLatest(db);
        if (applied.length > 0) log.info({ applied }, 'applied migrations');
      }
    }
    if (options.role !== 'worker') {
      const abandoned = await abandonStaleRuns(db, options.staleRunMs ?? STALE_RUN_MS);
      if (abandoned > 0) log.warn({ abandoned }, 'closed runs left running by a stopped process');
      await storeConfigTables(options.metrics ?? metricsEngine, db, config, log);
    }
    if (redisUrl) {
      const { startQueueMode } = await import('./jobs/queue-mode.ts');
      app.queue = await startQueueMode({
        redisUrl,
        prefix: config.redis.prefix,
        connectors: config.connectors,
        // Only when there is a file to read again: otherwise the job is recorded as not configured at once.
        ...(options.reloadConfig ? { reread: () => live.reload({ reason: 'a job names a connector this process does not know', ifChanged: true }) } : {}),
        handlers,
        log,
        role: options.role ?? 'all',
        tuning: { ...tuningOf(config), ...options.tuning },
        ...(startup ? { waitForRedis: { deadline, onWaiting: waiting, ...(startup.signal ? { signal: startup.signal } : {}) } } : {}),
        beforeWork: async (queue) => {
          state.redis = queue.redis;
          state.queues = queue.queues;
          state.starting = 'starting the queues';
        },
      });
      sources.queues = app.queue.queues;
    } else {
      if (options.role && options.role !== 'all') log.info({ role: options.role }, 'no Redis configured: embedded mode runs everything; --role is ignored');
      const { startEmbedded } = await import('./jobs/embedded.ts');
      app.gate = memoryGate(config.jobs.sourceLimits as Record<string, number>);
      app.embedded = startEmbedded({
        connectors: config.connectors,
        handlers,
        log,
        gate: app.gate,
        retry: { attempts: config.jobs.attempts, baseMs: config.jobs.backoff },
      });
    }
    // Every scheduler replica runs these: evaluation ticks and outbox claims make them safe
    // side by side, and without them stale data would go unnoticed when no sync runs at all.
    const background = options.role !== 'worker' && options.background !== false ? await startBackground(app, db, log) : undefined;
    // From here on a reload changes what runs, not only what the next step reads.
    live.onApply((next, previous) => {
      const run = (async () => {
        if (stopping) return;
        if (options.role !== 'worker') await storeConfigTables(options.metrics ?? metricsEngine, db, next, log);
        if (app.queue) {
          const r = await app.queue.reconfigure(next.connectors);
          if (r) log.info(r, 'job schedulers reconciled with the new configuration');
        }
        if (app.embedded) log.info(app.embedded.reconfigure(next.connectors), 'connector timers follow the new configuration');
        // A stop that gave up waiting for this apply must not find new timers started behind it.
        if (!stopping) await background?.reconfigure(next, previous, () => stopping !== undefined);
      })();
      applying = run.catch(() => {});
      return run;
    });
    if (options.role !== 'worker') await takeUpOwedWork(app, options.metrics ?? metricsEngine, db, config, log);
    state.starting = null;
  } catch (err) {
    // A half-started app (port taken, Redis refusing) must not keep connections open.
    await app.stop(0);
    throw err;
  }
  log.info({ mode: app.mode, role: options.role ?? 'all', port: app.port }, 'kpi pipeline started');
  return app;
}

/**
 * What every scheduler replica runs besides the queues: the alert loop, the prune and one
 * timer per scheduled report; evaluation ticks and outbox claims make them safe side by side,
 * and without them stale data would go unnoticed when no sync runs at all. Each timer reads
 * the configuration in force when it fires; a reload restarts the alert loop (its rules and
 * channels are fixed when it starts) and only the timers whose schedule changed.
 */
async function startBackground(app: App, db: Kysely<Database>, log: Logger): Promise<{ reconfigure(next: Config, previous: Config, stopping: () => boolean): Promise<void> }> {
  const { startAlertLoop, sendDigest } = await import('./alerts/index.ts');
  const { startCronTimer } = await import('./jobs/cron-timer.ts');
  const current = () => app.live.current();
  app.alertLoop = startAlertLoop(db, current(), { log });
  const startPrune = (schedule: string) =>
    startCronTimer({ pattern: schedule, timezone: 'UTC' }, async () => {
      try {
        const r = await pruneHistory(db, current().retention);
        log.info(r, 'pruned history older than the retention settings');
      } catch (err) {
        log.warn({ err: errorMessage(err) }, 'pruning history failed; trying again at the next scheduled time');
      }
    });
  app.pruneTask = startPrune(current().retention.schedule);
  // Each report on its own schedule, in every scheduler replica: digest_sends claims send
  // each (report, period, channel) once whichever fires first.
  const reports = new Map<string, { key: string; task: CronTimer }>();
  app.reportTasks = new Map();
  const syncReports = (config: Config) => {
    const wanted = new Map(config.reports.map((r) => [r.name, r]));
    for (const [name, { task }] of reports) {
      if (wanted.has(name)) continue;
      task.stop();
      reports.delete(name);
    }
    for (const report of wanted.values()) {
      const key = `${report.schedule}|${report.timezone}`;
      const had = reports.get(report.name);
      if (had?.key === key) continue;
      had?.task.stop();
      const name = report.name;
      const task = startCronTimer({ pattern: report.schedule, timezone: report.timezone }, async () => {
        try {
          const r = await sendDigest(db, current(), { report: name, log });
          log.info({ report: name, sent: r.sent, skipped: r.skipped, retrying: r.retrying.map((x) => x.channel), failed: r.failed }, 'report round');
        } catch (err) {
          log.warn({ report: name, err: errorMessage(err) }, 'report failed');
        }
      });
      reports.set(name, { key, task });
    }
    app.reportTasks = new Map([...reports].map(([name, { task }]) => [name, task]));
  };
  syncReports(current());
  return {
    async reconfigure(next, previous, stopping) {
      syncReports(next);
      if (next.retention.schedule !== previous.retention.schedule) {
        app.pruneTask?.stop();
        app.pruneTask = startPrune(next.retention.schedule);
      }
      await app.alertLoop?.stop();
      if (!stopping()) app.alertLoop = startAlertLoop(db, next, { log });
    },
  };
}

/**
 * KPI work a stopped process left owed (facts committed, KPI values never recomputed from
 * them) starts its chain at start-up, as a sync that had just changed those days would.
 */
/**
 * The configuration's tables (which connectors feed each KPI; the catalogue and OKRs the BI views
 * read) follow the file a process loaded; the evaluate step writes them again after every sync.
 */
async function storeConfigTables(engine: MetricsEngine, db: Kysely<Database>, config: Config, log: Logger): Promise<void> {
  try {
    await engine.refreshCompleteness?.(db, config);
  } catch (err) {
    log.warn({ err: errorMessage(err) }, 'could not store the KPI catalogue for the BI views; the next evaluation does');
  }
}

async function takeUpOwedWork(app: App, engine: MetricsEngine, db: Kysely<Database>, config: Config, log: Logger): Promise<void> {
  let owed: ChainRange | null;
  try {
    owed = await owedChainRange(engine, db, config);
  } catch (err) {
    log.warn({ err: errorMessage(err) }, 'could not check for KPI work owed; the next sync takes it up');
    return;
  }
  if (!owed) return;
  // One chain is enough: recompute takes every owed day along (and replicas starting together do it once).
  log.warn({ owed: { from: owed.from, to: owed.to } }, 'KPI values are behind their facts on some days (a process stopped before recomputing them); recomputing');
  if (app.queue) await app.queue.chain(owed);
  else app.embedded?.chain(owed);
}

/**
 * Resolves with the first of `signals` the process receives, or with `other`'s value when it
 * settles first (a reason to stop that is no signal). The handlers are removed then, so a
 * second signal during a slow shutdown ends the process the default way.
 */
export function shutdownSignal<T = never>(signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'], other?: Promise<T>): Promise<NodeJS.Signals | T> {
  return new Promise((resolve) => {
    const done = (reason: NodeJS.Signals | T) => {
      for (const s of signals) process.off(s, handler);
      resolve(reason);
    };
    const handler = (signal: NodeJS.Signals) => done(signal);
    for (const s of signals) process.on(s, handler);
    void other?.then(done);
  });
}
