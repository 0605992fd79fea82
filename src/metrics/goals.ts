import type { Kysely } from 'kysely';
import type { GoalConfig, OkrConfig } from '../config/index.ts';
import { ConfigError } from '../errors.ts';
import type { Database, DateString } from '../warehouse/index.ts';
import { loadCatalogue, requireKpi, type Catalogue, type KpiUnit } from './catalogue.ts';
import type { MetricsConfig } from './context.ts';
import type { Filter } from './filters.ts';
import { addDays, dateIn, daysBetween, periodsBetween, periodStart, shiftPeriod, type Grain } from './periods.ts';
import { kpiSeries, kpiValue, type SeriesPoint } from './series.ts';

export type GoalStatus = 'on_track' | 'at_risk' | 'off_track' | 'achieved' | 'missed';

/**
 * Where the statuses change. Progress and expected progress are fractions of the way
 * from baseline to target.
 */
export const goalThresholds = {
  /** reach: on_track while progress >= expected - tolerance. */
  tolerance: 0.05,
  /** reach: at_risk while progress >= expected - tolerance - atRiskBand; off_track below. */
  atRiskBand: 0.15,
  /** stay_*: at_risk while the value is within this fraction of the target on the wrong side. */
  stayBand: 0.05,
  /** Complete grain periods the forecast's trend line is fitted to. */
  forecastPeriods: 6,
} as const;

export interface GoalsConfig extends MetricsConfig {
  goals: readonly GoalConfig[];
  okrs: readonly OkrConfig[];
}

export interface GoalResult {
  goal: string;
  kpi: string;
  label: string;
  unit: KpiUnit;
  criterion: GoalConfig['criterion'];
  grain: Grain;
  filter?: Filter;
  start: DateString;
  deadline: DateString;
  asOf: DateString;
  target: number;
  baseline: number;
  /**
   * reach: the KPI over [start, as-of] (a running total for additive KPIs such as spend,
   * the ratio over the whole span for CTR and the like). stay_*: the KPI's latest grain
   * value (the current period to date). Null when there is no value yet.
   */
  actual: number | null;
  /** reach: (actual - baseline) / (target - baseline); stay_*: actual / target (target / actual for stay_below). Uncapped. */
  progress: number | null;
  /** reach: the share of the days from start to deadline that have passed; stay_*: 1. */
  expected: number;
  /** The actual value expected at the deadline from the trend of recent grain values. */
  forecast: number | null;
  status: GoalStatus;
}

export interface KeyResultResult {
  goal: string;
  weight: number;
  progress: number | null;
  status: GoalStatus;
}

export interface OkrResult {
  okr: string;
  objective: string;
  /** Weighted mean of the key results' progress, each capped to 0..1. */
  progress: number;
  /** The worst key result's status. */
  status: GoalStatus;
  keyResults: KeyResultResult[];
}

export interface GoalsEvaluation {
  asOf: DateString;
  goals: GoalResult[];
  okrs: OkrResult[];
}

/** Least to most worrying; an objective takes its worst key result's. */
const SEVERITY: Record<GoalStatus, number> = { achieved: 0, on_track: 1, at_risk: 2, off_track: 3, missed: 4 };

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

/** Least squares y = a + b·x; a single point gives a flat line. */
function linearTrend(points: ReadonlyArray<{ x: number; y: number }>): ((x: number) => number) | null {
  if (points.length === 0) return null;
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  const b = sxx === 0 ? 0 : points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / sxx;
  return (x) => my + b * (x - mx);
}

/**
 * One goal as of a date. Goals read their KPI live from the facts, through their own
 * filter and the KPI's, clipped at the as-of date so that an evaluation of a past date
 * sees what was known then (as far as the facts have not been restated since).
 */
export async function assessGoal(db: Kysely<Database>, config: MetricsConfig, goal: GoalConfig, asOf: DateString, catalogue: Catalogue = loadCatalogue(config.kpis)): Promise<GoalResult> {
  const def = requireKpi(catalogue, goal.kpi);
  const { weekStart } = config.reporting;
  const grain = goal.grain;
  const stay = goal.criterion !== 'reach';
  const started = asOf >= goal.start;
  const effective = asOf < goal.deadline ? asOf : goal.deadline;
  const filter = goal.filter as Filter | undefined;

  const startPeriod = periodStart(goal.start, grain, weekStart);
  const effectivePeriod = periodStart(effective, grain, weekStart);
  const before = shiftPeriod(startPeriod, grain, -1);
  const trendFrom = shiftPeriod(effectivePeriod, grain, -goalThresholds.forecastPeriods);
  const seriesFrom = before < trendFrom ? before : trendFrom;
  const series: SeriesPoint[] = await kpiSeries(db, config, { kpi: goal.kpi, grain, from: seriesFrom, to: effective, ...(filter ? { filter } : {}) });
  const valueAt = (start: DateString): number | null => series.find((p) => p.periodStart === start)?.value ?? null;

  // An additive KPI accumulates from zero since the start; anything else starts where it was.
  const baseline = goal.baseline ?? (!stay && catalogue.isAdditive(goal.kpi) ? 0 : (valueAt(before) ?? 0));

  let actual: number | null = null;
  if (started && !stay) actual = await kpiValue(db, config, { kpi: goal.kpi, from: goal.start, to: effective, ...(filter ? { filter } : {}) });
  if (started && stay) actual = [...series].reverse().find((p) => p.periodStart >= startPeriod && p.value !== null)?.value ?? null;

  const holds = (v: number): boolean => (goal.criterion === 'stay_below' ? v <= goal.target : v >= goal.target);
  let progress: number | null = null;
  if (actual !== null) {
    if (goal.criterion === 'stay_above') progress = goal.target > 0 && actual >= 0 ? actual / goal.target : holds(actual) ? 1 : 0;
    else if (goal.criterion === 'stay_below') progress = actual > 0 && goal.target >= 0 ? goal.target / actual : holds(actual) ? 1 : 0;
    else if (goal.target === baseline) progress = (def.direction === 'lower' ? actual <= goal.target : actual >= goal.target) ? 1 : 0;
    else progress = (actual - baseline) / (goal.target - baseline);
  }
  if (progress !== null && !Number.isFinite(progress)) progress = null;

  const totalDays = daysBetween(goal.start, goal.deadline) + 1;
  const elapsedDays = clamp(daysBetween(goal.start, effective) + 1, 0, totalDays);
  const expected = stay ? 1 : started ? elapsedDays / totalDays : 0;

  const forecast = forecastAt(goal, series, effective, actual, { additive: !stay && catalogue.isAdditive(goal.kpi), elapsedDays, totalDays, weekStart, seriesFrom, after: asOf > goal.deadline });

  let status: GoalStatus;
  const p = progress ?? 0;
  if (!started) {
    // Nothing is expected before the start.
    status = 'on_track';
  } else if (stay) {
    if (asOf > goal.deadline) {
      const span = series.filter((pt) => pt.periodStart >= startPeriod && pt.value !== null);
      status = span.length > 0 && span.every((pt) => holds(pt.value!)) ? 'achieved' : 'missed';
    } else if (actual !== null && holds(actual)) status = 'on_track';
    else status = p >= 1 - goalThresholds.stayBand ? 'at_risk' : 'off_track';
  } else if (progress !== null && progress >= 1) {
    status = 'achieved';
  } else if (asOf > goal.deadline) {
    status = 'missed';
  } else if (p >= expected - goalThresholds.tolerance) {
    status = 'on_track';
  } else if (p >= expected - goalThresholds.tolerance - goalThresholds.atRiskBand) {
    status = 'at_risk';
  } else {
    status = 'off_track';
  }

  return {
    goal: goal.name,
    kpi: goal.kpi,
    label: def.label,
    unit: def.unit,
    criterion: goal.criterion,
    grain,
    ...(filter ? { filter } : {}),
    start: goal.start,
    deadline: goal.deadline,
    asOf,
    target: goal.target,
    baseline,
    actual,
    progress,
    expected,
    forecast,
    status,
  };
}

interface ForecastContext {
  additive: boolean;
  elapsedDays: number;
  totalDays: number;
  weekStart: 'monday' | 'sunday';
  seriesFrom: DateString;
  /** The deadline has passed: the actual value is final. */
  after: boolean;
}

/**
 * A straight line through the last complete grain values (goalThresholds.forecastPeriods
 * of them). A running total adds the line's values for the days still to come, prorated
 * within a period; any other KPI takes the line's value for the deadline's period. With
 * no complete period yet, a running total extrapolates its pace so far, and anything
 * else stays where it is.
 */
function forecastAt(goal: GoalConfig, series: readonly SeriesPoint[], effective: DateString, actual: number | null, ctx: ForecastContext): number | null {
  if (ctx.after) return actual;
  const complete = series
    .map((p, x) => ({ x, y: p.value, end: p.periodEnd }))
    .filter((p): p is { x: number; y: number; end: DateString } => p.y !== null && p.end <= effective)
    .slice(-goalThresholds.forecastPeriods);
  const trend = linearTrend(complete);
  const periods = periodsBetween(ctx.seriesFrom, goal.deadline, goal.grain, ctx.weekStart);
  if (ctx.additive) {
    if (actual === null) return null;
    if (!trend) return ctx.elapsedDays > 0 ? (actual / ctx.elapsedDays) * ctx.totalDays : null;
    let total = actual;
    const next = addDays(effective, 1);
    periods.forEach((p, x) => {
      const from = p.start > next ? p.start : next;
      const to = p.end < goal.deadline ? p.end : goal.deadline;
      if (from > to) return;
      total += (Math.max(0, trend(x)) * (daysBetween(from, to) + 1)) / (daysBetween(p.start, p.end) + 1);
    });
    return total;
  }
  return trend ? trend(periods.length - 1) : actual;
}

function rollUp(okr: OkrConfig, byName: ReadonlyMap<string, GoalResult>): OkrResult {
  const keyResults = okr.keyResults.map((kr) => {
    const goal = byName.get(kr.goal);
    if (!goal) throw new ConfigError([{ path: 'okrs', message: `OKR '${okr.name}' refers to goal '${kr.goal}', which is not in goals` }]);
    return { goal: kr.goal, weight: kr.weight, progress: goal.progress, status: goal.status };
  });
  const weight = keyResults.reduce((s, kr) => s + kr.weight, 0);
  const progress = keyResults.reduce((s, kr) => s + kr.weight * clamp(kr.progress ?? 0, 0, 1), 0) / weight;
  // Worst-of: an objective is no further on track than its weakest key result; the
  // weighted progress already shows the average picture.
  const status = keyResults.reduce<GoalStatus>((worst, kr) => (SEVERITY[kr.status] > SEVERITY[worst] ? kr.status : worst), 'achieved');
  return { okr: okr.name, objective: okr.objective, progress, status, keyResults };
}

/**
 * Every goal and OKR as of a date, without writing anything (the report uses this). An
 * instant is taken as its date in the reporting time zone.
 */
export async function assessGoals(db: Kysely<Database>, config: GoalsConfig, when: DateString | Date): Promise<GoalsEvaluation> {
  const asOf = typeof when === 'string' ? when : dateIn(when, config.reporting.timezone);
  const catalogue = loadCatalogue(config.kpis);
  const goals: GoalResult[] = [];
  for (const goal of config.goals) goals.push(await assessGoal(db, config, goal, asOf, catalogue));
  const byName = new Map(goals.map((g) => [g.goal, g]));
  return { asOf, goals, okrs: config.okrs.map((okr) => rollUp(okr, byName)) };
}

/** assessGoals, and records the results in goal_snapshots and okr_snapshots (one row per as-of date; a re-run replaces it). */
export async function evaluateGoals(db: Kysely<Database>, config: GoalsConfig, when: DateString | Date): Promise<GoalsEvaluation> {
  const result = await assessGoals(db, config, when);
  const asOf = result.asOf;
  await db.transaction().execute(async (trx) => {
    if (result.goals.length > 0) {
      await trx
        .insertInto('goal_snapshots')
        .values(
          result.goals.map((g) => ({
            goal: g.goal,
            as_of: asOf,
            kpi: g.kpi,
            criterion: g.criterion,
            actual: g.actual,
            baseline: g.baseline,
            target: g.target,
            progress: g.progress,
            expected: g.expected,
            forecast: g.forecast,
            status: g.status,
            evaluated_at: new Date(),
          })),
        )
        .onConflict((oc) =>
          oc.columns(['goal', 'as_of']).doUpdateSet((eb) => ({
            kpi: eb.ref('excluded.kpi'),
            criterion: eb.ref('excluded.criterion'),
            actual: eb.ref('excluded.actual'),
            baseline: eb.ref('excluded.baseline'),
            target: eb.ref('excluded.target'),
            progress: eb.ref('excluded.progress'),
            expected: eb.ref('excluded.expected'),
            forecast: eb.ref('excluded.forecast'),
            status: eb.ref('excluded.status'),
            evaluated_at: eb.ref('excluded.evaluated_at'),
          })),
        )
        .execute();
    }
    if (result.okrs.length > 0) {
      await trx
        .insertInto('okr_snapshots')
        .values(result.okrs.map((o) => ({ okr: o.okr, as_of: asOf, progress: o.progress, status: o.status, evaluated_at: new Date() })))
        .onConflict((oc) =>
          oc.columns(['okr', 'as_of']).doUpdateSet((eb) => ({ progress: eb.ref('excluded.progress'), status: eb.ref('excluded.status'), evaluated_at: eb.ref('excluded.evaluated_at') })),
        )
        .execute();
    }
  });
  return result;
}
