import { sql, type Kysely, type Transaction } from 'kysely';
import type { AlertRule } from '../config/index.ts';
import type { OutboxPayload } from './outbox-types.ts';
import { redactAndCut } from '../core/secrets.ts';
import type { Database } from '../warehouse/index.ts';
import { UnnestColumns } from '../warehouse/unnest.ts';
import { advance, initialState, type AlertState, type InstanceState, type NotifyEvent, type StateRules, type Step, type Transition } from './state.ts';
import type { Observation } from './types.ts';

/** What a tick reads of an instance; times in epoch milliseconds. */
interface InstanceRow {
  instance: string;
  labels: Record<string, string>;
  state: string;
  state_since: number;
  reason: string;
  breaches: number;
  clears: number;
  seq: number;
  episode: number | null;
  firing_since: number | null;
  last_notified_at: number | null;
  repeats: number;
  last_tick: number | null;
  last_data_at: number | null;
  no_data_since: number | null;
  last_value: number | null;
  last_summary: string | null;
}

/** Epoch milliseconds parse several times faster than timestamps, and a tick reads five per instance. */
const epochMs = (column: string) => sql`(extract(epoch from ${sql.ref(column)}) * 1000)::float8 as ${sql.ref(column)}`;

/** The rule's instances, locked in key order. */
async function lockInstances(trx: Transaction<Database>, rule: string): Promise<InstanceRow[]> {
  const { rows } = await sql<InstanceRow>`
    select instance, labels, state, ${epochMs('state_since')}, reason, breaches, clears, seq, episode, ${epochMs('firing_since')},
           ${epochMs('last_notified_at')}, repeats, last_tick, ${epochMs('last_data_at')}, ${epochMs('no_data_since')}, last_value, last_summary
    from alert_instances
    where rule = ${rule}
    order by instance
    for update
  `.execute(trx);
  return rows;
}

export interface AppliedTransition extends Transition {
  rule: string;
  instance: string;
  at: Date;
}

interface ApplyResult {
  transitions: AppliedTransition[];
  outboxIds: number[];
  /** Instances this tick had already been evaluated for (by this or another replica). */
  skipped: number;
}

const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

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

function stateRules(rule: AlertRule): StateRules {
  return { for: rule.for, keepFiringFor: rule.keepFiringFor, repeatMs: rule.repeatInterval, sendResolved: rule.sendResolved, noData: { policy: rule.noData.policy, graceMs: rule.noData.grace } };
}

function ruleLabels(rule: AlertRule, own: Record<string, string>): Record<string, string> {
  return { alertname: rule.name, severity: rule.severity, kind: rule.condition.kind, ...rule.labels, ...own };
}

function payloadOf(rule: AlertRule, obs: Observation, before: InstanceState, notify: NotifyEvent, now: Date): OutboxPayload {
  const resolved = notify.event === 'resolved';
  return {
    status: resolved ? 'resolved' : 'firing',
    ruleName: rule.title ?? rule.name,
    severity: rule.severity,
    summary: clip(obs.summary),
    ...(rule.description ? { description: rule.description } : {}),
    ...(rule.runbook ? { runbook: rule.runbook } : {}),
    labels: ruleLabels(rule, obs.labels),
    instance: obs.alert,
    startsAt: (resolved || notify.event === 'repeat' ? (before.firingSince ?? now) : now).toISOString(),
    ...(resolved ? { endsAt: now.toISOString() } : {}),
    ...(notify.event === 'repeat' ? { repeat: notify.ordinal } : {}),
  };
}

interface ApplyOptions {
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
    const writes = new TickWrites(rule, options);
    const added = await addInstances(trx, rule, [...byInstance.values()], options);
    const rows = await lockInstances(trx, rule.name);

    const rules = stateRules(rule);
    let skipped = 0;
    // In key order whether new or not, so transitions and notifications are numbered as they always were.
    for (const row of rows) {
      const fresh = added.get(row.instance);
      if (fresh) {
        writes.events(row.instance, fresh.before, fresh.step, fresh.obs);
        continue;
      }
      if (row.last_tick !== null && row.last_tick >= tick) {
        skipped++;
        continue;
      }
      const obs = byInstance.get(row.instance) ?? vanished(rule, row);
      const before = toState(row);
      writes.add(row, before, advance(before, obs.seen, rules, now), obs);
    }
    return { ...(await writes.flush(trx)), skipped };
  });
}

interface Fresh {
  obs: Observation;
  before: InstanceState;
  step: Step;
}

/**
 * New series are inserted already advanced by their first observation, rather than as ok and
 * then updated: on a first evaluation that is every row. Only the series not there yet are
 * sent, since a tick rarely brings new ones; those another replica inserted first are left
 * to the locked rows. Every insert comes before the locks, so a replica waiting on another's
 * new row holds no row lock that one could be waiting for. Returns the ones inserted here.
 */
async function addInstances(trx: Transaction<Database>, rule: AlertRule, observations: Observation[], options: ApplyOptions): Promise<Map<string, Fresh>> {
  if (observations.length === 0) return new Map();
  const known = new Set((await trx.selectFrom('alert_instances').select('instance').where('rule', '=', rule.name).execute()).map((r) => r.instance));
  // In key order, so two replicas adding the same series never deadlock.
  const added = observations.filter((o) => !known.has(o.instance)).sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0));
  if (added.length === 0) return new Map();
  const rules = stateRules(rule);
  const rows = stateColumns();
  const fresh = new Map<string, Fresh>();
  for (const obs of added) {
    const before = initialState(options.now);
    const step = advance(before, obs.seen, rules, options.now);
    fresh.set(obs.instance, { obs, before, step });
    rows.push(stateRow(rule, obs.instance, step.next, obs));
  }
  const { tick, now } = options;
  const inserted = await sql<{ instance: string }>`
    insert into alert_instances (rule, instance, labels, state, state_since, reason, breaches, clears, seq, episode, firing_since, last_notified_at,
                                 repeats, last_tick, last_evaluated_at, last_value, last_summary, last_data_at, no_data_since)
    select ${rule.name}, t.instance, t.labels::jsonb, t.state, t.since, t.reason, t.breaches, t.clears, t.seq, t.episode, t.firing_since, t.last_notified_at,
           t.repeats, ${tick}::bigint, ${now.toISOString()}::timestamptz, t.value, t.summary, t.last_data_at, t.no_data_since
    from ${rows.from()}
    on conflict (rule, instance) do nothing
    returning instance
  `.execute(trx);
  return new Map(inserted.rows.map((r) => [r.instance, fresh.get(r.instance)!]));
}

/** A series that was there before and is gone now (a paused campaign): it has no data. */
function vanished(rule: AlertRule, row: InstanceRow): Observation {
  const name = `${rule.series?.kpi ?? rule.name}${row.instance ? `{${row.instance}}` : ''}`;
  const summary = `${name} has no value any more`;
  return { instance: row.instance, labels: stripRuleLabels(row.labels, rule), seen: { kind: 'no_data', reason: summary }, alert: { series: name, value: null, unit: 'count' }, summary };
}

function sameLabels(stored: Record<string, string>, labels: Record<string, string>): boolean {
  const keys = Object.keys(labels);
  return keys.length === Object.keys(stored).length && keys.every((k) => stored[k] === labels[k]);
}

const isoOrNull = (d: Date | null): string | null => (d === null ? null : d.toISOString());

/** Stored texts are scrubbed of secrets and cut at 2,000 characters (a sync error in a summary can carry one). */
const clip = (text: string): string => redactAndCut(text, 2000);

const sameTime = (a: Date | null, b: Date | null): boolean => (a === null ? b === null : b !== null && a.getTime() === b.getTime());

/** Whether a step moved nothing but the time data was last seen, and the instance shows what it showed: most rows of most ticks. */
function onlyDataTimeMoved(rule: AlertRule, row: InstanceRow, before: InstanceState, next: InstanceState, obs: Observation): boolean {
  return (
    next.state === before.state &&
    clip(next.reason) === row.reason &&
    next.breaches === before.breaches &&
    next.clears === before.clears &&
    next.seq === before.seq &&
    next.episode === before.episode &&
    next.repeats === before.repeats &&
    sameTime(next.since, before.since) &&
    sameTime(next.firingSince, before.firingSince) &&
    sameTime(next.lastNotifiedAt, before.lastNotifiedAt) &&
    sameTime(next.noDataSince, before.noDataSince) &&
    (obs.alert.value ?? null) === row.last_value &&
    clip(obs.summary) === row.last_summary &&
    sameLabels(row.labels, ruleLabels(rule, obs.labels))
  );
}

/** An instance's state as columns. Timestamps travel as ISO text, which reads back as the same instant on both databases. */
const stateColumns = () =>
  new UnnestColumns({
    instance: 'text',
    labels: 'text',
    state: 'text',
    since: 'timestamptz',
    reason: 'text',
    breaches: 'int',
    clears: 'int',
    seq: 'int',
    episode: 'int',
    firing_since: 'timestamptz',
    last_notified_at: 'timestamptz',
    repeats: 'int',
    value: 'float8',
    summary: 'text',
    last_data_at: 'timestamptz',
    no_data_since: 'timestamptz',
  });

type StateRow = Parameters<ReturnType<typeof stateColumns>['push']>[0];

/**
 * With the stored row, labels and reason are left out (null keeps the stored one) where they
 * did not change: on most ticks neither does.
 */
function stateRow(rule: AlertRule, instance: string, s: InstanceState, obs: Observation, stored?: InstanceRow): StateRow {
  const labels = ruleLabels(rule, obs.labels);
  const reason = clip(s.reason);
  return {
    instance,
    labels: stored && sameLabels(stored.labels, labels) ? null : JSON.stringify(labels),
    state: s.state,
    since: s.since.toISOString(),
    reason: stored && reason === stored.reason ? null : reason,
    breaches: s.breaches,
    clears: s.clears,
    seq: s.seq,
    episode: s.episode,
    firing_since: isoOrNull(s.firingSince),
    last_notified_at: isoOrNull(s.lastNotifiedAt),
    repeats: s.repeats,
    value: obs.alert.value ?? null,
    summary: clip(obs.summary),
    last_data_at: isoOrNull(s.lastDataAt),
    no_data_since: isoOrNull(s.noDataSince),
  };
}

/**
 * One tick's writes for one rule, written with one statement per table: one update per
 * instance made the writes most of a tick with thousands of instances.
 */
class TickWrites {
  readonly #states = stateColumns();
  /** Rows of which only the tick and the times of evaluation and of the last data move. */
  readonly #touched = new UnnestColumns({ instance: 'text', last_data_at: 'timestamptz' });
  readonly #transitions = new UnnestColumns({ instance: 'text', seq: 'int', from_state: 'text', to_state: 'text', reason: 'text', value: 'float8' });
  readonly #outbox = new UnnestColumns({ instance: 'text', episode: 'int', event: 'text', ordinal: 'int', channel: 'text', payload: 'text' });
  readonly #applied: AppliedTransition[] = [];

  constructor(
    readonly rule: AlertRule,
    readonly options: ApplyOptions,
  ) {}

  add(row: InstanceRow, before: InstanceState, step: Step, obs: Observation): void {
    if (onlyDataTimeMoved(this.rule, row, before, step.next, obs)) this.#touched.push({ instance: row.instance, last_data_at: isoOrNull(step.next.lastDataAt) });
    else this.#states.push(stateRow(this.rule, row.instance, step.next, obs, row));
    this.events(row.instance, before, step, obs);
  }

  /** The transition and notifications of a step whose state is written already. */
  events(instance: string, before: InstanceState, step: Step, obs: Observation): void {
    if (step.transition) this.#transition(instance, step.transition, obs);
    if (step.notify) this.#notify(instance, step.notify, payloadOf(this.rule, obs, before, step.notify, this.options.now));
  }

  #transition(instance: string, t: Transition, obs: Observation): void {
    this.#transitions.push({ instance, seq: t.seq, from_state: t.from, to_state: t.to, reason: t.reason, value: obs.alert.value ?? null });
    this.#applied.push({ ...t, rule: this.rule.name, instance, at: this.options.now });
  }

  #notify(instance: string, n: NotifyEvent, payload: OutboxPayload): void {
    const json = JSON.stringify(payload);
    // A notice that a channel fails is never sent to that channel: it would not arrive.
    const about = this.rule.condition.kind === 'delivery_failure' ? payload.labels.notify_channel : undefined;
    for (const channel of this.rule.channels) {
      if (channel !== about) this.#outbox.push({ instance, episode: n.episode, event: n.event, ordinal: n.ordinal, channel, payload: json });
    }
  }

  async flush(trx: Transaction<Database>): Promise<Omit<ApplyResult, 'skipped'>> {
    await this.#writeStates(trx);
    await this.#writeTouched(trx);
    await this.#writeTransitions(trx);
    return { transitions: this.#applied, outboxIds: await this.#writeOutbox(trx) };
  }

  async #writeStates(trx: Transaction<Database>): Promise<void> {
    if (this.#states.size === 0) return;
    const { tick, now } = this.options;
    await sql`
      update alert_instances a set
        labels = coalesce(t.labels::jsonb, a.labels), state = t.state, state_since = t.since, reason = coalesce(t.reason, a.reason), breaches = t.breaches, clears = t.clears,
        seq = t.seq, episode = t.episode, firing_since = t.firing_since, last_notified_at = t.last_notified_at, repeats = t.repeats,
        last_tick = ${tick}::bigint, last_evaluated_at = ${now.toISOString()}::timestamptz, last_value = t.value, last_summary = t.summary,
        last_data_at = t.last_data_at, no_data_since = t.no_data_since
      from ${this.#states.from()}
      where a.rule = ${this.rule.name} and a.instance = t.instance
    `.execute(trx);
  }

  async #writeTouched(trx: Transaction<Database>): Promise<void> {
    if (this.#touched.size === 0) return;
    await sql`
      update alert_instances a set last_tick = ${this.options.tick}::bigint, last_evaluated_at = ${this.options.now.toISOString()}::timestamptz, last_data_at = t.last_data_at
      from ${this.#touched.from()}
      where a.rule = ${this.rule.name} and a.instance = t.instance
    `.execute(trx);
  }

  async #writeTransitions(trx: Transaction<Database>): Promise<void> {
    if (this.#transitions.size === 0) return;
    await sql`
      insert into alert_transitions (rule, instance, seq, from_state, to_state, reason, value, at)
      select ${this.rule.name}, t.instance, t.seq, t.from_state, t.to_state, t.reason, t.value, ${this.options.now.toISOString()}::timestamptz
      from ${this.#transitions.from()}
    `.execute(trx);
  }

  async #writeOutbox(trx: Transaction<Database>): Promise<number[]> {
    if (this.#outbox.size === 0) return [];
    const { now, groupWaitMs } = this.options;
    const inserted = await sql<{ id: number | string }>`
      insert into alert_outbox (rule, instance, episode, event, ordinal, channel, payload, created_at, due_at, not_before)
      select ${this.rule.name}, t.instance, t.episode, t.event, t.ordinal, t.channel, t.payload::jsonb,
             ${now.toISOString()}::timestamptz, ${new Date(now.getTime() + groupWaitMs).toISOString()}::timestamptz, ${now.toISOString()}::timestamptz
      from ${this.#outbox.from()}
      -- The unique key is the last line of defence; the row lock is the first.
      on conflict (rule, instance, episode, event, ordinal, channel) do nothing
      returning id
    `.execute(trx);
    return inserted.rows.map((r) => Number(r.id));
  }
}

const AUTOMATIC = new Set(['alertname', 'severity', 'kind']);

/** The instance's own labels back out of the stored set, so a changed rule label is not kept forever. */
export function stripRuleLabels(stored: Record<string, string>, rule: AlertRule): Record<string, string> {
  return Object.fromEntries(Object.entries(stored ?? {}).filter(([k]) => !AUTOMATIC.has(k) && !(k in rule.labels)));
}
