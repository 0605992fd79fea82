import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { FactRow } from '../../src/warehouse/index.ts';
import { upsertFacts } from './facts.ts';
import { useWarehouse, warehouseKinds } from './warehouse.ts';

/** Clicks of campaigns a, b, c on two days: 10, 11, 12 on the first, 20, 21, 22 on the second. */
const sixRows = (): FactRow[] =>
  ['2026-01-01', '2026-01-02'].flatMap((date, d) => ['a', 'b', 'c'].map((campaign, c) => ({ date, connector: 'ads', account: 'acc1', campaign, channel: 'paid_search', metric: 'clicks', value: 10 * (d + 1) + c, currency: null })));

describe.each(warehouseKinds)('upsertFacts, the tests\' way to seed facts, on %s', (kind) => {
  const wh = useWarehouse(kind, async (db) => {
    await sql`truncate metric_facts`.execute(db);
  });
  const stored = () => wh.db.selectFrom('metric_facts').select(['date', 'campaign', 'metric', 'value', 'currency']).orderBy('date').orderBy('campaign').orderBy('metric').execute();

  it('leaves one copy when the same rows are upserted twice, and reports them unchanged', async () => {
    const first = await upsertFacts(wh.db, sixRows(), { batchSize: 4 });
    expect(first.written).toBe(6);
    const second = await upsertFacts(wh.db, sixRows(), { batchSize: 4 });
    expect(second).toMatchObject({ written: 0, unchanged: 6 });
    expect(second.touched.size).toBe(0);
    expect((await stored()).map((r) => r.value)).toEqual([10, 11, 12, 20, 21, 22]);
  });

  it('replaces a changed value and reports only its date as touched', async () => {
    await upsertFacts(wh.db, sixRows());
    const changed = sixRows();
    changed[4]!.value = 99.125;
    const res = await upsertFacts(wh.db, changed);
    expect(res.written).toBe(1);
    expect([...res.touched]).toEqual(['2026-01-02']);
    expect((await stored()).map((r) => r.value)).toEqual([10, 11, 12, 20, 99.125, 22]);
  });

  it('sums rows that land on one key instead of keeping one of them', async () => {
    const r = { date: '2026-02-01', connector: 'gsc', account: 'site', campaign: 'shoes', channel: 'organic_search', metric: 'clicks' };
    await upsertFacts(wh.db, [{ ...r, value: 3 }, { ...r, value: 4 }]);
    expect(await stored()).toEqual([{ date: '2026-02-01', campaign: 'shoes', metric: 'clicks', value: 7, currency: null }]);
  });

  it('keeps currency and exact decimal values', async () => {
    await upsertFacts(wh.db, [{ date: '2026-05-01', connector: 'ads', account: 'acc1', metric: 'spend', value: 1234.56, currency: 'EUR' }]);
    expect(await stored()).toEqual([{ date: '2026-05-01', campaign: '', metric: 'spend', value: 1234.56, currency: 'EUR' }]);
  });
});
