import { dashboardLink } from './report-link.ts';
import { createHash, randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { AlertingConfig } from '../config/index.ts';
import { ConfigError, errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { redactAndCut, redactSecrets } from '../core/secrets.ts';
import type { Database } from '../warehouse/index.ts';
import { claimEnd, claimFree } from '../warehouse/claims.ts';
import { createChannel, type ChannelConfigInput } from '../notify/channels.ts';
import type { WaitingClock } from '../core/resilience/index.ts';
import { retryVerdict } from './redelivery.ts';
import { recordAttempt } from './channel-health.ts';
import { activeMute, describeMute } from './mute.ts';
import type { OutboxPayload } from './outbox-types.ts';
import { activeSilences, formatMatcher, matchesAll, type Silence } from './silences.ts';
import type { AlertNotification, Channel } from '../notify/types.ts';

/*
 * Delivery guarantees. An outbox row is claimed (claimed_by, claimed_until) before it is
 * sent and marked sent (delivered_at) after; the claim is renewed just before the send.
 * - A process that dies between claim and mark loses nothing: its claim expires and
 *   another deliverer sends the row.
 * - A send that succeeded but whose mark did not (the process died in between, or the
 *   database went away) is sent again once the claim expires: at least once, never lost.
 *   The outbox id goes out as the idempotency key (Slack message text carries nothing, but
 *   email's Message-ID lets mail systems drop the repeat), so that window is the only one.
 * - Two deliverers never hold one row: claims are taken with FOR UPDATE SKIP LOCKED and
 *   only over rows whose claim is free or expired by the database's clock (claims.ts), and
 *   marks check the claim is still ours.
 */

export interface OutboxConfig {
  channels: Readonly<Record<string, ChannelConfigInput>>;
  alerts: ReadonlyArray<{ name: string; muteWindows: readonly string[] }>;
  alerting: Pick<AlertingConfig, 'maxAttempts' | 'maxRetryAfter' | 'claimTimeout' | 'muteWindows'> & { link?: string | undefined; timezone?: string | undefined };
  reporting: { timezone: string };
  server?: { publicUrl?: string | undefined };
}

interface DeliverOptions {
  now?: Date;
  /** Who claims the rows: a replica's stable name. Random per call when left out. */
  owner?: string;
  /** Channels by name, instead of building them from config (tests, or a shared process-wide set). */
  channels?: Readonly<Record<string, Channel>>;
  log?: Logger;
  /** Rows claimed per call. */
  limit?: number;
  /** Passed to channels built from config. */
  clock?: WaitingClock;
}

export interface DeliverResult {
  /** Outbox rows, not messages: a grouped message marks several rows. */
  sent: number;
  failed: number;
  /** Put off by a mute window or a holding silence. */
  held: number;
  dropped: number;
  /** Failed for now and scheduled again with backoff. */
  retrying: number;
  /** Messages posted or mailed. */
  messages: number;
  /** Why each message that failed for good failed (one entry per message, not per row). */
  failures: Array<{ channel: string; rule: string; error: string }>;
}

interface OutboxRow {
  id: number;
  rule: string;
  instance: string;
  episode: number;
  event: string;
  channel: string;
  payload: OutboxPayload & { heldBy?: string };
  attempts: number;
  created_at: Date;
}

/** One message per rule, channel and status: instances that fired within the group wait go out together. */
const groupKey = (r: OutboxRow) => `${r.rule}\u0000${r.channel}\u0000${r.event === 'resolved' ? 'resolved' : 'firing'}`;

async function claim(db: Kysely<Database>, owner: string, now: Date, claimMs: number, limit: number): Promise<OutboxRow[]> {
  // A group is due once any of its free rows is: that row's group wait has collected the rest.
  // Due times (due_at, not_before) are the deliverer's time, as the evaluator wrote them.
  const { rows } = await sql<OutboxRow>`
    update alert_outbox o set claimed_by = ${owner}, claimed_until = ${claimEnd(claimMs)}
    where o.id in (
      select c.id from alert_outbox c
      where c.status = 'pending' and c.not_before <= ${now} and ${claimFree('c.claimed_until')}
        and exists (
          select 1 from alert_outbox g
          where g.rule = c.rule and g.channel = c.channel and g.status = 'pending'
            and (g.event = 'resolved') = (c.event = 'resolved')
            and g.due_at <= ${now} and g.not_before <= ${now}
            and ${claimFree('g.claimed_until')})
      order by c.id
      limit ${limit}
      for update skip locked)
    returning o.id, o.rule, o.instance, o.episode, o.event, o.channel, o.payload, o.attempts, o.created_at`.execute(db);
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

/** Ours still, renewed for the send; rows another deliverer took over after our claim expired are left to it. */
async function renew(db: Kysely<Database>, ids: number[], owner: string, claimMs: number): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const rows = await db.updateTable('alert_outbox').set({ claimed_until: claimEnd(claimMs) }).where('id', 'in', ids).where('claimed_by', '=', owner).where('status', '=', 'pending').returning('id').execute();
  return new Set(rows.map((r) => Number(r.id)));
}

const MAX_ERROR = 2000;

type Outcome =
  | { status: 'sent' }
  | { status: 'failed'; error: string }
  /** `by`: the silence or mute window that dropped it, kept in held_by for the history. */
  | { status: 'dropped'; error: string; by?: string }
  /** held.why, when given, is added to the message when it goes out ("held during ..."). */
  | { status: 'pending'; notBefore: Date; error: string; attempted: boolean; held?: { key: string; why?: string } };

async function settle(db: Kysely<Database>, ids: number[], owner: string, now: Date, outcome: Outcome, log: Logger | undefined): Promise<void> {
  if (ids.length === 0) return;
  let q = db.updateTable('alert_outbox').where('id', 'in', ids).where('claimed_by', '=', owner).where('status', '=', 'pending');
  const release = { claimed_by: null, claimed_until: null, held_by: outcome.status === 'pending' ? (outcome.held?.key ?? null) : outcome.status === 'dropped' ? (outcome.by ?? null) : null };
  if (outcome.status === 'sent') {
    const res = await q.set({ ...release, status: 'sent', delivered_at: now, attempts: sql<number>`attempts + 1`, last_error: null }).executeTakeFirst();
    if (Number(res.numUpdatedRows) < ids.length) {
      log?.warn({ outbox: ids }, 'notification sent, but another deliverer had taken over the claim; it may be sent twice');
    }
    return;
  }
  if (outcome.status === 'pending') {
    q = q.set({
      ...release,
      not_before: outcome.notBefore,
      last_error: redactAndCut(outcome.error, MAX_ERROR),
      ...(outcome.attempted ? { attempts: sql<number>`attempts + 1` } : {}),
      ...(outcome.held?.why ? { payload: sql<string>`payload || ${JSON.stringify({ heldBy: outcome.held.why })}::jsonb` } : {}),
    });
  } else {
    q = q.set({
      ...release,
      status: outcome.status,
      last_error: redactAndCut(outcome.error, MAX_ERROR),
      ...(outcome.status === 'failed' ? { attempts: sql<number>`attempts + 1`, failed_at: now } : {}),
    });
  }
  await q.execute();
}

/** Stable for one set of rows, so a retried group keeps its Message-ID and a changed group gets a new one. */
export function notificationId(ids: readonly number[]): string {
  const sorted = [...ids].sort((a, b) => a - b);
  if (sorted.length <= 6) return sorted.join('-');
  return `${sorted[0]}-${sorted.at(-1)}-${createHash('sha1').update(sorted.join(',')).digest('hex').slice(0, 10)}`;
}

function commonLabels(payloads: readonly OutboxPayload[]): Record<string, string> {
  const [first, ...rest] = payloads;
  if (!first) return {};
  return Object.fromEntries(Object.entries(first.labels).filter(([k, v]) => rest.every((p) => p.labels[k] === v)));
}

/**
 * One series appears once per message: a reminder queued while its first notification was
 * still being retried replaces it (with the newer values), and is no reminder to anyone.
 */
function latestPerSeries(rows: readonly OutboxRow[]): Array<OutboxRow['payload']> {
  const bySeries = new Map<string, { payload: OutboxRow['payload']; firstSeen: boolean }>();
  for (const r of rows) {
    const seen = bySeries.get(r.instance);
    bySeries.set(r.instance, { payload: r.payload, firstSeen: (seen?.firstSeen ?? false) || r.event === 'firing' });
  }
  return [...bySeries.values()].map(({ payload, firstSeen }) => {
    if (!firstSeen || payload.repeat === undefined) return payload;
    const { repeat: _repeat, ...rest } = payload;
    return rest;
  });
}

function notificationOf(rows: readonly OutboxRow[], config: OutboxConfig): AlertNotification {
  const payloads = latestPerSeries(rows);
  const first = payloads[0]!;
  const summaryOf = (p: OutboxRow['payload']) => `${p.repeat ? 'Still firing: ' : ''}${p.summary}`;
  let summary =
    payloads.length === 1
      ? summaryOf(first)
      : `${payloads.length} series ${first.status === 'resolved' ? 'resolved' : 'firing'}: ${payloads.slice(0, 3).map((p) => p.summary).join('; ')}${payloads.length > 3 ? `; and ${payloads.length - 3} more` : ''}`;
  const held = payloads.find((p) => p.heldBy)?.heldBy;
  if (held) summary += ` (held during ${held})`;
  const starts = payloads.map((p) => p.startsAt).sort();
  const ends = payloads.map((p) => p.endsAt).filter((e): e is string => !!e).sort();
  return {
    id: notificationId(rows.map((r) => r.id)),
    status: first.status,
    ruleName: first.ruleName,
    severity: first.severity,
    summary,
    ...(first.description ? { description: first.description } : {}),
    ...(first.runbook ? { runbook: first.runbook } : {}),
    labels: commonLabels(payloads),
    instances: payloads.map((p) => p.instance),
    startsAt: starts[0]!,
    ...(first.status === 'resolved' && ends.length > 0 ? { endsAt: ends.at(-1)! } : {}),
    ...(dashboardLink(config) ? { link: dashboardLink(config)! } : {}),
    timeZone: config.alerting.timezone ?? config.reporting.timezone,
  };
}

const channelCache = new WeakMap<object, Map<string, Channel>>();

/**
 * Built once per config, so a channel's memory of what it sent and its rate limit last across
 * calls. A send, quick retries included, must end within half the claim: the rows are ours
 * only that long, and a retry the channel cannot fit in is this outbox's to schedule.
 */
function channelFor(config: OutboxConfig, name: string, options: DeliverOptions): Channel {
  const given = options.channels?.[name];
  if (given) return given;
  const cfg = config.channels[name];
  if (!cfg) throw new ConfigError([{ path: `channels.${name}`, message: `no channel named '${name}' is configured` }]);
  const common = { name, budgetMs: config.alerting.claimTimeout / 2, ...(options.log ? { logger: options.log } : {}) };
  if (options.clock) return createChannel(cfg, { ...common, clock: options.clock });
  let cache = channelCache.get(config.channels);
  if (!cache) channelCache.set(config.channels, (cache = new Map()));
  let channel = cache.get(name);
  if (!channel) cache.set(name, (channel = createChannel(cfg, common)));
  return channel;
}

/** Resolved rows wait for their firing row on the same channel, and are dropped when it was never sent. */
async function firingDelivered(db: Kysely<Database>, row: OutboxRow): Promise<'sent' | 'pending' | 'never'> {
  const rows = await db
    .selectFrom('alert_outbox')
    .select(['status'])
    .where('rule', '=', row.rule)
    .where('instance', '=', row.instance)
    .where('episode', '=', row.episode)
    .where('channel', '=', row.channel)
    .where('event', 'in', ['firing', 'repeat'])
    .execute();
  if (rows.some((r) => r.status === 'sent')) return 'sent';
  if (rows.some((r) => r.status === 'pending')) return 'pending';
  // Dropped, failed, or never queued here (the channel was added to the rule since).
  return 'never';
}

/**
 * Claims the due outbox rows, groups them per rule, channel and status into one message
 * each, applies silences and mute windows, sends, and marks each row. Transient failures
 * are retried later with backoff kept on the row; a ConfigError marks them failed with its
 * reason. Safe to run in any number of replicas at once.
 */
export async function deliverOutbox(db: Kysely<Database>, config: OutboxConfig, options: DeliverOptions = {}): Promise<DeliverResult> {
  const now = options.now ?? new Date();
  const owner = options.owner ?? `deliverer-${randomUUID()}`;
  const log = options.log;
  const claimMs = config.alerting.claimTimeout;
  const result: DeliverResult = { sent: 0, failed: 0, held: 0, dropped: 0, retrying: 0, messages: 0, failures: [] };

  const claimed = await claim(db, owner, now, claimMs, options.limit ?? 500);
  if (claimed.length === 0) return result;
  const silences = await activeSilences(db, now);
  const inhibited = await inhibitedSeries(db, claimed, log);
  const mutesOf = new Map(config.alerts.map((r) => [r.name, r.muteWindows]));

  const groups = new Map<string, OutboxRow[]>();
  for (const row of claimed) {
    const key = groupKey(row);
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  // Oldest first, so a firing message goes out before the resolved one that follows it.
  const ordered = [...groups.values()].sort((a, b) => a[0]!.id - b[0]!.id);

  for (const group of ordered) {
    const sendable: OutboxRow[] = [];
    for (const row of group) {
      const silence = silences.find((s) => matchesAll(s.matchers, row.payload.labels));
      if (silence) {
        await hold(db, [row], owner, now, silence.action, silence.endsAt, { key: `silence:${silence.id}`, why: describeSilence(silence) }, result, log);
        continue;
      }
      const quiet = row.event === 'resolved' ? undefined : inhibited.get(seriesKey(row));
      if (quiet !== undefined) {
        // Queued before its source began failing: kept until the source is back, when the
        // series is judged again and this goes out (and its resolved one, if it resolves).
        const notBefore = new Date(now.getTime() + INHIBITED_RECHECK_MS);
        await settle(db, [row.id], owner, now, { status: 'pending', notBefore, error: `held: ${quiet}`, attempted: false, held: { key: 'inhibited' } }, log);
        result.held++;
        continue;
      }
      if (row.event === 'resolved') {
        const firing = await firingDelivered(db, row);
        if (firing === 'pending') {
          await settle(db, [row.id], owner, now, { status: 'pending', notBefore: new Date(now.getTime() + 60_000), error: 'waiting for its firing notification', attempted: false }, log);
          result.held++;
          continue;
        }
        if (firing === 'never') {
          await settle(db, [row.id], owner, now, { status: 'dropped', error: 'its firing notification was never delivered' }, log);
          result.dropped++;
          continue;
        }
      }
      sendable.push(row);
    }
    if (sendable.length === 0) continue;

    const mute = activeMute(config.alerting.muteWindows, mutesOf.get(sendable[0]!.rule) ?? [], now);
    if (mute) {
      await hold(db, sendable, owner, now, mute.window.action, mute.endsAt, { key: `mute:${mute.name}`, why: describeMute(mute) }, result, log);
      continue;
    }

    const ids = sendable.map((r) => r.id);
    let channel: Channel;
    try {
      channel = channelFor(config, sendable[0]!.channel, options);
    } catch (err) {
      const error = redactSecrets(errorMessage(err));
      log?.error({ channel: sendable[0]!.channel, rule: sendable[0]!.rule, outbox: ids, err: error }, 'notification failed for good');
      await settle(db, ids, owner, now, { status: 'failed', error }, log);
      await recordAttempt(db, sendable[0]!.channel, now, error, log);
      result.failed += ids.length;
      result.failures.push({ channel: sendable[0]!.channel, rule: sendable[0]!.rule, error });
      continue;
    }
    // Sends take real time (Slack allows one message a second per webhook): renewed before each.
    const ours = await renew(db, ids, owner, claimMs);
    const rows = sendable.filter((r) => ours.has(r.id));
    if (rows.length === 0) continue;
    const notification = notificationOf(rows, config);
    const rowIds = rows.map((r) => r.id);
    try {
      await channel.send(notification);
      result.messages++;
      await settle(db, rowIds, owner, now, { status: 'sent' }, log);
      await recordAttempt(db, channel.name, now, null, log);
      result.sent += rowIds.length;
    } catch (err) {
      const attempts = Math.max(...rows.map((r) => r.attempts)) + 1;
      const verdict = retryVerdict(err, attempts, { maxAttempts: config.alerting.maxAttempts, maxRetryAfterMs: config.alerting.maxRetryAfter });
      await recordAttempt(db, channel.name, now, verdict.error, log);
      if (!verdict.retry) {
        log?.error({ channel: channel.name, rule: rows[0]!.rule, outbox: rowIds, err: verdict.error }, 'notification failed for good');
        await settle(db, rowIds, owner, now, { status: 'failed', error: verdict.error }, log);
        result.failed += rowIds.length;
        result.failures.push({ channel: channel.name, rule: rows[0]!.rule, error: verdict.error });
      } else {
        const notBefore = new Date(now.getTime() + verdict.delayMs);
        log?.warn({ channel: channel.name, rule: rows[0]!.rule, outbox: rowIds, err: verdict.error, retryAt: notBefore.toISOString() }, 'notification failed; will retry');
        await settle(db, rowIds, owner, now, { status: 'pending', notBefore, error: verdict.error, attempted: true }, log);
        result.retrying += rowIds.length;
      }
    }
  }
  return result;
}

/** How often a notification held for an inhibited series looks again. */
const INHIBITED_RECHECK_MS = 60_000;

const seriesKey = (r: { rule: string; instance: string }) => `${r.rule}\u0000${r.instance}`;

/**
 * The claimed rows' series that are inhibited now, with why; none when that cannot be read
 * (delivery goes on: a message too many is better than none).
 */
async function inhibitedSeries(db: Kysely<Database>, rows: readonly OutboxRow[], log: Logger | undefined): Promise<Map<string, string>> {
  const rules = [...new Set(rows.map((r) => r.rule))];
  try {
    const found = await db.selectFrom('alert_instances').select(['rule', 'instance', 'reason']).where('rule', 'in', rules).where('state', '=', 'inhibited').execute();
    return new Map(found.map((r) => [seriesKey(r), r.reason]));
  } catch (err) {
    log?.warn({ err: redactSecrets(errorMessage(err)) }, 'could not read which alerts are inhibited; delivering without inhibition');
    return new Map();
  }
}

function describeSilence(s: Silence): string {
  return `silence #${s.id} (${s.matchers.map(formatMatcher).join(', ')}${s.comment ? `: ${s.comment}` : ''})`;
}

async function hold(
  db: Kysely<Database>,
  rows: OutboxRow[],
  owner: string,
  now: Date,
  action: 'hold' | 'drop',
  until: Date,
  held: { key: string; why: string },
  result: DeliverResult,
  log: Logger | undefined,
): Promise<void> {
  const ids = rows.map((r) => r.id);
  if (action === 'drop') {
    await settle(db, ids, owner, now, { status: 'dropped', error: `dropped by ${held.why}`, by: held.key }, log);
    result.dropped += ids.length;
    return;
  }
  await settle(db, ids, owner, now, { status: 'pending', notBefore: until, error: `held by ${held.why} until ${until.toISOString()}`, attempted: false, held }, log);
  result.held += ids.length;
}
