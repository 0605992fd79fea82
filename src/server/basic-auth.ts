import { timingSafeEqual } from 'node:crypto';
import fastifyBasicAuth from '@fastify/basic-auth';
import type { FastifyInstance } from 'fastify';

export interface Credentials {
  user: string;
  password: string;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Basic auth on every route of `scope`: register it inside a plugin so it covers nothing else. */
export async function requireBasicAuth(scope: FastifyInstance, credentials: Credentials): Promise<void> {
  await scope.register(fastifyBasicAuth, {
    authenticate: { realm: 'kpi-pipeline' },
    async validate(user, password) {
      // Both compared, always, so the answer takes as long whichever one is wrong.
      const ok = [same(user, credentials.user), same(password, credentials.password)].every(Boolean);
      if (!ok) return new Error('invalid credentials');
    },
  });
  scope.addHook('onRequest', scope.basicAuth);
}
