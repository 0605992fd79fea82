import { sql, type Kysely } from 'kysely';

/**
 * The series that fire, by rule and instance: the console's overview lists the first of them
 * and counts them on every request, and with thousands of campaigns under a rule the series
 * that fire are a few percent of alert_instances (at 285,710 series the two scans were most of
 * the page's time). Partial, so the evaluate step's updates of series that stay ok touch no
 * more index than before.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index alert_instances_firing on alert_instances (rule, instance) where state = 'firing'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists alert_instances_firing`.execute(db);
}
