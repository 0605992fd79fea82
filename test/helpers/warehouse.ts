import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { migrateToLatest, openWarehouse, type Warehouse, type WarehouseKind } from '../../src/warehouse/index.ts';

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
