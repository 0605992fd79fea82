import { sql, type Kysely } from 'kysely';

/**
 * A state per stream beside its checkpoint, committed with the stream's last day, for readers
 * that keep something between syncs: the csv connector's loaded files, which it used to write
 * to source_files itself. The files each csv connector loaded move onto its checkpoint rows
 * (one per account it has synced), so an upgraded install does not read every file again.
 *
 * source_files stays, emptied and unused, for a later migration to drop: scripts that clear
 * the warehouse by table name (the test suite's among them) still name it. Files of a connector
 * without a checkpoint never had a day committed from them (no line dated within the dates it
 * accepts); they are read again once, to the same effect.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('checkpoints').addColumn('state', 'jsonb').execute();
  await sql`
    update checkpoints c
       set state = (
         select jsonb_build_object('files', jsonb_agg(jsonb_build_object(
                  'path', f.path, 'sha256', f.sha256, 'size', f.size, 'rows', f.rows,
                  'minDate', to_char(f.min_date, 'YYYY-MM-DD'), 'maxDate', to_char(f.max_date, 'YYYY-MM-DD')
                ) order by f.path))
           from source_files f
          where f.connector = c.connector)
     where exists (select 1 from source_files f where f.connector = c.connector)`.execute(db);
  await sql`delete from source_files`.execute(db);
}

/** Puts the loaded files back where the previous version reads them. */
export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    insert into source_files (connector, path, sha256, size, min_date, max_date, rows)
    select distinct on (c.connector, f.value->>'path')
           c.connector, f.value->>'path', f.value->>'sha256', (f.value->>'size')::bigint,
           (f.value->>'minDate')::date, (f.value->>'maxDate')::date, (f.value->>'rows')::bigint
      from checkpoints c
     cross join lateral jsonb_array_elements(case when jsonb_typeof(c.state->'files') = 'array' then c.state->'files' else '[]'::jsonb end) f
     where f.value->>'path' is not null and f.value->>'sha256' is not null
     order by c.connector, f.value->>'path', c.updated_at desc
    on conflict (connector, path) do nothing`.execute(db);
  await db.schema.alterTable('checkpoints').dropColumn('state').execute();
}
