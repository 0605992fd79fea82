import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Migrator, sql, type Kysely } from 'kysely';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { connectorFor, runSync } from '../../src/connectors/index.ts';
import { createLogger } from '../../src/core/log.ts';
import { migrateToLatest, openWarehouse, type Database, type Warehouse, type WarehouseKind } from '../../src/warehouse/index.ts';
import { migrationProvider } from '../../src/warehouse/migrations/index.ts';
import { testDatabaseUrlWithSchema, warehouseKinds } from '../helpers/warehouse.ts';
import { inUnitTier } from '../helpers/tier.ts';

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

/**
 * A new, unmigrated embedded database (what initdb leaves), made once for the file and loaded
 * by each PGlite case: each still migrates up from nothing, without an initdb of its own.
 */
let emptyPglite: Promise<Blob> | undefined;
function freshPglite(): Promise<Blob> {
  emptyPglite ??= (async () => {
    const { PGlite } = await import('@electric-sql/pglite');
    const client = new PGlite();
    try {
      return await client.dumpDataDir('none');
    } finally {
      await client.close();
    }
  })();
  return emptyPglite;
}

/** An empty warehouse of `kind` and, on Postgres, the schema to drop afterwards. */
async function emptyWarehouse(kind: WarehouseKind): Promise<{ wh: Warehouse; drop(): Promise<void> }> {
  if (kind === 'postgres') {
    const pgUrl = await testDatabaseUrlWithSchema();
    return { wh: await openWarehouse({ url: pgUrl.url, poolSize: 2 }), drop: pgUrl.drop };
  }
  return { wh: await openWarehouse({ dataDir: 'memory://', loadDataDir: await freshPglite() }), drop: async () => {} };
}

describe.each(warehouseKinds)('migrations on %s', (kind) => {
  it('013 keys digest_sends by report: the digest rows from before become the report named digest, and another report may send the same period to the same channel', async () => {
    const { wh, drop } = await emptyWarehouse(kind);
    try {
      const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(wh.db);
      const migrator = new Migrator({ db: wh.db, provider: migrationProvider, migrationTableSchema: rows[0]!.schema });
      expect((await migrator.migrateTo('010-completeness')).error).toBeUndefined();
      await sql`insert into digest_sends (grain, period_start, channel, status, attempts) values ('week', '2026-03-23', 'ops', 'sent', 1)`.execute(wh.db);
      await migrateToLatest(wh.db);
      await sql`insert into digest_sends (report, grain, period_start, channel, status, attempts) values ('team', 'week', '2026-03-23', 'ops', 'sent', 1)`.execute(wh.db);
      const sends = () => wh.db.selectFrom('digest_sends').select(['report', 'grain', 'period_start', 'channel', 'status']).orderBy('report').execute();
      expect(await sends()).toEqual([
        { report: 'digest', grain: 'week', period_start: '2026-03-23', channel: 'ops', status: 'sent' },
        { report: 'team', grain: 'week', period_start: '2026-03-23', channel: 'ops', status: 'sent' },
      ]);
      // Still once per report, period and channel; and no row without its report.
      await expect(sql`insert into digest_sends (report, grain, period_start, channel, status) values ('team', 'week', '2026-03-23', 'ops', 'sent')`.execute(wh.db)).rejects.toThrow(/digest_sends_pkey/);
      await expect(sql`insert into digest_sends (grain, period_start, channel, status) values ('week', '2026-03-30', 'ops', 'sent')`.execute(wh.db)).rejects.toThrow(/report/);

      expect((await migrator.migrateTo('010-completeness')).error).toBeUndefined();
      const back = await sql<{ channel: string }>`select channel from digest_sends`.execute(wh.db);
      expect(back.rows).toEqual([{ channel: 'ops' }]);
    } finally {
      await wh.close();
      await drop();
    }
  });

  it('005 moves stored KPI values into kpi_points and keeps kpi_values readable as before; down restores the table', async () => {
    const { wh, drop } = await emptyWarehouse(kind);
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
      await drop();
    }
  });
});

describe.each(warehouseKinds)('migration 009 on %s', (kind) => {
  it('moves the files each csv connector loaded onto its checkpoint, so an upgraded install skips unchanged files; down puts them back', async () => {
    const { wh, drop } = await emptyWarehouse(kind);
    const dir = mkdtempSync(path.join(tmpdir(), 'kpi-m009-'));
    try {
      const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(wh.db);
      const migrator = new Migrator({ db: wh.db, provider: migrationProvider, migrationTableSchema: rows[0]!.schema });
      expect((await migrator.migrateTo('008-notify-failures')).error).toBeUndefined();

      // Two exports as the previous version loaded them: one with dated lines, one without.
      mkdirSync(path.join(dir, 'exports'));
      const texts = { 'exports/leads-01.csv': 'Day,Leads\n2026-01-01,3\n2026-01-02,5\n', 'exports/leads-02.csv': 'Day,Leads\nsoon,7\n' };
      const sha = (text: string) => createHash('sha256').update(text).digest('hex');
      const size = (text: string) => Buffer.byteLength(text);
      for (const [file, text] of Object.entries(texts)) writeFileSync(path.join(dir, file), text);
      await sql`insert into checkpoints (connector, stream, cursor) values ('leads', 'crm', '2026-01-02'), ('ads', 'acct', '2026-01-05')`.execute(wh.db);
      await sql`insert into source_files (connector, path, sha256, size, min_date, max_date, rows) values
        ('leads', 'exports/leads-01.csv', ${sha(texts['exports/leads-01.csv'])}, ${size(texts['exports/leads-01.csv'])}, '2026-01-01', '2026-01-02', 2),
        ('leads', 'exports/leads-02.csv', ${sha(texts['exports/leads-02.csv'])}, ${size(texts['exports/leads-02.csv'])}, null, null, 1),
        ('undated', 'only.csv', 'abc', 10, null, null, 1)`.execute(wh.db);

      await migrateToLatest(wh.db);
      const files = [
        { path: 'exports/leads-01.csv', sha256: sha(texts['exports/leads-01.csv']), size: size(texts['exports/leads-01.csv']), rows: 2, minDate: '2026-01-01', maxDate: '2026-01-02' },
        { path: 'exports/leads-02.csv', sha256: sha(texts['exports/leads-02.csv']), size: size(texts['exports/leads-02.csv']), rows: 1, minDate: null, maxDate: null },
      ];
      const checkpoints = await wh.db.selectFrom('checkpoints').select(['connector', 'stream', 'cursor', 'state']).orderBy('connector').execute();
      expect(checkpoints).toEqual([
        { connector: 'ads', stream: 'acct', cursor: '2026-01-05', state: null },
        { connector: 'leads', stream: 'crm', cursor: '2026-01-02', state: { files } },
      ]);
      expect((await sql<{ n: number }>`select count(*)::int as n from source_files`.execute(wh.db)).rows[0]!.n).toBe(0);

      // The upgraded install's first sync finds the same files and reads none of them.
      const config = parseConfig('connectors:\n  - { name: leads, type: csv, path: exports/leads-*.csv, account: crm, date: { column: Day }, metrics: { leads: Leads } }\n', 'kpi.yaml', { env: {} }).connectors[0]!;
      const log = createLogger({ destination: new Writable({ write: (_c, _e, cb) => cb() }) });
      const res = await runSync({ db: wh.db, connector: await connectorFor('csv'), config, log, configDir: dir });
      expect(res.run).toMatchObject({ status: 'succeeded', rows_read: 0, rows_written: 0 });
      expect(res.run.flags['stream:crm']).toMatchObject({ skipped: 'unchanged' });

      expect((await migrator.migrateTo('008-notify-failures')).error).toBeUndefined();
      const restored = await sql<Record<string, unknown>>`select connector, path, sha256, size::int as size, to_char(min_date, 'YYYY-MM-DD') as min_date, to_char(max_date, 'YYYY-MM-DD') as max_date, rows::int as rows from source_files order by path`.execute(wh.db);
      expect(restored.rows).toEqual(files.map((f) => ({ connector: 'leads', path: f.path, sha256: f.sha256, size: f.size, min_date: f.minDate, max_date: f.maxDate, rows: f.rows })));
      expect((await wh.db.introspection.getTables()).find((t) => t.name === 'checkpoints')?.columns.map((c) => c.name)).not.toContain('state');
    } finally {
      await wh.close();
      await drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(inUnitTier)('migrations on postgres beside other sessions', () => {
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
