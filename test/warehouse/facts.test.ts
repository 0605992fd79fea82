import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { combineRows, pendingMigrations, replaceSlice, type FactRow, type Warehouse } from '../../src/warehouse/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { testWarehouse, warehouseKinds } from '../helpers/warehouse.ts';

function rows(days: string[], campaigns: string[], metric = 'clicks', base = 10): FactRow[] {
  const out: FactRow[] = [];
  days.forEach((date, d) =>
    campaigns.forEach((campaign, c) => out.push({ date, connector: 'ads', account: 'acc1', campaign, channel: 'paid_search', metric, value: base + d * 10 + c, currency: null })),
  );
  return out;
}

async function allFacts(wh: Warehouse) {
  return wh.db.selectFrom('metric_facts').select(['date', 'campaign', 'metric', 'value', 'currency']).orderBy('date').orderBy('campaign').orderBy('metric').execute();
}

describe.each(warehouseKinds)('fact write path on %s', (kind) => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await testWarehouse(kind);
  });
  afterAll(async () => {
    await wh.close();
  });

  it('has applied every migration', async () => {
    expect(await pendingMigrations(wh.db)).toEqual([]);
  });

  it('replaceSlice makes the days exactly the new rows: restated, dropped and emptied days', async () => {
    await sql`truncate metric_facts`.execute(wh.db);
    await upsertFacts(wh.db, rows(['2026-03-01', '2026-03-02', '2026-03-03'], ['a', 'b']));
    // Other accounts and days outside the slice must survive untouched.
    await upsertFacts(wh.db, [{ date: '2026-03-02', connector: 'ads', account: 'acc2', campaign: 'z', metric: 'clicks', value: 5 }]);
    const restated = rows(['2026-03-02'], ['a'], 'clicks', 500); // campaign b vanished, a changed
    const res = await replaceSlice(wh.db, { connector: 'ads', account: 'acc1', dates: ['2026-03-02', '2026-03-03'] }, restated);
    expect(res.written).toBe(1);
    expect(res.deleted).toBe(3); // 03-02 b, 03-03 a, 03-03 b
    expect([...res.touched].sort()).toEqual(['2026-03-02', '2026-03-03']);
    const stored = await wh.db.selectFrom('metric_facts').select(['date', 'account', 'campaign', 'value']).orderBy('date').orderBy('account').orderBy('campaign').execute();
    expect(stored).toEqual([
      { date: '2026-03-01', account: 'acc1', campaign: 'a', value: 10 },
      { date: '2026-03-01', account: 'acc1', campaign: 'b', value: 11 },
      { date: '2026-03-02', account: 'acc1', campaign: 'a', value: 500 },
      { date: '2026-03-02', account: 'acc2', campaign: 'z', value: 5 },
    ]);
    const again = await replaceSlice(wh.db, { connector: 'ads', account: 'acc1', dates: ['2026-03-02', '2026-03-03'] }, restated);
    expect(again).toMatchObject({ written: 0, deleted: 0, unchanged: 1 });
  });

  it('replaceSlice deletes a renamed campaign when the day keeps its number of rows', async () => {
    await sql`truncate metric_facts`.execute(wh.db);
    await replaceSlice(wh.db, { connector: 'ads', account: 'acc1', dates: ['2026-03-05'] }, rows(['2026-03-05'], ['a', 'b']));
    const renamed = rows(['2026-03-05'], ['a', 'c']);
    const res = await replaceSlice(wh.db, { connector: 'ads', account: 'acc1', dates: ['2026-03-05'] }, renamed);
    expect(res).toMatchObject({ written: 1, unchanged: 1, deleted: 1 });
    expect([...res.touched]).toEqual(['2026-03-05']);
    expect((await allFacts(wh)).map((r) => `${r.campaign} ${r.value}`)).toEqual(['a 10', 'c 11']);
  });

  it('replaceSlice stores any text and exact decimals as given, and a second write changes nothing', async () => {
    await sql`truncate metric_facts`.execute(wh.db);
    const awkward = ['', 'NULL', 'null', ' padded ', 'say "hi"', 'back\\slash\\', 'a,b', '{braces}', 'tab\tnew\nline', 'Ünïcødé ✓', '\\"'];
    const values = [0, -0.5, 1234.56, 0.1, 1e-7, 123456789.123456, 5189.08, 1e21, -42];
    const day: FactRow[] = awkward.flatMap((campaign, c) =>
      values.map((value, v) => ({ date: '2026-03-06', connector: 'ads', account: 'acc1', campaign, channel: awkward[(c + v) % awkward.length]!, metric: `m${v}`, value, currency: c % 2 ? awkward[c]! : null })),
    );
    const scope = { connector: 'ads', account: 'acc1', dates: ['2026-03-06'] };
    const first = await replaceSlice(wh.db, scope, day);
    expect(first).toMatchObject({ written: day.length, deleted: 0 });
    const stored = await wh.db.selectFrom('metric_facts').select(['campaign', 'channel', 'metric', 'value', 'currency']).execute();
    const asText = (r: { campaign?: string; channel?: string; metric: string; value: number; currency?: string | null }) => JSON.stringify([r.campaign, r.channel, r.metric, r.value, r.currency ?? null]);
    expect(stored.map(asText).sort()).toEqual(day.map(asText).sort());
    const exact = await sql<{ v: string }>`select value::text as v from metric_facts where campaign = 'NULL' order by metric`.execute(wh.db);
    expect(exact.rows.map((r) => r.v)).toEqual(['0', '-0.5', '1234.56', '0.1', '0.0000001', '123456789.123456', '5189.08', '1000000000000000000000', '-42']);
    expect(await replaceSlice(wh.db, scope, day)).toMatchObject({ written: 0, unchanged: day.length, deleted: 0 });
    const restated = day.map((r, i) => (i === 3 ? { ...r, value: 7 } : i === 4 ? { ...r, currency: 'EUR' } : r));
    const res = await replaceSlice(wh.db, scope, restated);
    expect(res).toMatchObject({ written: 2, deleted: 0 });
    expect(await replaceSlice(wh.db, scope, restated)).toMatchObject({ written: 0, deleted: 0 });
  });

  it('replaceSlice commits the within callback with the facts, or neither', async () => {
    await sql`truncate metric_facts, checkpoints`.execute(wh.db);
    const scope = { connector: 'ads', account: 'acc1', dates: ['2026-03-07'] };
    const failing = replaceSlice(wh.db, scope, rows(['2026-03-07'], ['a']), {
      within: async (trx) => {
        await trx.insertInto('checkpoints').values({ connector: 'ads', stream: 'acc1', cursor: '2026-03-07', updated_at: new Date() }).execute();
        throw new Error('bookkeeping failed');
      },
    });
    await expect(failing).rejects.toThrow('bookkeeping failed');
    expect(await allFacts(wh)).toEqual([]);
    expect(await wh.db.selectFrom('checkpoints').selectAll().execute()).toEqual([]);
  });

  it('replaceSlice of one slice by two writers at once: both succeed and the day is one of theirs', async () => {
    const scope = { connector: 'ads', account: 'acc1', dates: ['2026-03-08'] };
    const a = rows(['2026-03-08'], ['a', 'b', 'c'], 'clicks', 100);
    const b = rows(['2026-03-08'], ['b', 'c', 'd'], 'clicks', 200);
    // A few rounds: whether the two transactions overlap depends on timing.
    for (let round = 0; round < 5; round++) {
      await sql`truncate metric_facts`.execute(wh.db);
      const results = await Promise.all([replaceSlice(wh.db, scope, a), replaceSlice(wh.db, scope, b)]);
      expect(results.map((r) => r.written).sort()).toEqual([3, 3]);
      const stored = (await allFacts(wh)).map((r) => `${r.campaign} ${r.value}`);
      expect([a, b].map((w) => w.map((r) => `${r.campaign} ${r.value}`))).toContainEqual(stored);
    }
  });

  it('combineRows sums every row of a key, wherever it comes, and treats a missing campaign as empty', () => {
    const r = (campaign: string | undefined, metric: string, value: number): FactRow => ({ date: '2026-03-01', connector: 'ads', account: 'acc1', ...(campaign === undefined ? {} : { campaign }), metric, value });
    const combined = combineRows([r('a', 'clicks', 1.1), r('a', 'spend', 2), r('b', 'clicks', 5), r('a', 'clicks', 2.2), r(undefined, 'clicks', 1), r('', 'clicks', 2), r('a', 'clicks', 0.3)]);
    expect(combined.map((x) => `${x.campaign}|${x.channel}|${x.metric}|${x.value}|${x.currency}`)).toEqual(['a||clicks|3.6|null', 'a||spend|2|null', 'b||clicks|5|null', '||clicks|3|null']);
  });

  it('refuses rows outside the slice and writes nothing', async () => {
    await sql`truncate metric_facts`.execute(wh.db);
    const stray = rows(['2026-04-02'], ['a']);
    await expect(replaceSlice(wh.db, { connector: 'ads', account: 'acc1', dates: ['2026-04-01'] }, stray)).rejects.toThrow(/outside the slice/);
    expect(await allFacts(wh)).toEqual([]);
  });
});
