import { Migrator, sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { kpiWindows, recompute } from '../../src/metrics/index.ts';
import { migrateToLatest, openWarehouse, replaceSlice, type Database } from '../../src/warehouse/index.ts';
import { migrationProvider } from '../../src/warehouse/migrations/index.ts';
import { metricsConfig } from '../metrics/helpers.ts';
import { testDatabaseUrlWithSchema, warehouseKinds } from '../helpers/warehouse.ts';

/** Facts as the version before campaign ids stored them: keyed by name. */
const legacy: Array<[string, string, string, number]> = [
  ['2026-03-02', 'Spring sale', 'spend', 120.5],
  ['2026-03-02', 'Spring sale', 'clicks', 40],
  ['2026-03-02', 'Brand', 'spend', 30],
  ['2026-03-02', 'Brand', 'clicks', 12],
  ['2026-03-03', 'Spring sale', 'spend', 99.25],
  ['2026-03-03', 'Spring sale', 'clicks', 31],
  ['2026-03-03', 'Brand', 'spend', 10],
  ['2026-03-03', 'Brand', 'clicks', 5],
];
const config = metricsConfig();
const week = [{ start: '2026-03-02', end: '2026-03-08' }];

async function facts(db: Kysely<Database>) {
  const { rows } = await sql<Record<string, unknown>>`
    select date::text as date, connector, account, campaign, channel, metric, value::text as value, currency, sync_run_id, updated_at from metric_facts
    order by date, campaign, metric
  `.execute(db);
  return rows;
}

const byCampaign = async (db: Kysely<Database>, kpi: string) =>
  (await kpiWindows(db, config, { kpi, windows: week, dimension: 'campaign' })).map((r) => [r.dimensionValue, r.dimensionLabel, r.values[0]]);

describe.each(warehouseKinds)('migration 011 (campaign ids) on %s', (kind) => {
  it('keeps name-keyed facts, their KPI values and stored points as they were; down folds id-keyed facts back into names', async () => {
    const pgUrl = kind === 'postgres' ? await testDatabaseUrlWithSchema() : null;
    const wh = await openWarehouse(pgUrl ? { url: pgUrl.url, poolSize: 2 } : { dataDir: 'memory://' });
    try {
      const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(wh.db);
      const migrator = new Migrator({ db: wh.db, provider: migrationProvider, migrationTableSchema: rows[0]!.schema });
      expect((await migrator.migrateTo('010-completeness')).error).toBeUndefined();
      for (const [date, campaign, metric, value] of legacy) {
        await sql`insert into metric_facts (date, connector, account, campaign, channel, metric, value, currency) values (${date}, 'gads', 'acc', ${campaign}, 'paid_search', ${metric}, ${value}, ${metric === 'spend' ? 'USD' : null})`.execute(wh.db);
      }
      await sql`insert into kpi_points (grain, period_start, period_end, dimension, dimension_value, kpis, vals) values ('week', '2026-03-02', '2026-03-08', 'campaign', 'Spring sale', '{spend}', '{219.75}')`.execute(wh.db);
      const before = await facts(wh.db);
      const versions = await sql`select date::text as date, facts_version from kpi_days order by date`.execute(wh.db);

      await migrateToLatest(wh.db);
      // The same rows, untouched (no facts version moved), keyed by name.
      expect(await facts(wh.db)).toEqual(before);
      expect((await sql<{ n: number }>`select count(*)::int as n from metric_facts where campaign_id <> ''`.execute(wh.db)).rows[0]!.n).toBe(0);
      expect((await sql`select date::text as date, facts_version from kpi_days order by date`.execute(wh.db)).rows).toEqual(versions.rows);
      expect((await sql`select dimension_value, value from kpi_values where dimension = 'campaign'`.execute(wh.db)).rows).toEqual([{ dimension_value: 'Spring sale', value: 219.75 }]);
      // KPI values by hand: spend and clicks per campaign over the week, cost per click of each.
      expect(await byCampaign(wh.db, 'spend')).toEqual([
        ['Brand', 'Brand', 40],
        ['Spring sale', 'Spring sale', 219.75],
      ]);
      expect(await byCampaign(wh.db, 'cpc')).toEqual([
        ['Brand', 'Brand', 40 / 17],
        ['Spring sale', 'Spring sale', 219.75 / 71],
      ]);
      await recompute(wh.db, config);
      const points = await sql<{ dimension_value: string; value: number }>`
        select dimension_value, value from kpi_values where kpi = 'spend' and grain = 'week' and dimension = 'campaign' order by dimension_value
      `.execute(wh.db);
      expect(points.rows).toEqual([
        { dimension_value: 'Brand', value: 40 },
        { dimension_value: 'Spring sale', value: 219.75 },
      ]);

      // A sync after the upgrade keys the campaign by its id; the older days stay under the name, and
      // the two read apart: the one known by id carries its id.
      await replaceSlice(wh.db, { connector: 'gads', account: 'acc', dates: ['2026-03-04'] }, [
        { date: '2026-03-04', connector: 'gads', account: 'acc', campaign: 'Spring sale', campaignId: '901', channel: 'paid_search', metric: 'spend', value: 50, currency: 'USD' },
      ]);
      expect(await byCampaign(wh.db, 'spend')).toEqual([
        ['Brand', 'Brand', 40],
        ['Spring sale', 'Spring sale', 219.75],
        ['gads:acc:901', 'Spring sale (901)', 50],
      ]);

      expect((await migrator.migrateTo('010-completeness')).error).toBeUndefined();
      const down = await sql<{ date: string; campaign: string; metric: string; value: string }>`
        select date::text as date, campaign, metric, value::text as value from metric_facts where metric = 'spend' order by date, campaign
      `.execute(wh.db);
      expect(down.rows.map((r) => `${r.date} ${r.campaign} ${Number(r.value)}`)).toEqual([
        '2026-03-02 Brand 30',
        '2026-03-02 Spring sale 120.5',
        '2026-03-03 Brand 10',
        '2026-03-03 Spring sale 99.25',
        '2026-03-04 Spring sale 50',
      ]);
      expect((await wh.db.introspection.getTables()).map((t) => t.name)).not.toContain('campaigns');
    } finally {
      await wh.close();
      await pgUrl?.drop();
    }
  });
});
