import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { Config } from './config/index.ts';
import { connectorFor, connectorRegistry, runSync, type AnyConnector, type ConnectorRegistry } from './connectors/index.ts';
import { ConfigError } from './errors.ts';
import { memoryGate, redisGate, type SyncGate } from './jobs/gate.ts';
import type { DateRange, Embedded, PipelineHandlers, QueueMode, QueueTuning, Role } from './jobs/index.ts';
import { logger, type Logger } from './log.ts';
import { errorMessage } from './errors.ts';
import type { AlertLoop } from './metrics/alerts/index.ts';
import type { MetricsSources, PipelineMetrics } from './server/index.ts';
import { abandonRuns, abandonStaleRuns, pruneHistory, unfinishedRuns, type Database, type Warehouse } from './warehouse/index.ts';

// Everything beyond the sync itself (the metrics and alerts engines, the queues, the HTTP
// server, notification channels) is imported where it is first used: a process that only
// syncs (`kpi sync`, a backfill) then never loads it, which saves tens of megabytes of RSS.

export type { ConnectorRegistry };

/** What the pipeline needs from src/metrics; tests pass their own to watch the chain. */
export interface MetricsEngine {
  recompute(db: Kysely<Database>, config: Config, range: DateRange): Promise<unknown>;
  evaluateGoals(db: Kysely<Database>, config: Config, asOf: Date): Promise<unknown>;
}

export const metricsEngine: MetricsEngine = {
  recompute: async (db, config, range) => (await import('./metrics/index.ts')).recompute(db, config, range),
  evaluateGoals: async (db, config, asOf) => (await import('./metrics/index.ts')).evaluateGoals(db, config, asOf),
};

/** Alert rules and delivery: src/metrics/alerts by default; tests pass their own. */
export interface AlertsEngine {
  evaluate(db: Kysely<Database>, config: Config, asOf: Date): Promise<{ outboxIds: number[] }>;
  deliver(db: Kysely<Database>, config: Config, outboxIds: number[]): Promise<void>;
}

export interface HandlerDeps {
  config: Config;
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

export function createPipelineHandlers(deps: HandlerDeps): PipelineHandlers {
  const { config, db, log } = deps;
  const registry = deps.connectors ?? connectorRegistry;
  const metrics = deps.metrics ?? metricsEngine;
  let alertsEngine: Promise<AlertsEngine> | undefined;
  const alerts = (): Promise<AlertsEngine> =>
    (alertsEngine ??= deps.alerts
      ? Promise.resolve(deps.alerts)
      : import('./metrics/alerts/index.ts').then((m) => m.createAlertsEngine({ log, ...(deps.now ? { now: deps.now } : {}) })));
  return {
    async sync(job, ctx = {}) {
      const cfg = config.connectors.find((c) => c.name === job.connector);
      if (!cfg) throw new ConfigError(`no connector named "${job.connector}" in ${config.file}`);
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
      });
      const { run } = result;
      const own = run.touched_from && run.touched_to ? { from: run.touched_from, to: run.touched_to } : null;
      const touched = own && carried ? { from: own.from < carried.from ? own.from : carried.from, to: own.to > carried.to ? own.to : carried.to } : (own ?? carried);
      return { ok: result.ok, runId: run.id, run, touched, ...(result.ok ? {} : { error: result.error }) };
    },

    async recompute(range) {
      await metrics.recompute(db, config, range);
    },

    async evaluate(asOf) {
      await metrics.evaluateGoals(db, config, asOf);
      return (await alerts()).evaluate(db, config, asOf);
    },

    async notify(outboxIds) {
      if (outboxIds.length === 0) return;
      await (await alerts()).deliver(db, config, outboxIds);
    },
  };
}

export interface AppOptions {
  config: Config;
  /** Opened (and migrated) by the caller, who also closes it after stop(). */
  warehouse: Warehouse;
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  role?: Role;
  connectors?: ConnectorRegistry;
  metrics?: MetricsEngine;
  alerts?: AlertsEngine;
  tuning?: Partial<QueueTuning>;
  /** false: no HTTP surface. */
  http?: { port?: number; host?: string } | false;
  /** Runs with no heartbeat for this long are closed at start (connectors since removed). */
  staleRunMs?: number;
  /** false: no alert loop and no digest schedule (tests of the queue alone). */
  background?: boolean;
}

export interface App {
  mode: 'queue' | 'embedded';
  handlers: PipelineHandlers;
  metrics: PipelineMetrics;
  queue?: QueueMode;
  embedded?: Embedded;
  alertLoop?: AlertLoop;
  digestTask?: { stop(): unknown };
  pruneTask?: { stop(): unknown };
  server?: FastifyInstance;
  /** The port the HTTP surface listens on (useful with port 0). */
  port?: number;
  stop(timeoutMs?: number): Promise<void>;
}

export function redisUrlOf(config: Config, env: NodeJS.ProcessEnv): string | undefined {
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
  const handlers = metrics.instrument(
    createPipelineHandlers({ config, db, log, connectors: options.connectors, metrics: options.metrics, alerts: options.alerts }),
  );

  if (options.role !== 'worker') {
    const abandoned = await abandonStaleRuns(db, options.staleRunMs ?? 3_600_000);
    if (abandoned > 0) log.warn({ abandoned }, 'closed runs left running by a stopped process');
  }

  const app: App = { mode: redisUrl ? 'queue' : 'embedded', handlers, metrics, stop: async () => {} };
  let stopping: Promise<void> | undefined;
  app.stop = (timeoutMs = 30_000) => {
    stopping ??= (async () => {
      // Jobs first: the probes keep answering while running work winds down.
      await app.digestTask?.stop();
      await app.pruneTask?.stop();
      await app.alertLoop?.stop();
      await app.queue?.stop(timeoutMs);
      await app.embedded?.stop(timeoutMs);
      await app.server?.close();
    })();
    return stopping;
  };

  try {
    if (redisUrl) {
      const { startQueueMode } = await import('./jobs/queue-mode.ts');
      app.queue = await startQueueMode({ redisUrl, prefix: config.redis.prefix, connectors: config.connectors, handlers, log, role: options.role ?? 'all', tuning: { ...tuningOf(config), ...options.tuning } });
      sources.queues = app.queue.queues;
    } else {
      if (options.role && options.role !== 'all') log.info({ role: options.role }, 'no Redis configured: embedded mode runs everything; --role is ignored');
      const { startEmbedded } = await import('./jobs/embedded.ts');
      const { memoryGate } = await import('./jobs/gate.ts');
      app.embedded = startEmbedded({
        connectors: config.connectors,
        handlers,
        log,
        gate: memoryGate(config.jobs.sourceLimits as Record<string, number>),
        retry: { attempts: config.jobs.attempts, baseMs: config.jobs.backoff },
      });
    }
    // Every scheduler replica runs these: evaluation ticks and outbox claims make them safe
    // side by side, and without them stale data would go unnoticed when no sync runs at all.
    if (options.role !== 'worker' && options.background !== false) {
      const { startAlertLoop } = await import('./metrics/alerts/index.ts');
      app.alertLoop = startAlertLoop(db, config, { log });
      const { default: cron } = await import('node-cron');
      app.pruneTask = cron.schedule(
        config.retention.schedule,
        async () => {
          try {
            const r = await pruneHistory(db, config.retention);
            log.info(r, 'pruned history older than the retention settings');
          } catch (err) {
            log.warn({ err: errorMessage(err) }, 'pruning history failed; trying again at the next scheduled time');
          }
        },
        { timezone: 'UTC' },
      );
      const digest = config.digest;
      if (digest) {
        const { sendDigest } = await import('./notify/index.ts');
        app.digestTask = cron.schedule(
          digest.schedule,
          async () => {
            try {
              const r = await sendDigest(db, config, { log });
              log.info({ sent: r.sent, skipped: r.skipped, failed: r.failed }, 'digest round');
            } catch (err) {
              log.warn({ err: errorMessage(err) }, 'digest failed');
            }
          },
          { timezone: digest.timezone },
        );
      }
    }
    if (options.http !== false) {
      app.server = await createServer({ db, metrics, redis: app.queue?.redis ?? null, queues: app.queue?.queues ?? null, dashboard: config.server.dashboard, log });
      await app.server.listen({ port: options.http?.port ?? config.server.port, host: options.http?.host ?? '0.0.0.0' });
      const address = app.server.server.address();
      app.port = typeof address === 'object' && address ? address.port : undefined;
    }
  } catch (err) {
    // A half-started app (port taken, Redis refusing) must not keep connections open.
    await app.stop(0);
    throw err;
  }
  log.info({ mode: app.mode, role: options.role ?? 'all', port: app.port }, 'kpi pipeline started');
  return app;
}

/**
 * Resolves with the first of `signals` the process receives. The handlers are removed then,
 * so a second signal during a slow shutdown ends the process the default way.
 */
export function shutdownSignal(signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handler = (signal: NodeJS.Signals) => {
      for (const s of signals) process.off(s, handler);
      resolve(signal);
    };
    for (const s of signals) process.on(s, handler);
  });
}
