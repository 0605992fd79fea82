import { sql, type Kysely } from 'kysely';

/**
 * kpi_days says, per date, whether the day-grain KPI points stored for it still match the
 * facts, so an incremental recompute can roll weeks and months up from those points instead
 * of summing a month of facts again. Every statement that writes metric_facts bumps the
 * facts_version of the dates it touched (triggers, so no writer can forget, manual SQL
 * included); recompute records which version its points were computed from. A date
 * without a row has never had a fact.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('kpi_days')
    .addColumn('date', 'date', (c) => c.primaryKey())
    .addColumn('facts_version', 'bigint', (c) => c.notNull().defaultTo(1))
    .addColumn('points_version', 'bigint')
    .addColumn('basis', 'text')
    .execute();
  // Days with facts from before this migration: known, but with no points known to match.
  await sql`insert into kpi_days (date) select distinct date from metric_facts`.execute(db);
  await sql`
    create function kpi_days_touch() returns trigger language plpgsql as $$
    begin
      insert into kpi_days (date) select distinct date from touched_facts
      on conflict (date) do update set facts_version = kpi_days.facts_version + 1;
      return null;
    end $$
  `.execute(db);
  // Truncate has no transition table: every day is unknown afterwards.
  await sql`
    create function kpi_days_forget() returns trigger language plpgsql as $$
    begin
      delete from kpi_days;
      return null;
    end $$
  `.execute(db);
  await sql`create trigger metric_facts_inserted after insert on metric_facts referencing new table as touched_facts for each statement execute function kpi_days_touch()`.execute(db);
  await sql`create trigger metric_facts_updated after update on metric_facts referencing new table as touched_facts for each statement execute function kpi_days_touch()`.execute(db);
  await sql`create trigger metric_facts_deleted after delete on metric_facts referencing old table as touched_facts for each statement execute function kpi_days_touch()`.execute(db);
  await sql`create trigger metric_facts_truncated after truncate on metric_facts for each statement execute function kpi_days_forget()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['inserted', 'updated', 'deleted', 'truncated']) await sql`drop trigger if exists ${sql.raw(`metric_facts_${t}`)} on metric_facts`.execute(db);
  await sql`drop function if exists kpi_days_touch()`.execute(db);
  await sql`drop function if exists kpi_days_forget()`.execute(db);
  await db.schema.dropTable('kpi_days').ifExists().execute();
}
