import { sql, type Kysely } from 'kysely';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { redactAndCut } from '../core/secrets.ts';
import type { Database } from '../warehouse/index.ts';

/** How one channel is doing (channel_health, migration 012). */
export interface ChannelHealth {
  channel: string;
  /** Failed delivery attempts in a row. */
  failures: number;
  failingSince: Date | null;
  lastFailureAt: Date | null;
  lastError: string | null;
  lastSuccessAt: Date | null;
}

/**
 * Records one delivery attempt on a channel: a success ends its failing streak, a failure
 * (for now or for good) extends it. Never fails the delivery it describes: a lost record costs
 * at most a late "channel failing" notice.
 */
export async function recordAttempt(db: Kysely<Database>, channel: string, now: Date, error: string | null, log?: Logger): Promise<void> {
  try {
    if (error === null) {
      await sql`
        insert into channel_health (channel, failures, failing_since, last_success_at) values (${channel}, 0, null, ${now})
        on conflict (channel) do update set failures = 0, failing_since = null, last_success_at = excluded.last_success_at`.execute(db);
      return;
    }
    const text = redactAndCut(error, 2000);
    await sql`
      insert into channel_health (channel, failures, failing_since, last_failure_at, last_error) values (${channel}, 1, ${now}, ${now}, ${text})
      on conflict (channel) do update set failures = channel_health.failures + 1, failing_since = coalesce(channel_health.failing_since, excluded.failing_since),
        last_failure_at = excluded.last_failure_at, last_error = excluded.last_error`.execute(db);
  } catch (err) {
    log?.warn({ channel, err: redactAndCut(errorMessage(err), 500) }, 'could not record how a delivery went');
  }
}

export async function channelHealth(db: Kysely<Database>): Promise<Map<string, ChannelHealth>> {
  const rows = await db.selectFrom('channel_health').selectAll().execute();
  const date = (d: Date | null) => (d ? new Date(d) : null);
  return new Map(
    rows.map((r) => [r.channel, { channel: r.channel, failures: r.failures, failingSince: date(r.failing_since), lastFailureAt: date(r.last_failure_at), lastError: r.last_error, lastSuccessAt: date(r.last_success_at) }]),
  );
}
