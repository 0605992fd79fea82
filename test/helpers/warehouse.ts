import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, inject } from 'vitest';
import { migrateToLatest, openWarehouse, type Database, type Warehouse, type WarehouseKind } from '../../src/warehouse/index.ts';
import { inUnitTier } from './tier.ts';

/** Both kinds in `npm test`; PGlite alone in `npm run test:unit`, which has no Postgres. */
export const warehouseKinds: WarehouseKind[] = inUnitTier ? ['pglite'] : ['postgres', 'pglite'];

/**
 * A migrated, empty warehouse of either kind. Postgres gets a schema of its own inside the
 * run's database, so test files running in parallel never see each other's rows.
 */
export async function testWarehouse(kind: WarehouseKind): Promise<Warehouse> {
  if (kind === 'postgres') return testPostgres({ poolSize: 4 });
  return openWarehouse({ dataDir: 'memory://', loadDataDir: migratedPglite() });
}

/**
 * An embedded database migrated once for the run (test/pglite-template.ts), for openWarehouse's
 * loadDataDir: in memory or in a data folder of a test's own, it starts without initdb.
 */
export function migratedPglite(): Blob {
  return new Blob([readFileSync(inject('pgliteTemplate'))]);
}

/** A Postgres warehouse that code under test can also reach by URL. */
export interface TestPostgres extends Warehouse {
  /** The same schema, for what opens the warehouse itself: the CLI, a worker process. */
  url: string;
  schema: string;
}

/**
 * A warehouse in a Postgres schema of its own, migrated unless `migrate` is false, with the
 * URL that reaches it; close() drops the schema.
 */
export async function testPostgres(options: { poolSize?: number; migrate?: boolean } = {}): Promise<TestPostgres> {
  const db = await testDatabaseUrlWithSchema();
  let wh: Warehouse | undefined;
  try {
    wh = await openWarehouse({ url: db.url, poolSize: options.poolSize ?? 2 });
    if (options.migrate !== false) await migrateToLatest(wh.db);
  } catch (err) {
    await wh?.close();
    await db.drop();
    throw err;
  }
  const opened = wh;
  return {
    ...opened,
    url: db.url,
    schema: db.schema,
    async close() {
      await opened.close();
      await db.drop();
    },
  };
}

/**
 * A test warehouse for the describe this is called in: opened before its tests, closed after
 * them, and handed to `clear` before each test when given. The object is returned at once so
 * that helpers can capture it, though it only works once the describe's hooks have run.
 */
export function useWarehouse(kind: WarehouseKind, clear?: (db: Kysely<Database>) => Promise<void>): Warehouse {
  let open: Warehouse | undefined;
  const current = (): Warehouse => {
    if (!open) throw new Error(`the ${kind} warehouse is only open inside the tests and hooks of the describe that asked for it`);
    return open;
  };
  beforeAll(async () => {
    open = await testWarehouse(kind);
  });
  afterAll(async () => {
    await open?.close();
    open = undefined;
  });
  if (clear) beforeEach(() => clear(current().db));
  return {
    get db() {
      return current().db;
    },
    get kind() {
      return current().kind;
    },
    get location() {
      return current().location;
    },
    // The describe closes it; a test that closes it early makes the afterAll a no-op.
    close: async () => {
      const wh = current();
      open = undefined;
      await wh.close();
    },
  };
}

/** A Postgres URL with its own schema, for code that opens the warehouse itself (CLI, workers). */
export async function testDatabaseUrlWithSchema(): Promise<{ url: string; schema: string; drop(): Promise<void> }> {
  const base = inject('databaseUrl');
  const schema = `t_${randomBytes(5).toString('hex')}`;
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  await client.query(`create schema ${schema}`);
  await client.end();
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: url.toString(),
    schema,
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`drop schema if exists ${schema} cascade`);
      await c.end();
    },
  };
}
