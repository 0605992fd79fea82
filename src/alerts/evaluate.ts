import type { Kysely } from 'kysely';
import { INHIBITABLE_KINDS, INHIBITING_KINDS, type AlertCondition, type AlertRule } from '../config/index.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { redactSecrets } from '../core/secrets.ts';
import type { Database } from '../warehouse/index.ts';
import { loadCatalogue } from '../metrics/catalogue.ts';
import { loadCompleteness } from '../metrics/completeness.ts';
import { assessGoals, type GoalsAssessment } from '../metrics/goals.ts';
import { PeriodSums } from '../metrics/period-sums.ts';
import { dateIn } from '../metrics/periods.ts';
import { deliveryFailureRule, goalRule, freshnessRule, quarantineRateRule, syncFailureRule } from './other-rules.ts';
import { anomalyRule, changeRule, plannedReads, thresholdRule } from './series-rules.ts';
import { applyObservations, type AppliedTransition } from './store.ts';
import { effectiveRules } from './builtin.ts';
import { tokenExpiryRule } from './token-expiry.ts';
import { applyInhibition, loadInhibitors, noteQuieted } from './inhibition.ts';
import type { AlertsConfig, Evaluator, Observation, RuleContext } from './types.ts';

const evaluators: Record<AlertCondition['kind'], Evaluator> = {
  threshold: thresholdRule,
  change: changeRule,
  anomaly: anomalyRule,
  goal: goalRule,
  freshness: freshnessRule,
  sync_failure: syncFailureRule,
  quarantine_rate: quarantineRateRule,
  delivery_failure: deliveryFailureRule,
  token_expiry: tokenExpiryRule,
};

interface EvaluateAlertsOptions {
  /** The evaluation time; the pipeline passes the time its job was queued, so a retry evaluates the same tick. */
  now?: Date;
  log?: Logger;
  /** Only these rules (by name). */
  rules?: readonly string[];
  /**
   * The goals as the evaluate step has just recorded them, for the goal rules; without it (the
   * alert loop, `kpi alerts`) they are assessed here, once however many goal rules there are.
   */
  goals?: GoalsAssessment;
}

export interface EvaluateAlertsResult {
  transitions: AppliedTransition[];
  /** New alert_outbox rows, for the notify step. */
  outboxIds: number[];
  /** Instances already evaluated for this tick. */
  skipped: number;
  /** Rules whose evaluation failed; their instances are in state error. */
  errors: Array<{ rule: string; error: string }>;
}

/** The evaluation tick of an instant; `for` counts ticks, and a tick counts once. */
function tickOf(now: Date, intervalMs: number): number {
  return Math.floor(now.getTime() / Math.max(1, intervalMs));
}

/**
 * Every instance of the rule in state error. A rule with a single series gets that one even
 * before its first good evaluation; a rule with one series per dimension value, connector or
 * goal does not know its series yet, and reports the error in the result and the log only.
 */
async function errorObservations(db: Kysely<Database>, rule: AlertRule, reason: string): Promise<Observation[]> {
  const known = await db.selectFrom('alert_instances').select(['instance']).where('rule', '=', rule.name).execute();
  const single = rule.series !== undefined && rule.series.dimension === 'all';
  const instances = known.length > 0 ? known.map((k) => k.instance) : single ? [''] : [];
  const summary = `${rule.name} could not be evaluated: ${reason}`;
  return instances.map((instance) => ({ instance, labels: {}, seen: { kind: 'error', reason: summary }, alert: { series: instance || rule.name, value: null, unit: 'count' }, summary }));
}

/**
 * Evaluates every alert rule once at `now`: reads what each rule watches, advances each
 * series' state machine, and queues notifications in the same transaction as the state
 * change. Calling it again for the same tick (another replica, a retried job) changes nothing.
 */
export async function evaluateAlerts(db: Kysely<Database>, config: AlertsConfig, options: EvaluateAlertsOptions = {}): Promise<EvaluateAlertsResult> {
  const now = options.now ?? new Date();
  const tick = tickOf(now, config.alerting.evaluationInterval);
  const result: EvaluateAlertsResult = { transitions: [], outboxIds: [], skipped: 0, errors: [] };
  const wanted = options.rules ? new Set(options.rules) : undefined;
  const rules = effectiveRules(config).filter((rule) => !wanted || wanted.has(rule.name));
  const catalogue = loadCatalogue(config.kpis);
  const asOf = dateIn(now, config.reporting.timezone);
  let goals: Promise<GoalsAssessment> | undefined = assessmentOf(options.goals, config, asOf);
  const completeness = await loadCompleteness(db, config, catalogue);
  const base = { db, config, now, asOf, catalogue, completeness, sums: new PeriodSums(db, config), goals: () => (goals ??= assessGoals(db, config, asOf, completeness)) };
  const contexts = rules.map((rule): RuleContext => ({ ...base, rule }));
  for (const ctx of contexts) announceReads(ctx);
  base.sums.prefetch();
  // The rules saying a source fails go first, so the rules they inhibit see them this tick.
  const sources = contexts.filter((ctx) => INHIBITING_KINDS.has(ctx.rule.condition.kind));
  const others = contexts.filter((ctx) => !INHIBITING_KINDS.has(ctx.rule.condition.kind));
  const inhibitable = others.some((ctx) => INHIBITABLE_KINDS.has(ctx.rule.condition.kind));
  // Each rule's transaction runs while the next rule is evaluated; they still commit in rule order.
  let writing: Promise<void> = Promise.resolve();
  const pipeline = async (ctxs: RuleContext[], adjust: (ctx: RuleContext, observations: Observation[]) => Observation[]) => {
    for (const ctx of ctxs) {
      const observations = adjust(ctx, await observe(ctx, result, options));
      await writing;
      writing = apply(ctx, observations, tick, result, options);
      // Awaited in the loop or below; until then its failure must not count as unhandled.
      writing.catch(() => {});
    }
  };
  try {
    await pipeline(sources, (ctx, obs) => noteQuieted(config, completeness, ctx.rule, obs));
    let inhibitors: Awaited<ReturnType<typeof loadInhibitors>> = new Map();
    if (inhibitable) {
      await writing;
      inhibitors = await loadInhibitors(db, config, options.log);
    }
    await pipeline(others, (ctx, obs) => applyInhibition(config, completeness, ctx.rule, obs, inhibitors));
  } finally {
    // Never return with a transaction still running.
    await writing.catch(() => {});
  }
  await writing;
  return result;
}

/**
 * The handed assessment when it is this tick's: of another day or of other goals (a caller's
 * mistake), it is not what the goal rules judge, and they assess the goals themselves.
 */
function assessmentOf(given: GoalsAssessment | undefined, config: AlertsConfig, asOf: string): Promise<GoalsAssessment> | undefined {
  if (!given || given.asOf !== asOf) return undefined;
  const assessed = new Set(given.goals.map((g) => g.goal));
  if (given.goals.length !== config.goals.length || !config.goals.every((g) => assessed.has(g.name))) return undefined;
  return Promise.resolve(given);
}

/** What one rule sees; a rule that cannot be evaluated puts its instances in state error. */
async function observe(ctx: RuleContext, result: EvaluateAlertsResult, options: EvaluateAlertsOptions): Promise<Observation[]> {
  try {
    return await evaluators[ctx.rule.condition.kind](ctx);
  } catch (err) {
    const message = redactSecrets(errorMessage(err));
    options.log?.warn({ rule: ctx.rule.name, err: message }, 'alert rule could not be evaluated');
    result.errors.push({ rule: ctx.rule.name, error: message });
    return errorObservations(ctx.db, ctx.rule, message);
  }
}

async function apply(ctx: RuleContext, observations: Observation[], tick: number, result: EvaluateAlertsResult, options: EvaluateAlertsOptions): Promise<void> {
  const applied = await applyObservations(ctx.db, ctx.rule, observations, { now: ctx.now, tick, groupWaitMs: ctx.config.alerting.groupWait });
  result.transitions.push(...applied.transitions);
  result.outboxIds.push(...applied.outboxIds);
  result.skipped += applied.skipped;
  for (const t of applied.transitions) options.log?.info({ rule: t.rule, instance: t.instance, from: t.from, to: t.to, reason: t.reason }, 'alert state changed');
}

/** A rule whose reads cannot be planned (an unknown KPI) reports that when it is evaluated. */
function announceReads(ctx: RuleContext): void {
  try {
    for (const query of plannedReads(ctx)) ctx.sums.expect(query);
  } catch {
    // Evaluating the rule throws the same error, where it is reported.
  }
}
