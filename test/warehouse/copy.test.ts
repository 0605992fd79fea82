import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { BinaryCopyWriter, bulkLoaderOf } from '../../src/warehouse/index.ts';
import { useWarehouse } from '../helpers/warehouse.ts';

const COPY = 'copy copied (id, label, day, names, vals) from stdin with (format binary)';

describe('COPY in binary on postgres', () => {
  const wh = useWarehouse('postgres', async (db) => {
    await sql`drop table if exists copied`.execute(db);
    await sql`create table copied (id text primary key, label text not null, day date not null, names text[] not null, vals float8[] not null, check (cardinality(names) = cardinality(vals)))`.execute(db);
  });

  const names = ['ctr', 'cpa', 'ünïcødé ✓', '', 'a "quoted", {braced} \\ name'].map((n) => Buffer.from(n));

  it('reads back texts, dates and arrays exactly as written, across buffer boundaries', async () => {
    const labels = ['plain', '', 'NULL', 'tab\tnew\nline', 'ünïcødé ✓ 日本語'];
    const huge = 'x'.repeat(3 << 20);
    const days = ['1999-12-31', '2000-01-01', '2026-02-28', '2028-02-29', '1970-01-01'];
    const numbers = [0, -1.5, 1e21, 2 ** 53 + 2, 0.1 + 0.2, Number.MIN_VALUE, -0.0001];
    const writer = new BinaryCopyWriter();
    const expected: Array<{ id: string; label: string; day: string; names: string[]; vals: number[] }> = [];
    // Enough rows that they fill several 1 MB buffers, and one label larger than a buffer.
    for (let i = 0; i < 40_000; i++) {
      const label = i === 20_000 ? huge : labels[i % labels.length]!;
      const count = i % (names.length + 1);
      const picks = Int32Array.from({ length: count }, (_, k) => (i + k) % names.length);
      const vals = Float64Array.from({ length: count }, (_, k) => numbers[(i + k) % numbers.length]!);
      writer.row(5).text(`r${i}`).text(label).date(days[i % days.length]!).textArray(names, picks, count).float8Array(vals, count);
      if (i % 997 === 0 || i === 20_000) expected.push({ id: `r${i}`, label, day: days[i % days.length]!, names: [...picks].map((p) => names[p]!.toString()), vals: [...vals] });
    }
    const bulk = bulkLoaderOf(wh.db)!;
    expect(bulk).not.toBeNull();
    const copied = await bulk.transaction((session) => session.copyIn(COPY, writer.finish()));
    expect(copied).toBe(40_000);
    const { rows } = await sql<{ id: string; label: string; day: string; names: string[]; vals: number[] }>`
      select id, label, to_char(day, 'YYYY-MM-DD') as day, names, vals from copied where id = any(${expected.map((e) => e.id)}::text[])
    `.execute(wh.db);
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const e of expected) expect(byId.get(e.id)).toEqual(e);
  });

  it('rolls back the whole transaction when the copy is refused, and the connection serves the next caller', async () => {
    const bulk = bulkLoaderOf(wh.db)!;
    const good = new BinaryCopyWriter();
    good.row(5).text('kept').text('first').date('2026-01-01').textArray(names, [0], 1).float8Array([1], 1);
    await bulk.transaction((s) => s.copyIn(COPY, good.finish()));

    const bad = new BinaryCopyWriter();
    bad.row(5).text('new').text('ok').date('2026-01-02').textArray(names, [0], 1).float8Array([2], 1);
    bad.row(5).text('kept').text('duplicate key').date('2026-01-02').textArray(names, [0], 1).float8Array([3], 1);
    await expect(
      bulk.transaction(async (s) => {
        await s.execute(sql`delete from copied where id = 'kept'`.compile(wh.db));
        await s.execute(sql`insert into copied values ('kept', 'replaced', '2026-01-01', '{}', '{}')`.compile(wh.db));
        return s.copyIn(COPY, bad.finish());
      }),
    ).rejects.toThrow(/duplicate key value violates unique constraint/);
    const { rows } = await sql<{ id: string; label: string }>`select id, label from copied order by id`.execute(wh.db);
    expect(rows).toEqual([{ id: 'kept', label: 'first' }]);

    // Every pooled connection still works (none was left inside a failed transaction).
    const counts = await Promise.all(Array.from({ length: 6 }, () => bulk.transaction(async (s) => (await s.execute(sql<{ n: number }>`select count(*)::int as n from copied`.compile(wh.db)))[0]!.n)));
    expect(counts).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('is not offered on pglite, which has no COPY FROM STDIN', async () => {
    const { openWarehouse } = await import('../../src/warehouse/index.ts');
    const lite = await openWarehouse({ dataDir: 'memory://' });
    try {
      expect(bulkLoaderOf(lite.db)).toBeNull();
      expect(bulkLoaderOf(wh.db.withPlugin({ transformQuery: (a) => a.node, transformResult: async (a) => a.result }))).not.toBeNull();
    } finally {
      await lite.close();
    }
  });
});
