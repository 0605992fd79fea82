import type { Kysely } from 'kysely';
import { INHIBITABLE_KINDS, INHIBITING_KINDS, type AlertRule, type GoalConfig } from '../config/index.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { redactAndCut } from '../core/secrets.ts';
import type { Completeness } from '../metrics/completeness.ts';
import type { Database } from '../warehouse/index.ts';
import type { Observation } from './types.ts';

/*
 * Inhibition, as in Alertmanager: while a connector's syncs fail (a sync_failure rule fires,
 * held answers included) or its data is stale (a freshness rule fires), the threshold,
 * change, anomaly and goal rules on series that connector feeds stay quiet. Their numbers are
 * wrong for a known reason, and the one message about the source says which alerts it keeps
 * quiet. Which connectors feed a series is the completeness model's answer
 * (src/metrics/completeness.ts, `sourcesOf`, the kpi_sources table).
 *
 * A rule takes `inhibit: false` to opt out, or `inhibitedBy: [names]` to listen to some of the
 * inhibiting rules only. Inhibition is read from the inhibiting rules' stored state, after
 * they are evaluated in the same tick; a failure to read it never fails an evaluation.
 */

interface InhibitionConfig {
  alerts: readonly AlertRule[];
  goals: readonly Pick<GoalConfig, 'name' | 'kpi'>[];
}

/** A firing instance of an inhibiting rule: `rule` fires for `connector`. */
export interface Inhibitor {
  rule: string;
  connector: string;
}

/** The inhibiting rules `rule` listens to; none for rules that are not inhibited. */
function inhibitorsOf(config: InhibitionConfig, rule: AlertRule): Set<string> {
  if (!INHIBITABLE_KINDS.has(rule.condition.kind) || rule.inhibit === false) return new Set();
  const named = rule.inhibitedBy ? new Set(rule.inhibitedBy) : undefined;
  return new Set(config.alerts.filter((r) => INHIBITING_KINDS.has(r.condition.kind) && (!named || named.has(r.name))).map((r) => r.name));
}

const only = (names: readonly string[], allowed: string | readonly string[] | undefined): string[] => {
  if (allowed === undefined) return [...names];
  const set = new Set(typeof allowed === 'string' ? [allowed] : allowed);
  return names.filter((n) => set.has(n));
};

/**
 * The connectors feeding one series of a rule; with no observation, those feeding any of its
 * series. A series per connector reads its own connector only; a goal reads its KPI.
 */
function feeding(config: InhibitionConfig, completeness: Completeness, rule: AlertRule, labels?: Readonly<Record<string, string>>): string[] {
  if (rule.condition.kind === 'goal') {
    const wanted = labels?.goal !== undefined ? [labels.goal] : rule.condition.goals;
    const goals = config.goals.filter((g) => !wanted || wanted.includes(g.name));
    return [...new Set(goals.flatMap((g) => completeness.sourcesOf(g.kpi)))];
  }
  if (!rule.series) return [];
  let from = only(completeness.sourcesOf(rule.series.kpi), rule.series.filter?.connector);
  if (rule.series.dimension === 'connector' && labels?.connector !== undefined) from = only(from, labels.connector);
  return from;
}

/** The rules an inhibiting rule firing for `connector` keeps quiet, by name. */
export function quietedBy(config: InhibitionConfig, completeness: Completeness, source: AlertRule, connector: string): string[] {
  return config.alerts.filter((r) => inhibitorsOf(config, r).has(source.name) && feeding(config, completeness, r).includes(connector)).map((r) => r.name);
}

/**
 * Adds to each breaching observation of an inhibiting rule which alerts it keeps quiet: the
 * message about the source is the one message sent for them.
 */
export function noteQuieted(config: InhibitionConfig, completeness: Completeness, source: AlertRule, observations: Observation[]): Observation[] {
  if (!INHIBITING_KINDS.has(source.condition.kind)) return observations;
  return observations.map((obs) => {
    const connector = obs.labels.connector;
    if (connector === undefined || obs.seen.kind !== 'value' || !obs.seen.breach) return obs;
    const quiet = quietedBy(config, completeness, source, connector);
    return quiet.length === 0 ? obs : { ...obs, summary: `${obs.summary}. Quiet because of this: ${quiet.join(', ')}` };
  });
}

/** Every firing (episode open) instance of the inhibiting rules, by connector. */
async function firingInhibitors(db: Kysely<Database>, config: InhibitionConfig): Promise<Map<string, Inhibitor[]>> {
  const names = config.alerts.filter((r) => INHIBITING_KINDS.has(r.condition.kind)).map((r) => r.name);
  const byConnector = new Map<string, Inhibitor[]>();
  if (names.length === 0) return byConnector;
  const rows = await db.selectFrom('alert_instances').select(['rule', 'labels']).where('rule', 'in', names).where('episode', 'is not', null).orderBy('rule').execute();
  for (const r of rows) {
    const connector = r.labels?.connector;
    if (typeof connector !== 'string') continue;
    byConnector.set(connector, [...(byConnector.get(connector) ?? []), { rule: r.rule, connector }]);
  }
  return byConnector;
}

/**
 * The inhibitors in force; none (and a warning) when they cannot be read, so the evaluation
 * goes on as if nothing inhibited anything: a missed inhibition costs a message, a failed
 * evaluation every message.
 */
export async function loadInhibitors(db: Kysely<Database>, config: InhibitionConfig, log?: Logger): Promise<Map<string, Inhibitor[]>> {
  try {
    return await firingInhibitors(db, config);
  } catch (err) {
    log?.warn({ err: redactAndCut(errorMessage(err), 500) }, 'could not read which sources are failing; evaluating alerts without inhibition');
    return new Map();
  }
}

/**
 * The observations of one rule with those whose sources are failing turned `inhibited`, saying
 * which rule fires for which connector. An error stays an error: it is about the rule itself.
 */
export function applyInhibition(config: InhibitionConfig, completeness: Completeness, rule: AlertRule, observations: Observation[], inhibitors: ReadonlyMap<string, Inhibitor[]>): Observation[] {
  if (inhibitors.size === 0) return observations;
  const listening = inhibitorsOf(config, rule);
  if (listening.size === 0) return observations;
  return observations.map((obs) => {
    if (obs.seen.kind === 'error') return obs;
    const by = feeding(config, completeness, rule, obs.labels).flatMap((c) => inhibitors.get(c) ?? []).filter((i) => listening.has(i.rule));
    if (by.length === 0) return obs;
    const why = by.map((i) => `${i.rule} fires for ${i.connector}`).join('; ');
    return { ...obs, seen: { kind: 'inhibited', reason: `inhibited while a source fails (${why}): ${obs.summary}` } };
  });
}
