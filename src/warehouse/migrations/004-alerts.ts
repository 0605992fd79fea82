import { sql, type Kysely } from 'kysely';

/** Alert instances and their transitions, the notification outbox, silences, and digest sends. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('alert_instances')
    .addColumn('rule', 'text', (c) => c.notNull())
    // '' for a rule's single series; 'channel=email' and the like per dimension value.
    .addColumn('instance', 'text', (c) => c.notNull())
    .addColumn('labels', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('state_since', 'timestamptz', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('breaches', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('clears', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('seq', 'integer', (c) => c.notNull().defaultTo(0))
    // The seq of the transition that opened the current firing episode; null when none is open.
    .addColumn('episode', 'integer')
    .addColumn('firing_since', 'timestamptz')
    .addColumn('last_notified_at', 'timestamptz')
    .addColumn('repeats', 'integer', (c) => c.notNull().defaultTo(0))
    // floor(evaluation time / evaluationInterval): a tick is evaluated once, whoever comes second.
    .addColumn('last_tick', 'bigint')
    .addColumn('last_evaluated_at', 'timestamptz')
    .addColumn('last_value', 'double precision')
    .addColumn('last_summary', 'text')
    .addColumn('last_data_at', 'timestamptz')
    .addColumn('no_data_since', 'timestamptz')
    .addPrimaryKeyConstraint('alert_instances_pkey', ['rule', 'instance'])
    .execute();

  await db.schema
    .createTable('alert_transitions')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('rule', 'text', (c) => c.notNull())
    .addColumn('instance', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('from_state', 'text', (c) => c.notNull())
    .addColumn('to_state', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('value', 'double precision')
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addUniqueConstraint('alert_transitions_seq', ['rule', 'instance', 'seq'])
    .execute();

  await db.schema
    .createTable('alert_outbox')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('rule', 'text', (c) => c.notNull())
    .addColumn('instance', 'text', (c) => c.notNull())
    .addColumn('episode', 'integer', (c) => c.notNull())
    // 'firing', 'repeat' or 'resolved'; ordinal numbers the repeats of one episode.
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('ordinal', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('channel', 'text', (c) => c.notNull())
    // 'pending', 'sent', 'failed' or 'dropped'.
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending'))
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    // End of the group wait: the group goes out once its first row is due.
    .addColumn('due_at', 'timestamptz', (c) => c.notNull())
    // Retry backoff, or the end of a mute window or silence that holds it.
    .addColumn('not_before', 'timestamptz', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('claimed_by', 'text')
    .addColumn('claimed_until', 'timestamptz')
    .addColumn('delivered_at', 'timestamptz')
    .addColumn('last_error', 'text')
    // 'silence:<id>' or 'mute:<name>' while a silence or mute window holds it, so ending a silence releases it.
    .addColumn('held_by', 'text')
    // The key that keeps two evaluators from queueing one notification twice.
    .addUniqueConstraint('alert_outbox_event', ['rule', 'instance', 'episode', 'event', 'ordinal', 'channel'])
    .execute();
  await db.schema.createIndex('alert_outbox_pending').on('alert_outbox').columns(['status', 'not_before']).execute();

  await db.schema
    .createTable('alert_silences')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('matchers', 'jsonb', (c) => c.notNull())
    .addColumn('starts_at', 'timestamptz', (c) => c.notNull())
    .addColumn('ends_at', 'timestamptz', (c) => c.notNull())
    // 'drop' or 'hold' (deliver when the silence ends).
    .addColumn('action', 'text', (c) => c.notNull().defaultTo('drop'))
    .addColumn('comment', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_by', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('digest_sends')
    .addColumn('grain', 'text', (c) => c.notNull())
    .addColumn('period_start', 'date', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    // 'sending', 'sent' or 'failed'.
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('claimed_by', 'text')
    .addColumn('claimed_until', 'timestamptz')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('sent_at', 'timestamptz')
    .addColumn('error', 'text')
    .addPrimaryKeyConstraint('digest_sends_pkey', ['grain', 'period_start', 'channel'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['digest_sends', 'alert_silences', 'alert_outbox', 'alert_transitions', 'alert_instances']) await db.schema.dropTable(table).ifExists().execute();
}
