import { sql, type Kysely, type Selectable } from 'kysely';
import type { AlertRule } from '../config/index.ts';
import type { Database } from '../warehouse/index.ts';
import type { AlertState } from './state.ts';

interface InstanceStatus {
  rule: string;
  kind: AlertRule['condition']['kind'];
  severity: AlertRule['severity'];
  /** '' for a rule's single series. */
  instance: string;
  /** null: the rule has not been evaluated yet. */
  state: AlertState | null;
  since: Date | null;
  reason: string;
  lastValue: number | null;
  lastEvaluatedAt: Date | null;
  /** Set while a firing episode is open (also through no_data and error). */
  firingSince: Date | null;
  labels: Record<string, string>;
}

/**
 * Every configured rule with the state of each of its series; a rule not yet evaluated has one
 * row with state null. With `state`, only the series in that state (a page of what fires reads
 * those alone, not every one of ten thousand series).
 */
export async function listAlertStates(db: Kysely<Database>, config: { alerts: readonly AlertRule[] }, options: { state?: AlertState; limit?: number } = {}): Promise<InstanceStatus[]> {
  const names = config.alerts.map((r) => r.name);
  let q = db.selectFrom('alert_instances').selectAll().where('rule', 'in', names);
  if (options.state) q = q.where('state', '=', options.state);
  const state = options.state;
  const limit = options.limit;
  // With a limit (and a state), the first series in the order of the list below (rules as
  // configured, then by instance): each rule's first few, read in the order of its index
  // (firing: migration 016), not every series in the state.
  const rows =
    names.length === 0
      ? []
      : state && limit !== undefined
        ? (
            await sql<Selectable<Database['alert_instances']>>`
              select * from (${sql.join(names.map((n) => sql`(select * from alert_instances where rule = ${n} and state = ${state} order by instance limit ${limit})`), sql` union all `)}) i
              order by array_position(${names}::text[], rule), instance limit ${limit}
            `.execute(db)
          ).rows
        : await q.orderBy('rule').orderBy('instance').execute();
  const byRule = new Map<string, typeof rows>();
  for (const r of rows) byRule.set(r.rule, [...(byRule.get(r.rule) ?? []), r]);
  const out: InstanceStatus[] = [];
  for (const rule of config.alerts) {
    const mine = byRule.get(rule.name) ?? [];
    const base = { rule: rule.name, kind: rule.condition.kind, severity: rule.severity };
    if (mine.length === 0) {
      if (options.state) continue;
      out.push({ ...base, instance: '', state: null, since: null, reason: '', lastValue: null, lastEvaluatedAt: null, firingSince: null, labels: {} });
      continue;
    }
    for (const r of mine) {
      out.push({
        ...base,
        instance: r.instance,
        state: r.state as AlertState,
        since: new Date(r.state_since),
        reason: r.reason,
        lastValue: r.last_value,
        lastEvaluatedAt: r.last_evaluated_at ? new Date(r.last_evaluated_at) : null,
        firingSince: r.firing_since ? new Date(r.firing_since) : null,
        labels: r.labels,
      });
    }
  }
  return out;
}

/** How many series of the configured rules are in `state`. */
export async function countAlertStates(db: Kysely<Database>, config: { alerts: readonly AlertRule[] }, state: AlertState): Promise<number> {
  const names = config.alerts.map((r) => r.name);
  if (names.length === 0) return 0;
  const row = await db.selectFrom('alert_instances').select((eb) => eb.fn.countAll<number>().as('n')).where('rule', 'in', names).where('state', '=', state).executeTakeFirst();
  return Number(row?.n ?? 0);
}

interface TransitionRecord {
  rule: string;
  instance: string;
  seq: number;
  from: AlertState;
  to: AlertState;
  reason: string;
  value: number | null;
  at: Date;
}

export async function listTransitions(db: Kysely<Database>, options: { rule?: string; instance?: string; limit?: number } = {}): Promise<TransitionRecord[]> {
  let q = db.selectFrom('alert_transitions').selectAll().orderBy('id', 'desc').limit(options.limit ?? 100);
  if (options.rule) q = q.where('rule', '=', options.rule);
  if (options.instance !== undefined) q = q.where('instance', '=', options.instance);
  const rows = await q.execute();
  return rows.reverse().map((r) => ({ rule: r.rule, instance: r.instance, seq: r.seq, from: r.from_state as AlertState, to: r.to_state as AlertState, reason: r.reason, value: r.value, at: new Date(r.at) }));
}
