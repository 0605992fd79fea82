import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, inject } from 'vitest';
import { migrateToLatest, openWarehouse, type Database, type Warehouse, type WarehouseKind } from '../../src/warehouse/index.ts';

export const warehouseKinds: WarehouseKind[] = ['postgres', 'pglite'];

/**
 * A migrated, empty warehouse of either kind. Postgres gets a schema of its own inside the
 * run's database, so test files running in parallel never see each other's rows.
 */
export async function testWarehouse(kind: WarehouseKind): Promise<Warehouse> {
  if (kind === 'pglite') {
    const wh = await openWarehouse({ dataDir: 'memory://' });
    await migrateToLatest(wh.db);
    return wh;
  }
  const url = inject('databaseUrl');
  const schema = `t_${randomBytes(5).toString('hex')}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`create schema ${schema}`);
  await client.end();
  const wh = await openWarehouse({ url, schema, poolSize: 4 });
  await migrateToLatest(wh.db);
  return {
    ...wh,
    async close() {
      await wh.close();
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`drop schema ${schema} cascade`);
      await c.end();
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
