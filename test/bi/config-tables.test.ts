/**
 * The configuration's tables (kpi_sources, kpi_catalogue, okr_key_results) written by several
 * processes at once: every worker's evaluate step after a sync, `kpi recompute` beside `kpi
 * start`, a reload. On Postgres two writers used to fail on each other's rows (duplicate key),
 * which failed that evaluate step; each now ends with one configuration's rows, whole.
 */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { configChecks } from '../../src/config-checks.ts';
import { parseConfig } from '../../src/config/index.ts';
import { storeConfigTables } from '../../src/metrics/index.ts';
import { warehouseKinds, useWarehouse } from '../helpers/warehouse.ts';

const configWith = (kpi: string, okr: string) =>
  parseConfig(
    `reporting: { currency: EUR, timezone: UTC }
connectors: []
kpis: [{ name: ${kpi}, label: "${kpi} label", formula: spend / clicks, unit: currency, direction: lower }]
goals: [{ name: g_${kpi}, kpi: clicks, target: 500, start: "2026-03-01", deadline: "2026-03-31" }]
okrs: [{ name: ${okr}, objective: "${okr} objective", keyResults: [{ goal: g_${kpi} }] }]
`,
    '/tmp/kpi.yaml',
    { env: {}, checks: configChecks },
  );

describe.each(warehouseKinds)('configuration tables written by several processes on %s', (kind) => {
  const wh = useWarehouse(kind);

  it('writers at once all succeed, and the tables end as one configuration says, whole', async () => {
    const a = configWith('cost_a', 'okr_a');
    const b = configWith('cost_b', 'okr_b');
    for (let round = 0; round < 4; round++) {
      const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => storeConfigTables(wh.db, i % 2 === 0 ? a : b)));
      expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);

      const config = (await sql<{ kpi: string }>`select kpi from bi_kpi_catalogue where source = 'config'`.execute(wh.db)).rows.map((r) => r.kpi);
      const okrs = (await sql<{ okr: string; goal: string }>`select okr, goal from bi_okr_key_results`.execute(wh.db)).rows;
      const fed = (await wh.db.selectFrom('kpi_sources').select('kpi').where('kpi', 'like', 'cost_%').execute()).map((r) => r.kpi);
      // One writer's rows, not a mix and not doubled.
      expect(config.length).toBe(1);
      const which = config[0] === 'cost_a' ? 'a' : 'b';
      expect(okrs).toEqual([{ okr: `okr_${which}`, goal: `g_cost_${which}` }]);
      expect(fed).toEqual([`cost_${which}`]);
      expect(Number((await sql<{ n: string }>`select count(*) as n from bi_kpi_catalogue`.execute(wh.db)).rows[0]!.n)).toBe(
        Number((await sql<{ n: string }>`select count(distinct kpi) as n from kpi_catalogue`.execute(wh.db)).rows[0]!.n),
      );
    }
  }, 120_000);

  it('a store of the configuration already there writes nothing; a changed one replaces the rows', async () => {
    const stamps = async () => (await sql<{ kpi: string; updated_at: Date }>`select kpi, updated_at from kpi_catalogue where source = 'config'`.execute(wh.db)).rows.map((r) => `${r.kpi} ${new Date(r.updated_at).toISOString()}`);
    const a = configWith('cost_a', 'okr_a');
    await storeConfigTables(wh.db, a);
    const first = await stamps();
    expect(first).toHaveLength(1);
    // Make any rewrite visible in the stamp, whatever the clock's resolution.
    await sql`update kpi_catalogue set updated_at = '2001-01-01T00:00:00Z'`.execute(wh.db);
    await storeConfigTables(wh.db, a);
    expect(await stamps()).toEqual(['cost_a 2001-01-01T00:00:00.000Z']);

    await storeConfigTables(wh.db, configWith('cost_b', 'okr_b'));
    const changed = await stamps();
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatch(/^cost_b /);
    expect(changed[0]).not.toContain('2001-01-01');
    expect((await wh.db.selectFrom('okr_key_results').select(['okr', 'goal']).execute())).toEqual([{ okr: 'okr_b', goal: 'g_cost_b' }]);
  }, 60_000);
});
