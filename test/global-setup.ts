import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';
import { writePgliteTemplate } from './pglite-template.ts';

/**
 * One database and one Redis key prefix per test run: CI reuses the same servers, so a run
 * must neither see another run's rows nor leave its own behind.
 */
export default async function setup(project: TestProject) {
  const adminUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const dbName = `kpi_test_${runId}`;

  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(`Tests need PostgreSQL at ${adminUrl} (set TEST_DATABASE_URL to use another): ${(err as Error).message}. Start it with \`docker compose up -d postgres\` or your own server.`);
  }
  await admin.query(`create database ${dbName}`);
  await admin.end();

  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5000 });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw new Error(`Tests need Redis at ${redisUrl} (set TEST_REDIS_URL to use another): ${(err as Error).message}. Start it with \`docker compose up -d redis\` or your own server.`);
  }

  const dbUrl = new URL(adminUrl);
  dbUrl.pathname = `/${dbName}`;
  const prefix = `kpitest-${runId}`;
  project.provide('databaseUrl', dbUrl.toString());
  project.provide('redisUrl', redisUrl);
  project.provide('redisPrefix', prefix);
  const template = await writePgliteTemplate();
  project.provide('pgliteTemplate', template.file);

  return async () => {
    template.remove();
    const keys = await redis.keys(`${prefix}*`);
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
    redis.disconnect();
    const cleanup = new pg.Client({ connectionString: adminUrl });
    await cleanup.connect();
    await cleanup.query(`drop database if exists ${dbName} with (force)`);
    await cleanup.end();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
    redisPrefix: string;
    /** A migrated embedded database (test/pglite-template.ts). */
    pgliteTemplate: string;
  }
}
