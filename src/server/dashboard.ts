import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
import type { PipelineQueues } from '../jobs/index.ts';
import { requireBasicAuth, type Credentials } from './basic-auth.ts';
import { DASHBOARD_PATH } from './dashboard-path.ts';

/**
 * bull-board behind basic auth, in its own plugin scope so the auth hook covers only it. The
 * port is bound before the queues exist (start-up may wait for Redis), so they are handed to
 * the board by the first request that finds them open.
 */
export async function registerDashboard(app: FastifyInstance, queuesOf: () => PipelineQueues | null, credentials: Credentials): Promise<void> {
  await app.register(async (scope) => {
    await requireBasicAuth(scope, credentials);
    const adapter = new FastifyAdapter();
    adapter.setBasePath(DASHBOARD_PATH);
    // @bull-board/fastify pins its own patch release of @bull-board/api; the two declare the
    // same adapter interface, but TypeScript treats their private fields as different types.
    const serverAdapter = adapter as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'];
    const board = createBullBoard({ queues: [], serverAdapter });
    let shown: PipelineQueues | null = null;
    scope.addHook('onRequest', async () => {
      const queues = queuesOf();
      if (queues && queues !== shown) board.replaceQueues(queues.all.map((q) => new BullMQAdapter(q)));
      shown = queues;
    });
    await scope.register(adapter.registerPlugin(), { prefix: DASHBOARD_PATH });
  });
}
