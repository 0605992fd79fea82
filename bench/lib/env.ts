import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pg from 'pg';
import { Redis } from 'ioredis';
import { createLogger, type Logger } from '../../src/core/log.ts';
import { migrateToLatest, openWarehouse, type Warehouse } from '../../src/warehouse/index.ts';

/**
 * Where the benchmarks run: the same servers as the tests (BENCH_* first, then TEST_*), one
 * database and one Redis key prefix per benchmark, created here and removed afterwards.
 */
export const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const redisUrl = process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** One id per `npm run bench`, so parallel runs (CI, a test) never share a database or a key. */
export const runId = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;

export interface BenchDatabase {
  name: string;
  url: string;
  /** A migrated warehouse on it (pool of `poolSize`). */
  open(poolSize?: number): Promise<Warehouse>;
  /** A plain client, for the baselines that talk to Postgres directly. */
  client(): Promise<pg.Client>;
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
  } catch (err) {
    throw new Error(`benchmarks need PostgreSQL at ${adminUrl} (set BENCH_DATABASE_URL): ${(err as Error).message}`);
  }
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function createBenchDatabase(bench: string): Promise<BenchDatabase> {
  const name = `kpi_bench_${bench.replace(/[^a-z0-9]/g, '_')}_${runId}`;
  await admin((c) => c.query(`create database ${name}`));
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  let migrated = false;
  return {
    name,
    url,
    async open(poolSize = 10) {
      const wh = await openWarehouse({ url, poolSize });
      if (!migrated) {
        await migrateToLatest(wh.db);
        migrated = true;
      }
      return wh;
    },
    async client() {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      return c;
    },
    drop: () => admin(async (c) => void (await c.query(`drop database if exists ${name} with (force)`))),
  };
}

/** Databases a crashed earlier run left behind (same prefix, not this run's). */
export async function dropLeftoverDatabases(): Promise<string[]> {
  return admin(async (c) => {
    const { rows } = await c.query<{ datname: string }>(`select datname from pg_database where datname like 'kpi\\_bench\\_%' and datname not like $1`, [`%\\_${runId}`]);
    // Only databases older than an hour: another run may be going on right now.
    const stale = rows.map((r) => r.datname).filter((n) => {
      const id = /_([0-9a-z]+)$/.exec(n)?.[1] ?? '';
      const ms = parseInt(id.slice(0, -4), 36);
      return Number.isFinite(ms) && Date.now() - ms > 3_600_000;
    });
    for (const n of stale) await c.query(`drop database if exists ${n} with (force)`);
    return stale;
  });
}

export function benchPrefix(bench: string): string {
  return `kpibench-${runId}-${bench}`;
}

/** Deletes every key under `prefix` (BullMQ queues, gate claims). */
export async function dropRedisPrefix(prefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    let n = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) n += await redis.del(...keys);
    } while (cursor !== '0');
    return n;
  } finally {
    redis.disconnect();
  }
}

/** A real pino logger at info level that writes nowhere: logging costs what it costs in production. */
export function nullLogger(level = 'info'): Logger {
  return createLogger({ level, destination: new Writable({ write: (_c, _e, cb) => cb() }) });
}

export async function serverVersions(): Promise<{ postgres: string; redis: string }> {
  const postgres = await admin(async (c) => (await c.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]?.v ?? '?');
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const info = await redis.info('server');
    return { postgres, redis: /redis_version:(\S+)/.exec(info)?.[1] ?? '?' };
  } finally {
    redis.disconnect();
  }
}

export async function settings(names: string[]): Promise<Record<string, string>> {
  return admin(async (c) => {
    const out: Record<string, string> = {};
    for (const n of names) out[n] = (await c.query<Record<string, string>>(`show ${n}`)).rows[0]?.[n] ?? '?';
    return out;
  });
}
