/**
 * KPIs: the catalogue, recompute into kpi_values, series and to-date comparisons computed
 * from the facts, goals and OKRs. The formula language has its own surface in formula/.
 */
export { builtinKpis, loadCatalogue } from './catalogue.ts';
export type { MetricsConfig } from './context.ts';
export { periodOf, periodsBetween, shiftPeriod, todayIn, type Grain, type Period } from './periods.ts';
export { owedRanges, recomputeOwed } from './owed.ts';
export { recompute, type RecomputeResult } from './recompute.ts';
export { storedTotalsSeries, storedTotalsWindows } from './stored-series.ts';
export { compareToDate, kpiSeries, kpiValue, kpiWindows, toDateWindows, type SeriesPoint } from './series.ts';
export { assessGoals, goalHistory, recordGoals, storedGoals, type GoalSnapshot, type GoalResult, type GoalsAssessment, type GoalsConfig, type OkrResult } from './goals.ts';
export { buildReport, type KpiComparison, type Report } from './report.ts';
export { ALL_COMPLETE, lastCompletePeriod, loadCompleteness, refreshKpiSources, type Completeness, type CompletenessConfig } from './completeness.ts';
export { readStatus, STATUS_RUNS, STATUS_QUARANTINED, type Status, type ConnectorStatus, type ConnectorVerdict, type StatusRun, type Verdict } from './status.ts';
export { displayFormat, storeBiCatalogue, storeConfigTables } from './bi-catalogue.ts';
