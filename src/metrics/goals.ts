import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { GoalConfig, OkrConfig } from '../config/index.ts';
import { ConfigError } from '../core/errors.ts';
import type { Database, DateString } from '../warehouse/index.ts';
import type { GoalStatus, KpiUnit } from '../core/vocabulary.ts';
import { loadCatalogue, requireKpi, type Catalogue } from './catalogue.ts';
import { reportingOf, type MetricsConfig } from './context.ts';
import { basisOf } from './day-state.ts';
import type { Filter } from './filters.ts';
import { addDays, dateIn, daysBetween, periodsBetween, periodStart, shiftPeriod, type Grain } from './periods.ts';
import { loadCompleteness, type Completeness, type CompletenessConfig } from './completeness.ts';
import { kpiSeries, kpiValue, type SeriesPoint } from './series.ts';

/**
 * Where the statuses change. Progress and expected progress are fractions of the way
 * from baseline to target.
 */
const goalThresholds = {
  /** reach: on_track while progress >= expected - tolerance. */
  tolerance: 0.05,
  /** reach: at_risk while progress >= expected - tolerance - atRiskBand; off_track below. */
  atRiskBand: 0.15,
  /** stay_*: at_risk while the value is within this fraction of the target on the wrong side. */
  stayBand: 0.05,
  /** Complete grain periods the forecast's trend line is fitted to. */
  forecastPeriods: 6,
} as const;

export interface GoalsConfig extends CompletenessConfig {
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
  /**
   * The last day the assessment reads (asOf, or the last day all of the KPI's sources are
   * complete through if that is earlier); null while no day is (status waiting).
   */
  dataThrough: DateString | null;
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

export interface GoalsAssessment {
  asOf: DateString;
  goals: GoalResult[];
  okrs: OkrResult[];
}

/** Least to most worrying; an objective takes its worst key result's. */
// Waiting says nothing about the goal itself: it ranks between on track and at risk, so an
// objective is no better than its key results' known worst, and shows waiting only when no
// key result is worse.
const SEVERITY: Record<GoalStatus, number> = { achieved: 0, on_track: 1, waiting: 2, at_risk: 3, off_track: 4, missed: 5 };

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
async function assessGoal(db: Kysely<Database>, config: MetricsConfig, goal: GoalConfig, asOf: DateString, catalogue: Catalogue = loadCatalogue(config.kpis)): Promise<GoalResult> {
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
  // A stay_* goal is measured on its latest complete grain period: one still running (or not
  // all in the warehouse yet) would judge a part of a month against a whole month's target.
  if (started && stay) actual = [...series].reverse().find((p) => p.periodStart >= startPeriod && p.periodEnd <= effective && p.value !== null)?.value ?? null;

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
  } else if (stay && actual === null && asOf <= goal.deadline) {
    // No whole period since the start yet: nothing to judge, not a failure.
    status = 'waiting';
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
    dataThrough: asOf,
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

/** A goal whose span has begun but whose KPI has no complete day in it yet: nothing is judged. */
function waitingGoal(goal: GoalConfig, asOf: DateString, dataThrough: DateString | null, catalogue: Catalogue): GoalResult {
  const def = requireKpi(catalogue, goal.kpi);
  const totalDays = daysBetween(goal.start, goal.deadline) + 1;
  const expected = goal.criterion === 'reach' ? clamp(daysBetween(goal.start, asOf < goal.deadline ? asOf : goal.deadline) + 1, 0, totalDays) / totalDays : 1;
  return {
    goal: goal.name,
    kpi: goal.kpi,
    label: def.label,
    unit: def.unit,
    criterion: goal.criterion,
    grain: goal.grain,
    ...(goal.filter ? { filter: goal.filter as Filter } : {}),
    start: goal.start,
    deadline: goal.deadline,
    asOf,
    dataThrough,
    target: goal.target,
    baseline: goal.baseline ?? 0,
    actual: null,
    progress: null,
    expected,
    forecast: null,
    status: 'waiting',
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
export async function assessGoals(db: Kysely<Database>, config: GoalsConfig, when: DateString | Date, given?: Completeness): Promise<GoalsAssessment> {
  const asOf = typeof when === 'string' ? when : dateIn(when, config.reporting.timezone);
  const catalogue = loadCatalogue(config.kpis);
  const completeness = given ?? (await loadCompleteness(db, config, catalogue));
  const goals: GoalResult[] = [];
  for (const goal of config.goals) {
    // Judged on complete data only: as of the last day all the KPI's sources hold, if earlier.
    const through = completeness.through(goal.kpi);
    const dataThrough = through === null ? null : through < asOf ? through : asOf;
    if (asOf >= goal.start && (dataThrough === null || dataThrough < goal.start)) goals.push(waitingGoal(goal, asOf, dataThrough, catalogue));
    else goals.push({ ...(await assessGoal(db, config, goal, dataThrough ?? asOf, catalogue)), asOf, dataThrough });
  }
  const byName = new Map(goals.map((g) => [g.goal, g]));
  return { asOf, goals, okrs: config.okrs.map((okr) => rollUp(okr, byName)) };
}

/**
 * What a goal's assessment is computed from besides the facts, as a digest: the goal's
 * settings, every KPI definition (a KPI may read others), the money conversion, metric
 * sources and week start. A stored assessment with another digest is not shown.
 */
function goalDefinition(config: GoalsConfig, goal: GoalConfig): string {
  return createHash('sha256').update(JSON.stringify([goal, config.kpis, basisOf(reportingOf(config)), config.reporting.weekStart])).digest('hex');
}

/**
 * assessGoals, and records the results in goal_snapshots and okr_snapshots (one row per as-of
 * date; a re-run replaces it). Returns the assessment, which the goal alert rules then use.
 */
export async function recordGoals(db: Kysely<Database>, config: GoalsConfig, when: DateString | Date): Promise<GoalsAssessment> {
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
            definition: goalDefinition(config, config.goals.find((c) => c.name === g.goal)!),
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
            definition: eb.ref('excluded.definition'),
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

export interface GoalSnapshot {
  goal: string;
  asOf: DateString;
  actual: number | null;
  progress: number | null;
  expected: number;
  forecast: number | null;
  status: GoalStatus;
}

/**
 * The assessments recordGoals stored for these goals up to `until`, oldest first: how a goal
 * was judged at each evaluation (the console draws its progress line from them).
 */
export async function goalHistory(db: Kysely<Database>, goals: readonly string[], until: DateString): Promise<GoalSnapshot[]> {
  if (goals.length === 0) return [];
  const rows = await db.selectFrom('goal_snapshots').select(['goal', 'as_of', 'actual', 'progress', 'expected', 'forecast', 'status']).where('goal', 'in', goals).where('as_of', '<=', until).orderBy('goal').orderBy('as_of').execute();
  return rows.map((r) => ({ goal: r.goal, asOf: r.as_of, actual: r.actual, progress: r.progress, expected: r.expected, forecast: r.forecast, status: r.status as GoalStatus }));
}

/**
 * The assessment the evaluate step stored for `asOf` (recordGoals), as assessGoals returns
 * it: the goals' settings from the configuration, their judgement from goal_snapshots, the
 * last complete day from `completeness` as assessGoals reads it, the OKRs rolled up the same
 * way. Null unless every configured goal has a snapshot of that day taken with its present
 * KPI, criterion and target (a goal changed since is assessed anew by the caller).
 */
export async function storedGoals(db: Kysely<Database>, config: GoalsConfig, asOf: DateString, completeness: Completeness, catalogue: Catalogue = loadCatalogue(config.kpis)): Promise<GoalsAssessment | null> {
  if (config.goals.length === 0) return { asOf, goals: [], okrs: config.okrs.map((okr) => rollUp(okr, new Map())) };
  const rows = await db.selectFrom('goal_snapshots').selectAll().where('as_of', '=', asOf).where('goal', 'in', config.goals.map((g) => g.name)).execute();
  const byGoal = new Map(rows.map((r) => [r.goal, r]));
  const goals: GoalResult[] = [];
  for (const goal of config.goals) {
    const r = byGoal.get(goal.name);
    if (!r || r.kpi !== goal.kpi || r.criterion !== goal.criterion || r.target !== goal.target || r.baseline === null || r.definition !== goalDefinition(config, goal)) return null;
    const def = requireKpi(catalogue, goal.kpi);
    const through = completeness.through(goal.kpi);
    const filter = goal.filter as Filter | undefined;
    goals.push({
      goal: goal.name,
      kpi: goal.kpi,
      label: def.label,
      unit: def.unit,
      dataThrough: through === null ? null : through < asOf ? through : asOf,
      criterion: goal.criterion,
      grain: goal.grain,
      ...(filter ? { filter } : {}),
      start: goal.start,
      deadline: goal.deadline,
      asOf,
      target: r.target,
      baseline: r.baseline,
      actual: r.actual,
      progress: r.progress,
      expected: r.expected,
      forecast: r.forecast,
      status: r.status as GoalStatus,
    });
  }
  const byName = new Map(goals.map((g) => [g.goal, g]));
  return { asOf, goals, okrs: config.okrs.map((okr) => rollUp(okr, byName)) };
}
