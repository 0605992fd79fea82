import { Migrator, sql, type Kysely } from 'kysely';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { migrateToLatest, openWarehouse, type Database } from '../../src/warehouse/index.ts';
import { migrationProvider } from '../../src/warehouse/migrations/index.ts';
import { testDatabaseUrlWithSchema, warehouseKinds } from '../helpers/warehouse.ts';

const longForm = [
  ['ctr', 'day', '2026-03-02', '2026-03-02', 'all', '', '0.0125'],
  ['clicks', 'day', '2026-03-02', '2026-03-02', 'all', '', '50'],
  ['clicks', 'day', '2026-03-02', '2026-03-02', 'campaign', 'Spring "sale", 50%', '20'],
  ['cpc', 'week', '2026-03-02', '2026-03-08', 'channel', 'paid_search', '1.4285714285714286'],
] as const;

async function kpiValues(db: Kysely<Database>) {
  const rows = await db.selectFrom('kpi_values').select(['kpi', 'grain', 'period_start', 'period_end', 'dimension', 'dimension_value', 'value']).execute();
  return rows.map((r) => [r.kpi, r.grain, r.period_start, r.period_end, r.dimension, r.dimension_value, Number(r.value)]).sort((a, b) => String(a).localeCompare(String(b)));
}

describe.each(warehouseKinds)('migrations on %s', (kind) => {
  it('005 moves stored KPI values into kpi_points and keeps kpi_values readable as before; down restores the table', async () => {
    const pgUrl = kind === 'postgres' ? await testDatabaseUrlWithSchema() : null;
    const wh = await openWarehouse(pgUrl ? { url: pgUrl.url, poolSize: 2 } : { dataDir: 'memory://' });
    try {
      const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(wh.db);
      const migrator = new Migrator({ db: wh.db, provider: migrationProvider, migrationTableSchema: rows[0]!.schema });
      expect((await migrator.migrateTo('004-alerts')).error).toBeUndefined();
      for (const [kpi, grain, start, end, dimension, value, v] of longForm) {
        await sql`insert into kpi_values (kpi, grain, period_start, period_end, dimension, dimension_value, value) values (${kpi}, ${grain}, ${start}, ${end}, ${dimension}, ${value}, ${v}::numeric)`.execute(wh.db);
      }
      const expected = longForm.map(([kpi, grain, start, end, dimension, value, v]) => [kpi, grain, start, end, dimension, value, Number(v)]).sort((a, b) => String(a).localeCompare(String(b)));

      await migrateToLatest(wh.db);
      expect(await kpiValues(wh.db)).toEqual(expected);
      const points = await wh.db.selectFrom('kpi_points').select(['grain', 'dimension', 'dimension_value', 'kpis', 'vals']).orderBy('grain').orderBy('dimension').orderBy('dimension_value').execute();
      expect(points.map((p) => [p.grain, p.dimension, p.dimension_value, p.kpis, p.vals])).toEqual([
        ['day', 'all', '', ['clicks', 'ctr'], [50, 0.0125]],
        ['day', 'campaign', 'Spring "sale", 50%', ['clicks'], [20]],
        ['week', 'channel', 'paid_search', ['cpc'], [1.4285714285714286]],
      ]);
      await expect(sql`insert into kpi_points (grain, period_start, period_end, dimension, dimension_value, kpis, vals) values ('day', '2026-03-03', '2026-03-03', 'all', '', '{a,b}', '{1}')`.execute(wh.db)).rejects.toThrow(/kpi_points_aligned/);

      expect((await migrator.migrateTo('004-alerts')).error).toBeUndefined();
      expect(await kpiValues(wh.db)).toEqual(expected);
    } finally {
      await wh.close();
      await pgUrl?.drop();
    }
  });
});

describe('migrations on postgres beside other sessions', () => {
  it('migrate succeeds while other sessions create and drop schemas of their own in the same database', async () => {
    const churners = await Promise.all(Array.from({ length: 3 }, async () => {
      const client = new pg.Client({ connectionString: inject('databaseUrl') });
      await client.connect();
      return client;
    }));
    let churning = true;
    // Schemas with tables, dropped as fast as they come: the window in which a database-wide
    // catalog scan sees a schema that is gone by the time it inspects it.
    const churn = Promise.all(churners.map(async (client, c) => {
      for (let i = 0; churning; i++) {
        const name = `churn_${process.pid}_${c}_${i}`;
        await client.query(`create schema ${name}; create table ${name}.t (a int, b text, c date); create table ${name}.u (a int)`);
        await client.query(`drop schema ${name} cascade`);
      }
    }));
    const urls = await Promise.all(Array.from({ length: 10 }, () => testDatabaseUrlWithSchema()));
    try {
      for (const target of urls) {
        const wh = await openWarehouse({ url: target.url, poolSize: 2 });
        try {
          const result = await migrateToLatest(wh.db);
          expect(result.applied.at(-1)).toBe(result.latest);
          const tables = await wh.db.introspection.getTables();
          expect(tables.every((t) => t.schema === target.schema)).toBe(true);
          expect(tables.find((t) => t.name === 'metric_facts')?.columns.map((c) => c.name)).toContain('metric');
        } finally {
          await wh.close();
        }
      }
    } finally {
      churning = false;
      await churn;
      await Promise.all(churners.map((c) => c.end()));
      await Promise.all(urls.map((u) => u.drop()));
    }
  });
});
