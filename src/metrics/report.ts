import type { Kysely } from 'kysely';
import type { Database, DateString } from '../warehouse/index.ts';
import { loadCatalogue, requireKpi, type KpiDirection, type KpiUnit } from './catalogue.ts';
import { assessGoals, type GoalResult, type GoalsConfig, type OkrResult } from './goals.ts';
import { periodOf, shiftPeriod, type Grain, type Period } from './periods.ts';
import { compareToDate, kpiSeries, relativeChange, toDateWindows } from './series.ts';

export interface ReportConfig extends GoalsConfig {
  northStar?: string | undefined;
}

export interface ReportOptions {
  grain: Grain;
  /** 'last': the last complete period against the one before; 'current': to date against the same days of the previous period. */
  period: 'last' | 'current';
  asOf: DateString;
}

export interface KpiLine {
  kpi: string;
  label: string;
  unit: KpiUnit;
  direction: KpiDirection;
  value: number | null;
  previous: number | null;
  /** (value - previous) / |previous| as a fraction; null when it cannot be said. */
  change: number | null;
}

export interface Report {
  asOf: DateString;
  grain: Grain;
  period: 'last' | 'current';
  currency: string;
  current: Period;
  previous: Period;
  northStar: KpiLine | null;
  /** Config KPIs, then built-ins; those with no value in either period are left out. */
  kpis: KpiLine[];
  goals: GoalResult[];
  okrs: OkrResult[];
}

/** What `kpi report` shows, as data, so the digest and the CLI say the same. */
export async function buildReport(db: Kysely<Database>, config: ReportConfig, options: ReportOptions): Promise<Report> {
  const catalogue = loadCatalogue(config.kpis);
  const { weekStart } = config.reporting;
  const listed = [...catalogue.list('config'), ...catalogue.list('builtin')].map((d) => d.name).filter((n) => n !== config.northStar);
  const names = config.northStar ? [config.northStar, ...listed] : listed;
  for (const name of names) requireKpi(catalogue, name);

  const values = new Map<string, { value: number | null; previous: number | null }>();
  let current: Period;
  let previous: Period;
  if (options.period === 'current') {
    ({ current, previous } = toDateWindows(options.asOf, options.grain, weekStart));
    for (const row of await compareToDate(db, config, { kpi: names, grain: options.grain, asOf: options.asOf })) {
      values.set(row.kpi, { value: row.current.value, previous: row.previous.value });
    }
  } else {
    current = periodOf(shiftPeriod(periodOf(options.asOf, options.grain, weekStart).start, options.grain, -1), options.grain, weekStart);
    previous = periodOf(shiftPeriod(current.start, options.grain, -1), options.grain, weekStart);
    for (const point of await kpiSeries(db, config, { kpi: names, grain: options.grain, from: previous.start, to: current.end })) {
      const seen = values.get(point.kpi) ?? { value: null, previous: null };
      if (point.periodStart === current.start) seen.value = point.value;
      else seen.previous = point.value;
      values.set(point.kpi, seen);
    }
  }

  const lineOf = (kpi: string): KpiLine => {
    const def = requireKpi(catalogue, kpi);
    const v = values.get(kpi) ?? { value: null, previous: null };
    return { kpi, label: def.label, unit: def.unit, direction: def.direction, value: v.value, previous: v.previous, change: relativeChange(v.value, v.previous) };
  };
  const goals = await assessGoals(db, config, options.asOf);
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
  };
}
