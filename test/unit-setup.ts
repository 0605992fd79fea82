import type { TestProject } from 'vitest/node';
import { writePgliteTemplate } from './pglite-template.ts';

/**
 * The unit tier's stand-in for global-setup.ts: no run database and no Redis. Addresses that
 * cannot resolve take their place, so a test that needs either fails on a host name that says
 * why, instead of finding a local server and passing on this machine alone.
 */
export default async function setup(project: TestProject) {
  project.provide('databaseUrl', 'postgres://postgres@no-postgres-in-the-unit-tier.invalid/kpi_test');
  project.provide('redisUrl', 'redis://no-redis-in-the-unit-tier.invalid:6379');
  project.provide('redisPrefix', 'kpitest-unit');
  const template = await writePgliteTemplate();
  project.provide('pgliteTemplate', template.file);
  return () => template.remove();
}
