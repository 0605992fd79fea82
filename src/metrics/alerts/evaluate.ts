import type { Kysely } from 'kysely';
import type { AlertCondition, AlertRule } from '../../config/index.ts';
import { errorMessage } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { redactSecrets } from '../../secrets.ts';
import type { Database } from '../../warehouse/index.ts';
import { loadCatalogue } from '../catalogue.ts';
import { PeriodSums } from '../period-sums.ts';
import { dateIn } from '../periods.ts';
import { goalRule, freshnessRule, quarantineRateRule, syncFailureRule } from './other-rules.ts';
import { anomalyRule, changeRule, plannedReads, thresholdRule } from './series-rules.ts';
import { applyObservations, type AppliedTransition } from './store.ts';
import type { AlertsConfig, Evaluator, Observation, RuleContext } from './types.ts';

const evaluators: Record<AlertCondition['kind'], Evaluator> = {
  threshold: thresholdRule,
  change: changeRule,
  anomaly: anomalyRule,
  goal: goalRule,
  freshness: freshnessRule,
  sync_failure: syncFailureRule,
  quarantine_rate: quarantineRateRule,
};

export interface EvaluateOptions {
  /** The evaluation time; the pipeline passes the time its job was queued, so a retry evaluates the same tick. */
  now?: Date;
  log?: Logger;
  /** Only these rules (by name). */
  rules?: readonly string[];
}

export interface EvaluateResult {
  transitions: AppliedTransition[];
  /** New alert_outbox rows, for the notify step. */
  outboxIds: number[];
  /** Instances already evaluated for this tick. */
  skipped: number;
  /** Rules whose evaluation failed; their instances are in state error. */
  errors: Array<{ rule: string; error: string }>;
}

/** The evaluation tick of an instant; `for` counts ticks, and a tick counts once. */
export function tickOf(now: Date, intervalMs: number): number {
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
export async function evaluateAlerts(db: Kysely<Database>, config: AlertsConfig, options: EvaluateOptions = {}): Promise<EvaluateResult> {
  const now = options.now ?? new Date();
  const tick = tickOf(now, config.alerting.evaluationInterval);
  const result: EvaluateResult = { transitions: [], outboxIds: [], skipped: 0, errors: [] };
  const wanted = options.rules ? new Set(options.rules) : undefined;
  const rules = config.alerts.filter((rule) => !wanted || wanted.has(rule.name));
  const catalogue = loadCatalogue(config.kpis);
  const base = { db, config, now, asOf: dateIn(now, config.reporting.timezone), catalogue, sums: new PeriodSums(db, config) };
  const contexts = rules.map((rule): RuleContext => ({ ...base, rule }));
  for (const ctx of contexts) announceReads(ctx);
  base.sums.prefetch();
  // Each rule's transaction runs while the next rule is evaluated; they still commit in rule order.
  let writing: Promise<void> = Promise.resolve();
  try {
    for (const ctx of contexts) {
      const observations = await observe(ctx, result, options);
      await writing;
      writing = apply(ctx, observations, tick, result, options);
      // Awaited in the loop or below; until then its failure must not count as unhandled.
      writing.catch(() => {});
    }
  } finally {
    // Never return with a transaction still running.
    await writing.catch(() => {});
  }
  await writing;
  return result;
}

/** What one rule sees; a rule that cannot be evaluated puts its instances in state error. */
async function observe(ctx: RuleContext, result: EvaluateResult, options: EvaluateOptions): Promise<Observation[]> {
  try {
    return await evaluators[ctx.rule.condition.kind](ctx);
  } catch (err) {
    const message = redactSecrets(errorMessage(err));
    options.log?.warn({ rule: ctx.rule.name, err: message }, 'alert rule could not be evaluated');
    result.errors.push({ rule: ctx.rule.name, error: message });
    return errorObservations(ctx.db, ctx.rule, message);
  }
}

async function apply(ctx: RuleContext, observations: Observation[], tick: number, result: EvaluateResult, options: EvaluateOptions): Promise<void> {
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
