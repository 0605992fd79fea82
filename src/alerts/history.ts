import { sql, type Kysely } from 'kysely';
import type { Database } from '../warehouse/index.ts';
import type { AlertState } from './state.ts';

/** What became of one notification (one outbox row: one series, one channel). */
export type DeliveryResult = 'sent' | 'failed' | 'pending' | 'silenced' | 'muted' | 'inhibited' | 'dropped';

interface Common {
  at: Date;
  rule: string;
  /** '' for a rule's single series. */
  instance: string;
}

export type HistoryEntry =
  | (Common & { kind: 'transition'; from: AlertState; to: AlertState; reason: string; value: number | null })
  | (Common & { kind: 'notification'; id: number; event: 'firing' | 'repeat' | 'resolved'; channel: string; result: DeliveryResult; detail: string; attempts: number });

interface OutboxHistoryRow {
  id: number | string;
  rule: string;
  instance: string;
  event: string;
  channel: string;
  status: string;
  attempts: number;
  last_error: string | null;
  held_by: string | null;
  not_before: Date;
  at: Date;
}

/** The row's outcome in one word, and the reason or the wait behind it. */
function resultOf(r: OutboxHistoryRow): { result: DeliveryResult; detail: string } {
  const why = r.last_error ?? '';
  const by = r.held_by ?? '';
  if (r.status === 'sent') return { result: 'sent', detail: r.attempts > 1 ? `at attempt ${r.attempts}` : '' };
  if (r.status === 'failed') return { result: 'failed', detail: why };
  if (r.status === 'pending') {
    if (by.startsWith('silence:')) return { result: 'silenced', detail: why };
    if (by.startsWith('mute:')) return { result: 'muted', detail: why };
    if (by === 'inhibited') return { result: 'inhibited', detail: why };
    if (r.attempts > 0) return { result: 'pending', detail: `attempt ${r.attempts} failed, next at ${new Date(r.not_before).toISOString()}: ${why}` };
    return { result: 'pending', detail: why };
  }
  // Dropped. Rows dropped before held_by was kept on drops say so in their error only.
  if (by.startsWith('silence:') || why.startsWith('dropped by silence')) return { result: 'silenced', detail: why };
  if (by.startsWith('mute:') || why.startsWith('dropped by mute')) return { result: 'muted', detail: why };
  return { result: 'dropped', detail: why };
}

interface HistoryOptions {
  rule?: string;
  /** From this instant on; everything kept when left out. */
  since?: Date;
  /** Of each kind; the newest are kept. */
  limit?: number;
}

export interface History {
  entries: HistoryEntry[];
  /**
   * Set when the limit left entries out: the list then holds only what came after this instant
   * (the cut kind may have more rows at it; older entries of the other kind are dropped too, so
   * no notification shows without the transition behind it).
   */
  olderLeftOut?: Date;
}

/**
 * Every state transition and every notification with what became of it, newest first. A
 * notification is placed at its delivery (or failure), or when it was queued while it has
 * neither; at the same instant a notification comes before the transition that queued it.
 */
export async function listHistory(db: Kysely<Database>, options: HistoryOptions = {}): Promise<History> {
  const limit = options.limit ?? 10_000;
  // One more than the limit of each kind tells whether that kind was cut.
  let transitions = db.selectFrom('alert_transitions').selectAll().orderBy('at', 'desc').orderBy('id', 'desc').limit(limit + 1);
  if (options.rule !== undefined) transitions = transitions.where('rule', '=', options.rule);
  if (options.since) transitions = transitions.where('at', '>=', options.since);
  const at = sql<Date>`coalesce(delivered_at, failed_at, created_at)`;
  let notifications = db
    .selectFrom('alert_outbox')
    .select(['id', 'rule', 'instance', 'event', 'channel', 'status', 'attempts', 'last_error', 'held_by', 'not_before'])
    .select(at.as('at'))
    .orderBy(at, 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1);
  if (options.rule !== undefined) notifications = notifications.where('rule', '=', options.rule);
  if (options.since) notifications = notifications.where(at, '>=', options.since);

  const transitionRows = await transitions.execute();
  const notificationRows = (await notifications.execute()) as OutboxHistoryRow[];
  // Where a kind was cut, the list can only be whole from its oldest kept entry on.
  const cuts = [transitionRows, notificationRows].filter((rows) => rows.length > limit).map((rows) => new Date(rows[limit - 1]!.at).getTime());
  const from = cuts.length > 0 ? Math.max(...cuts) : undefined;
  const entries: HistoryEntry[] = [
    ...transitionRows.slice(0, limit).map(
      (t): HistoryEntry => ({ kind: 'transition', at: new Date(t.at), rule: t.rule, instance: t.instance, from: t.from_state as AlertState, to: t.to_state as AlertState, reason: t.reason, value: t.value }),
    ),
    ...notificationRows.slice(0, limit).map(
      (r): HistoryEntry => ({
        kind: 'notification',
        at: new Date(r.at),
        rule: r.rule,
        instance: r.instance,
        id: Number(r.id),
        event: r.event as 'firing' | 'repeat' | 'resolved',
        channel: r.channel,
        attempts: r.attempts,
        ...resultOf(r),
      }),
    ),
  ];
  const order = (e: HistoryEntry) => (e.kind === 'notification' ? 1 : 0);
  const kept = from === undefined ? entries : entries.filter((e) => e.at.getTime() > from);
  kept.sort((a, b) => b.at.getTime() - a.at.getTime() || order(b) - order(a) || (b.kind === 'notification' && a.kind === 'notification' ? b.id - a.id : 0));
  return from === undefined ? { entries: kept } : { entries: kept, olderLeftOut: new Date(from) };
}

/** Whether the warehouse holds any history of a rule (one that is no longer configured, say). */
export async function hasHistory(db: Kysely<Database>, rule: string): Promise<boolean> {
  const t = await db.selectFrom('alert_transitions').select('id').where('rule', '=', rule).limit(1).executeTakeFirst();
  if (t) return true;
  return (await db.selectFrom('alert_outbox').select('id').where('rule', '=', rule).limit(1).executeTakeFirst()) !== undefined;
}
