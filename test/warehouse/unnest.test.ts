import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Warehouse } from '../../src/warehouse/index.ts';
import { UnnestColumns } from '../../src/warehouse/unnest.ts';
import { testWarehouse, warehouseKinds } from '../helpers/warehouse.ts';

describe.each(warehouseKinds)('unnest columns on %s', (kind) => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await testWarehouse(kind);
  });
  afterAll(async () => {
    await wh.close();
  });

  it('reads back every text, number and timestamp as it was written, nulls included', async () => {
    const texts = ['plain', '', 'NULL', 'a "quoted" word', 'back\\slash\\', '{braces}, commas', '  spaces  ', 'tab\tnew\nline', 'ünïcødé ✓', '{"json": [1, "x"]}'];
    const numbers = [0, -1.5, 1e21, 2 ** 53 + 2, 0.1 + 0.2, Number.MIN_VALUE];
    const rows = new UnnestColumns({ i: 'int', t: 'text', n: 'float8', at: 'timestamptz' });
    texts.forEach((t, i) => rows.push({ i, t, n: numbers[i % numbers.length]!, at: new Date(Date.UTC(2026, 2, 15, 6, 0, i, 123)).toISOString() }));
    rows.push({ i: 99, t: null, n: null, at: null });
    expect(rows.size).toBe(texts.length + 1);
    const { rows: got } = await sql<{ i: number; t: string | null; n: number | null; at: string | null }>`
      select t.i, t.t, t.n, to_char(t.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS') as at from ${rows.from()} order by t.i
    `.execute(wh.db);
    expect(got).toEqual([
      ...texts.map((t, i) => ({ i, t, n: numbers[i % numbers.length], at: `2026-03-15T06:00:${String(i).padStart(2, '0')}.123` })),
      { i: 99, t: null, n: null, at: null },
    ]);
  });

  it('gives no rows for empty columns', async () => {
    const rows = new UnnestColumns({ t: 'text', n: 'int' });
    const { rows: got } = await sql`select count(*)::int as n from ${rows.from()}`.execute(wh.db);
    expect(got).toEqual([{ n: 0 }]);
  });
});
