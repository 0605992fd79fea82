import type { Kysely } from 'kysely';
import type { Database, DateString } from '../warehouse/index.ts';
import type { KpiDirection, KpiUnit } from '../core/vocabulary.ts';
import { loadCatalogue, requireKpi } from './catalogue.ts';
import { loadCompleteness } from './completeness.ts';
import { assessGoals, storedGoals, type GoalResult, type GoalsConfig, type OkrResult } from './goals.ts';
import { periodOf, shiftPeriod, type Grain, type Period } from './periods.ts';
import { compareToDate, kpiSeries, relativeChange, toDateWindows, type SeriesPoint } from './series.ts';
import { storedTotalsSeries, storedTotalsWindows } from './stored-series.ts';

interface ReportConfig extends GoalsConfig {
  northStar?: string | undefined;
}

interface ReportOptions {
  grain: Grain;
  /** 'last': the last complete period against the one before; 'current': to date against the same days of the previous period. */
  period: 'last' | 'current';
  asOf: DateString;
  /** KPIs shown first besides the usual ones (a base metric such as clicks is not among those): the series an alert links from. */
  also?: readonly string[];
  /**
   * Goals from the assessment the evaluate step stored for as-of (storedGoals), when there is
   * one for every goal, rather than assessed again: the console reads a page many times
   * between two evaluations, each of which stores what it judged.
   */
  storedGoals?: boolean;
  /**
   * With period 'last': read this many periods before the previous one as well, in the same
   * read of the facts, and hand every KPI's points back as `series` (the console's sparklines
   * and the report's values then come from one kpiSeries call).
   */
  history?: number;
  /**
   * The totals from the day points recompute stored (storedTotalsSeries), not from the facts:
   * the same values, at a cost that does not grow with the facts; from the facts wherever the
   * points cannot say them (owed KPI work, KPIs with a filter). The console asks for this.
   */
  storedPoints?: boolean;
}

/** A KPI in the report: its value in the period against the one before. */
export interface KpiComparison {
  kpi: string;
  label: string;
  unit: KpiUnit;
  direction: KpiDirection;
  value: number | null;
  previous: number | null;
  /** (value - previous) / |previous| as a fraction; null when it cannot be said. */
  change: number | null;
  /** Whether every source of the KPI is complete through the end of the period shown. */
  complete: boolean;
  /** The last day every source of the KPI is complete through; null when none is, ALL_COMPLETE when it has none. */
  completeThrough: DateString | null;
}

export interface Report {
  asOf: DateString;
  grain: Grain;
  period: 'last' | 'current';
  currency: string;
  current: Period;
  previous: Period;
  northStar: KpiComparison | null;
  /** Config KPIs, then built-ins; those with no value in either period are left out. */
  kpis: KpiComparison[];
  goals: GoalResult[];
  okrs: OkrResult[];
  /** Only when asked for with `history`: each KPI's points, oldest first, through the period shown. */
  series?: SeriesPoint[];
}

/** What `kpi report` shows, as data, so the digest and the CLI say the same. */
export async function buildReport(db: Kysely<Database>, config: ReportConfig, options: ReportOptions): Promise<Report> {
  const catalogue = loadCatalogue(config.kpis);
  const { weekStart } = config.reporting;
  const usual = [...catalogue.list('config'), ...catalogue.list('builtin')].map((d) => d.name);
  const listed = [...new Set([...(options.also ?? []), ...usual])].filter((n) => n !== config.northStar);
  const names = config.northStar ? [config.northStar, ...listed] : listed;
  for (const name of names) requireKpi(catalogue, name);

  const values = new Map<string, { value: number | null; previous: number | null }>();
  let current: Period;
  let previous: Period;
  let series: SeriesPoint[] | undefined;
  if (options.period === 'current') {
    ({ current, previous } = toDateWindows(options.asOf, options.grain, weekStart));
    if (options.storedPoints) {
      for (const row of await storedTotalsWindows(db, config, { kpi: names, windows: [previous, current] })) values.set(row.kpi, { value: row.values[1] ?? null, previous: row.values[0] ?? null });
    } else {
      for (const row of await compareToDate(db, config, { kpi: names, grain: options.grain, asOf: options.asOf })) {
        values.set(row.kpi, { value: row.current.value, previous: row.previous.value });
      }
    }
  } else {
    current = periodOf(shiftPeriod(periodOf(options.asOf, options.grain, weekStart).start, options.grain, -1), options.grain, weekStart);
    previous = periodOf(shiftPeriod(current.start, options.grain, -1), options.grain, weekStart);
    const from = options.history ? shiftPeriod(previous.start, options.grain, -options.history) : previous.start;
    const query = { kpi: names, grain: options.grain, from, to: current.end };
    series = await (options.storedPoints ? storedTotalsSeries(db, config, query) : kpiSeries(db, config, query));
    for (const point of series) {
      if (point.periodStart !== current.start && point.periodStart !== previous.start) continue;
      const seen = values.get(point.kpi) ?? { value: null, previous: null };
      if (point.periodStart === current.start) seen.value = point.value;
      else seen.previous = point.value;
      values.set(point.kpi, seen);
    }
  }

  const completeness = await loadCompleteness(db, config, catalogue);
  const lineOf = (kpi: string): KpiComparison => {
    const def = requireKpi(catalogue, kpi);
    const v = values.get(kpi) ?? { value: null, previous: null };
    const through = completeness.through(kpi);
    // A period to date is never whole: today is not over.
    const complete = through !== null && through >= current.end && (options.period === 'last' || current.end < options.asOf);
    return { kpi, label: def.label, unit: def.unit, direction: def.direction, value: v.value, previous: v.previous, change: relativeChange(v.value, v.previous), complete, completeThrough: through };
  };
  const goals = (options.storedGoals ? await storedGoals(db, config, options.asOf, completeness, catalogue) : null) ?? (await assessGoals(db, config, options.asOf, completeness));
  return {
    asOf: options.asOf,
    grain: options.grain,
    period: options.period,
    currency: config.reporting.currency,
    current,
    previous,
    northStar: config.northStar ? lineOf(config.northStar) : null,
    kpis: listed.map(lineOf).filter((l) => l.value !== null || l.previous !== null),
    goals: goals.goals,
    okrs: goals.okrs,
    ...(options.history && series ? { series } : {}),
  };
}
