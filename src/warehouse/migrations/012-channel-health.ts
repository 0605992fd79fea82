import type { Kysely } from 'kysely';

/**
 * How each notification channel is doing: failed delivery attempts in a row and since when,
 * the last error, the last delivery that went through. The delivery loop writes it after each
 * attempt; the delivery_failure rule (and the built-in channel-failing rule) read it to tell
 * the other channels that one keeps failing, and that it delivers again.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('channel_health')
    .addColumn('channel', 'text', (c) => c.primaryKey())
    // Failed attempts since the last one that went through.
    .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
    // The first failed attempt of that streak; null while the channel delivers.
    .addColumn('failing_since', 'timestamptz')
    .addColumn('last_failure_at', 'timestamptz')
    .addColumn('last_error', 'text')
    .addColumn('last_success_at', 'timestamptz')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('channel_health').ifExists().execute();
}
