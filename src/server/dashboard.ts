import { timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import fastifyBasicAuth from '@fastify/basic-auth';
import type { FastifyInstance } from 'fastify';
import type { PipelineQueues } from '../jobs/index.ts';
import { DASHBOARD_PATH } from './dashboard-path.ts';

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** bull-board behind basic auth, in its own plugin scope so the auth hook covers only it. */
export async function registerDashboard(app: FastifyInstance, queues: PipelineQueues, credentials: { user: string; password: string }): Promise<void> {
  await app.register(async (scope) => {
    await scope.register(fastifyBasicAuth, {
      authenticate: { realm: 'kpi-pipeline' },
      async validate(user, password) {
        // Both compared, always, so the answer takes as long whichever one is wrong.
        const ok = [same(user, credentials.user), same(password, credentials.password)].every(Boolean);
        if (!ok) return new Error('invalid dashboard credentials');
      },
    });
    scope.addHook('onRequest', scope.basicAuth);
    const adapter = new FastifyAdapter();
    adapter.setBasePath(DASHBOARD_PATH);
    // @bull-board/fastify pins its own patch release of @bull-board/api; the two declare the
    // same adapter interface, but TypeScript treats their private fields as different types.
    const serverAdapter = adapter as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'];
    createBullBoard({ queues: queues.all.map((q) => new BullMQAdapter(q)), serverAdapter });
    await scope.register(adapter.registerPlugin(), { prefix: DASHBOARD_PATH });
  });
}
