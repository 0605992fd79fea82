import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { PipelineQueues } from '../jobs/index.ts';
import type { Logger } from '../core/log.ts';
import type { Database } from '../warehouse/index.ts';
import { requireBasicAuth, type Credentials } from './basic-auth.ts';
import { readiness, type Check } from './health.ts';
import type { PipelineMetrics } from './metrics.ts';

/**
 * What the HTTP surface learns after it listens: `kpi start` binds the port first, then waits
 * for Postgres and Redis (which /readyz says meanwhile), then opens the queues.
 */
export interface ServerState {
  /** What start-up is doing while it is not done; null once started. */
  starting: string | null;
  redis: Redis | null;
  queues: PipelineQueues | null;
  /** The queues will come (the dashboard is registered for them). */
  readonly queueMode: boolean;
  /** The configuration in force (src/live-config.ts): /config shows it, /readyz its version and a refused reload. */
  config?: () => RunningConfig;
}

/** What the process loaded: names and fingerprints by section (src/config/summary.ts), and a reload it refused. */
export interface RunningConfig {
  version: string;
  sections: Record<string, Record<string, string>>;
  loadedAt: string;
  file: string;
  refused: { at: string; problems: string[] } | null;
}

interface ServerOptions {
  db: Kysely<Database>;
  metrics: PipelineMetrics;
  /** Fixed sources; `state` instead when they are filled in after the port is bound. */
  redis?: Redis | null;
  queues?: PipelineQueues | null;
  state?: ServerState;
  /** Without credentials there is no dashboard at all; with protectMetrics, /metrics asks for them too. */
  dashboard?: (Credentials & { protectMetrics?: boolean }) | undefined;
  /** GET /report: the page alert messages link to (server.publicUrl); behind the dashboard's credentials when they are set. */
  report?: ReportPage | undefined;
  /** The web console, mounted at /console (`kpi start` hands it src/console's routes); it checks its own sign-in. */
  console?: ConsoleRoutes | undefined;
  /** server.trustProxy: whose X-Forwarded-For gives the client's address (request.ip). */
  trustProxy?: boolean | string[];
  log?: Logger;
}

/** Routes registered under /console, in a plugin scope of their own. */
export type ConsoleRoutes = (scope: FastifyInstance) => Promise<void>;

/** The report page: the query string's parameters in, a status and plain text out (400 with the reason for bad parameters). */
export type ReportPage = (query: Readonly<Record<string, string>>) => Promise<{ status: number; text: string }>;

/**
 * Logs the error behind each failed readiness check once, when it first appears or changes,
 * and once when the check passes again: probes come every few seconds, and an outage would
 * otherwise fill the log with the same line.
 */
function readinessLogger(log: Logger | undefined): (checks: Record<string, Check>) => void {
  const failing = new Map<string, string>();
  return (checks) => {
    for (const [name, check] of Object.entries(checks)) {
      const error = check.ok ? undefined : (check.error ?? check.detail ?? 'failed');
      if (error !== undefined && failing.get(name) !== error) log?.warn({ check: name, reason: check.detail, err: error }, 'readiness check failed');
      if (error === undefined && failing.has(name)) log?.info({ check: name }, 'readiness check passes again');
      if (error === undefined) failing.delete(name);
      else failing.set(name, error);
    }
  };
}

export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.log ? { loggerInstance: options.log.child({ component: 'http' }) as FastifyBaseLogger } : {}),
    // Probes and scrapes arrive every few seconds; logging each would drown the job logs.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: options.trustProxy ?? false,
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  const state: ServerState = options.state ?? { starting: null, redis: options.redis ?? null, queues: options.queues ?? null, queueMode: !!options.queues };
  const logReadiness = readinessLogger(options.log);
  app.get('/readyz', async (_req, reply) => {
    const result = await readiness({ db: options.db, redis: state.redis, starting: state.starting });
    logReadiness(result.checks);
    const checks = Object.fromEntries(Object.entries(result.checks).map(([name, { error: _error, ...shown }]) => [name, shown]));
    // A refused reload leaves the process ready (it runs the previous configuration), but says so.
    const running = state.config?.();
    const config = running && { version: running.version, loadedAt: running.loadedAt, ...(running.refused ? { reloadRefused: running.refused } : {}) };
    return reply.code(result.ready ? 200 : 503).send({ status: result.ready ? 'ready' : 'not ready', ready: result.ready, checks, problems: result.problems, ...(config ? { config } : {}) });
  });

  const credentials = options.dashboard;
  // What `kpi validate --against-running` compares a file with; behind the dashboard's credentials when there are some.
  await app.register(async (scope) => {
    if (credentials) await requireBasicAuth(scope, credentials);
    scope.get('/config', async (_req, reply) => {
      const running = state.config?.();
      return running ? reply.send(running) : reply.code(404).send({ error: 'this process reports no configuration' });
    });
  });
  await app.register(async (scope) => {
    if (credentials?.protectMetrics) await requireBasicAuth(scope, credentials);
    scope.get('/metrics', async (_req, reply) => {
      const text = await options.metrics.registry.metrics();
      return reply.type(options.metrics.registry.contentType).send(text);
    });
  });

  const page = options.report;
  if (page) {
    await app.register(async (scope) => {
      // The page shows the business's numbers: whoever may see the dashboard may see them.
      if (credentials) await requireBasicAuth(scope, credentials);
      scope.get('/report', async (req, reply) => {
        const query = Object.fromEntries(Object.entries((req.query ?? {}) as Record<string, unknown>).map(([k, v]) => [k, Array.isArray(v) ? String(v[0]) : String(v)]));
        const { status, text } = await page(query);
        return reply.code(status).type('text/plain; charset=utf-8').send(text);
      });
    });
  }

  if (options.console) {
    await app.register(options.console, { prefix: '/console' });
    app.get('/', async (_req, reply) => reply.code(302).header('location', '/console/').send());
  }

  if (credentials && state.queueMode) {
    // bull-board is only loaded by the deployments that turn the dashboard on.
    const { registerDashboard } = await import('./dashboard.ts');
    await registerDashboard(app, () => state.queues, credentials);
  }
  return app;
}
