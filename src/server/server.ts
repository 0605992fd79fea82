import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { PipelineQueues } from '../jobs/index.ts';
import type { Logger } from '../log.ts';
import type { Database } from '../warehouse/index.ts';
import { readiness } from './health.ts';
import type { PipelineMetrics } from './metrics.ts';

export interface ServerOptions {
  db: Kysely<Database>;
  metrics: PipelineMetrics;
  redis?: Redis | null;
  queues?: PipelineQueues | null;
  /** Without credentials there is no dashboard at all. */
  dashboard?: { user: string; password: string } | undefined;
  log?: Logger;
}

export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.log ? { loggerInstance: options.log.child({ component: 'http' }) as FastifyBaseLogger } : {}),
    // Probes and scrapes arrive every few seconds; logging each would drown the job logs.
    logController: new LogController({ disableRequestLogging: true }),
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const result = await readiness({ db: options.db, redis: options.redis ?? null });
    return reply.code(result.ready ? 200 : 503).send({ status: result.ready ? 'ready' : 'not ready', ...result });
  });

  app.get('/metrics', async (_req, reply) => {
    const text = await options.metrics.registry.metrics();
    return reply.type(options.metrics.registry.contentType).send(text);
  });

  if (options.dashboard && options.queues) {
    // bull-board is only loaded by the deployments that turn the dashboard on.
    const { registerDashboard } = await import('./dashboard.ts');
    await registerDashboard(app, options.queues, options.dashboard);
  }
  return app;
}
