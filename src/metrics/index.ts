/**
 * KPIs: the catalogue, recompute into kpi_values, series and to-date comparisons computed
 * from the facts, goals and OKRs. The formula language has its own surface in formula/.
 */
export { builtinKpis, checkCatalogue, loadCatalogue, type Catalogue, type KpiDefinition, type KpiDirection, type KpiUnit } from './catalogue.ts';
export { metricsChecks } from './checks.ts';
export type { MetricsConfig } from './context.ts';
export { dimensions, type Dimension } from './aggregate.ts';
export type { Filter } from './filters.ts';
export { grains, periodOf, periodsBetween, shiftPeriod, todayIn, type Grain, type Period, type WeekStart } from './periods.ts';
export { kpiAtPeriods, PeriodSums, type PeriodsQuery } from './period-sums.ts';
export { recompute, type GrainSummary, type RecomputeOptions, type RecomputeRange, type RecomputeResult } from './recompute.ts';
export {
  compareToDate,
  kpiSeries,
  kpiValue,
  kpiWindows,
  toDateWindows,
  type SeriesPoint,
  type SeriesQuery,
  type ToDateComparison,
  type ToDateQuery,
  type WindowQuery,
  type WindowValues,
} from './series.ts';
export { assessGoals, evaluateGoals, goalThresholds, type GoalResult, type GoalsConfig, type GoalsEvaluation, type GoalStatus, type KeyResultResult, type OkrResult } from './goals.ts';
export { buildReport, type KpiLine, type Report, type ReportConfig, type ReportOptions } from './report.ts';
export { baseMetrics, baseMetricNames, moneyMetrics, type BaseMetric } from './vocabulary.ts';
