import { sql, type Kysely } from 'kysely';

/**
 * goal_snapshots.definition: a digest of everything an assessment was computed from besides
 * the facts (the goal's settings, the KPI definitions, the money conversion and week start),
 * so that a stored assessment is not shown once any of them changed (the console reads the
 * stored one: a deadline moved, or a KPI's formula changed, must not show the old progress).
 * Null for snapshots taken before: those are assessed anew.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table goal_snapshots add column definition text`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table goal_snapshots drop column if exists definition`.execute(db);
}
