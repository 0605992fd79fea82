import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database } from './tables.ts';

/**
 * The latest `limit` rows (by id) of each connector named, newest first, in one statement: a
 * probe of the (connector, id) index per connector (migration 014), whatever the history kept.
 * What `kpi status` lists of each connector's runs and quarantined records.
 */
export async function latestRowsByConnector<T extends 'sync_runs' | 'quarantine'>(db: Kysely<Database>, table: T, names: readonly string[], limit: number): Promise<Map<string, Selectable<Database[T]>[]>> {
  const out = new Map<string, Selectable<Database[T]>[]>(names.map((n) => [n, []]));
  if (names.length === 0) return out;
  const { rows } = await sql<Selectable<Database[T]> & { connector: string }>`
    select r.* from unnest(${[...names]}::text[]) as n(connector)
    cross join lateral (select * from ${sql.table(table)} t where t.connector = n.connector order by t.id desc limit ${limit}) r
    order by r.connector, r.id desc
  `.execute(db);
  for (const r of rows) out.get(r.connector)!.push(r);
  return out;
}
