import { sql, type Insertable, type Kysely } from 'kysely';
import type { Database } from './tables.ts';

/** Tables that hold a copy of the configuration, replaced whole by whoever loads it. */
export type ConfigTable = 'kpi_sources' | 'kpi_catalogue' | 'okr_key_results';

export type ConfigTableRows = { [T in ConfigTable]?: ReadonlyArray<Insertable<Database[T]>> };

const CHUNK = 1_000;

/**
 * Replaces each named table with `rows`, all in one transaction. Several processes write these
 * at once (every worker's evaluate step after a sync, a `kpi recompute` beside `kpi start`):
 * two transactions that each delete every row and then insert would both delete the same old
 * rows, then both insert, and the second fails on the first's rows (a duplicate key). Each
 * writer therefore takes the tables in EXCLUSIVE mode first, always in the same order (no
 * deadlock): writers queue, readers (the views, kpi status) are not blocked.
 */
export async function replaceConfigTables(db: Kysely<Database>, tables: ConfigTableRows): Promise<void> {
  // Every evaluate step stores the configuration it runs with, and it is nearly always the one
  // stored already: reading is cheap, the exclusive lock makes the other writers queue. When
  // one table differs all are written, so that writers of different files racing leave one
  // file's tables whole (a table skipped as equal could be another's a moment later).
  if (!(await anyTableDiffers(db, tables))) return;
  const names = (Object.keys(tables) as ConfigTable[]).sort();
  await db.transaction().execute(async (trx) => {
    await sql`lock table ${sql.join(names.map((n) => sql.table(n)))} in exclusive mode`.execute(trx);
    for (const name of names) {
      const rows = tables[name]!;
      await trx.deleteFrom(name).execute();
      for (let i = 0; i < rows.length; i += CHUNK) await trx.insertInto(name).values(rows.slice(i, i + CHUNK) as never).execute();
    }
  });
}

/** When a row last changed, not what it says: left out of the comparison. */
const STAMP = 'updated_at';

/** Whether the stored rows of any of `tables` differ from the given ones (as multisets of rows, stamps aside). */
async function anyTableDiffers(db: Kysely<Database>, tables: ConfigTableRows): Promise<boolean> {
  for (const name of Object.keys(tables) as ConfigTable[]) {
    const rows = tables[name]! as ReadonlyArray<Record<string, unknown>>;
    const stored = (await db.selectFrom(name).selectAll().execute()) as Array<Record<string, unknown>>;
    if (stored.length !== rows.length) return true;
    // The columns the new rows set, read back as text: a numeric column comes back as a
    // string, and a column left to its default (a stamp) says nothing about the config.
    const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((c) => c !== STAMP).sort();
    const key = (r: Record<string, unknown>) => JSON.stringify(columns.map((c) => (r[c] === null || r[c] === undefined ? null : String(r[c]))));
    const want = rows.map(key).sort();
    const have = stored.map(key).sort();
    if (want.some((k, i) => k !== have[i])) return true;
  }
  return false;
}
