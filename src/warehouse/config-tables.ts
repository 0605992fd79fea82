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
  const names = (Object.keys(tables) as ConfigTable[]).sort();
  if (names.length === 0) return;
  await db.transaction().execute(async (trx) => {
    await sql`lock table ${sql.join(names.map((n) => sql.table(n)))} in exclusive mode`.execute(trx);
    for (const name of names) {
      const rows = tables[name]!;
      await trx.deleteFrom(name).execute();
      for (let i = 0; i < rows.length; i += CHUNK) await trx.insertInto(name).values(rows.slice(i, i + CHUNK) as never).execute();
    }
  });
}
