import type { Kysely, Selectable, Transaction } from 'kysely';
import type { AlertRule } from '../../config/index.ts';
import type { OutboxPayload } from '../../notify/index.ts';
import type { Database } from '../../warehouse/index.ts';
import type { AlertInstancesTable } from '../../warehouse/tables.ts';
import { advance, type AlertState, type InstanceState, type NotifyEvent, type StateRules, type Transition } from './state.ts';
import type { Observation } from './types.ts';

type InstanceRow = Selectable<AlertInstancesTable>;

export interface AppliedTransition extends Transition {
  rule: string;
  instance: string;
  at: Date;
}

export interface ApplyResult {
  transitions: AppliedTransition[];
  outboxIds: number[];
  /** Instances this tick had already been evaluated for (by this or another replica). */
  skipped: number;
}

const date = (v: Date | string | null): Date | null => (v === null ? null : new Date(v));

function toState(row: InstanceRow): InstanceState {
  return {
    state: row.state as AlertState,
    since: new Date(row.state_since),
    reason: row.reason,
    breaches: row.breaches,
    clears: row.clears,
    seq: row.seq,
    episode: row.episode,
    firingSince: date(row.firing_since),
    lastNotifiedAt: date(row.last_notified_at),
    repeats: row.repeats,
    lastDataAt: date(row.last_data_at),
    noDataSince: date(row.no_data_since),
  };
}

export function stateRules(rule: AlertRule): StateRules {
  return { for: rule.for, keepFiringFor: rule.keepFiringFor, repeatMs: rule.repeatInterval, sendResolved: rule.sendResolved, noData: { policy: rule.noData.policy, graceMs: rule.noData.grace } };
}

export function ruleLabels(rule: AlertRule, own: Record<string, string>): Record<string, string> {
  return { alertname: rule.name, severity: rule.severity, kind: rule.condition.kind, ...rule.labels, ...own };
}

function payloadOf(rule: AlertRule, obs: Observation, before: InstanceState, notify: NotifyEvent, now: Date): OutboxPayload {
  const resolved = notify.event === 'resolved';
  return {
    status: resolved ? 'resolved' : 'firing',
    ruleName: rule.title ?? rule.name,
    severity: rule.severity,
    summary: obs.summary,
    labels: ruleLabels(rule, obs.labels),
    instance: obs.alert,
    startsAt: (resolved || notify.event === 'repeat' ? (before.firingSince ?? now) : now).toISOString(),
    ...(resolved ? { endsAt: now.toISOString() } : {}),
    ...(notify.event === 'repeat' ? { repeat: notify.ordinal } : {}),
  };
}

export interface ApplyOptions {
  now: Date;
  tick: number;
  groupWaitMs: number;
}

/**
 * Advances every instance of one rule in one transaction: the state change, its transition
 * row and its outbox rows commit together or not at all. The rule's rows are locked in key
 * order, so replicas evaluating the same rule queue behind each other instead of racing,
 * and the second one for a tick finds it done.
 */
export async function applyObservations(db: Kysely<Database>, rule: AlertRule, observations: Observation[], options: ApplyOptions): Promise<ApplyResult> {
  const { now, tick } = options;
  return db.transaction().execute(async (trx) => {
    const byInstance = new Map(observations.map((o) => [o.instance, o]));
    if (byInstance.size > 0) {
      await trx
        .insertInto('alert_instances')
        // In key order, like the locks below, so two replicas adding the same series never deadlock.
        .values([...byInstance.values()].sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0)).map((o) => ({ rule: rule.name, instance: o.instance, labels: JSON.stringify(ruleLabels(rule, o.labels)), state: 'ok', state_since: now })))
        .onConflict((oc) => oc.columns(['rule', 'instance']).doNothing())
        .execute();
    }
    const rows = await trx.selectFrom('alert_instances').selectAll().where('rule', '=', rule.name).orderBy('instance').forUpdate().execute();

    const result: ApplyResult = { transitions: [], outboxIds: [], skipped: 0 };
    for (const row of rows) {
      if (row.last_tick !== null && row.last_tick >= tick) {
        result.skipped++;
        continue;
      }
      const obs = byInstance.get(row.instance) ?? vanished(rule, row);
      const before = toState(row);
      const step = advance(before, obs.seen, stateRules(rule), now);
      await saveInstance(trx, row, step.next, obs, rule, tick, now);
      if (step.transition) {
        const t = step.transition;
        await trx.insertInto('alert_transitions').values({ rule: rule.name, instance: row.instance, seq: t.seq, from_state: t.from, to_state: t.to, reason: t.reason, value: obs.alert.value, at: now }).execute();
        result.transitions.push({ ...t, rule: rule.name, instance: row.instance, at: now });
      }
      if (step.notify) result.outboxIds.push(...(await queue(trx, rule, row.instance, step.notify, payloadOf(rule, obs, before, step.notify, now), options)));
    }
    return result;
  });
}

/** A series that was there before and is gone now (a paused campaign): it has no data. */
function vanished(rule: AlertRule, row: InstanceRow): Observation {
  const name = `${rule.series?.kpi ?? rule.name}${row.instance ? `{${row.instance}}` : ''}`;
  const summary = `${name} has no value any more`;
  return { instance: row.instance, labels: stripRuleLabels(row.labels, rule), seen: { kind: 'no_data', reason: summary }, alert: { series: name, value: null, unit: 'count' }, summary };
}

async function saveInstance(trx: Transaction<Database>, row: InstanceRow, s: InstanceState, obs: Observation, rule: AlertRule, tick: number, now: Date): Promise<void> {
  await trx
    .updateTable('alert_instances')
    .set({
      labels: JSON.stringify(ruleLabels(rule, obs.labels)),
      state: s.state,
      state_since: s.since,
      reason: s.reason.slice(0, 2000),
      breaches: s.breaches,
      clears: s.clears,
      seq: s.seq,
      episode: s.episode,
      firing_since: s.firingSince,
      last_notified_at: s.lastNotifiedAt,
      repeats: s.repeats,
      last_tick: tick,
      last_evaluated_at: now,
      last_value: obs.alert.value ?? null,
      last_summary: obs.summary.slice(0, 2000),
      last_data_at: s.lastDataAt,
      no_data_since: s.noDataSince,
    })
    .where('rule', '=', row.rule)
    .where('instance', '=', row.instance)
    .execute();
}

const AUTOMATIC = new Set(['alertname', 'severity', 'kind']);

/** The instance's own labels back out of the stored set, so a changed rule label is not kept forever. */
function stripRuleLabels(stored: Record<string, string>, rule: AlertRule): Record<string, string> {
  return Object.fromEntries(Object.entries(stored ?? {}).filter(([k]) => !AUTOMATIC.has(k) && !(k in rule.labels)));
}

async function queue(trx: Transaction<Database>, rule: AlertRule, instance: string, n: NotifyEvent, payload: OutboxPayload, options: ApplyOptions): Promise<number[]> {
  const dueAt = new Date(options.now.getTime() + options.groupWaitMs);
  const inserted = await trx
    .insertInto('alert_outbox')
    .values(
      rule.channels.map((channel) => ({
        rule: rule.name,
        instance,
        episode: n.episode,
        event: n.event,
        ordinal: n.ordinal,
        channel,
        payload: JSON.stringify(payload),
        created_at: options.now,
        due_at: dueAt,
        not_before: options.now,
      })),
    )
    // The unique key is the last line of defence; the row lock above is the first.
    .onConflict((oc) => oc.columns(['rule', 'instance', 'episode', 'event', 'ordinal', 'channel']).doNothing())
    .returning('id')
    .execute();
  return inserted.map((r) => Number(r.id));
}
