import type { Kysely } from 'kysely';
import type { Database, DateString } from '../warehouse/index.ts';
import { aggregateInto, pointKey, PointStore, splitPointKey, type Dimension } from './aggregate.ts';
import { loadCatalogue, requireKpi } from './catalogue.ts';
import { reportingOf, type MetricsConfig } from './context.ts';
import { KpiPlan } from './kpi-plan.ts';
import { normalizeFilter, type Filter } from './filters.ts';
import { dimensionLabels } from './labels.ts';
import { addDays, daysBetween, isDateString, periodOf, periodsBetween, periodStart, shiftPeriod, type Grain, type Period, type WeekStart } from './periods.ts';

interface SeriesQuery {
  kpi: string | readonly string[];
  grain: Grain;
  /** 'all' (the default) gives one series with dimensionValue ''. */
  dimension?: Dimension;
  /** On top of each KPI's own filter. */
  filter?: Filter;
  from: DateString;
  to: DateString;
}

export interface SeriesPoint {
  kpi: string;
  periodStart: DateString;
  periodEnd: DateString;
  dimension: Dimension;
  /** The value's key: a campaign's name, or for a campaign with a platform id, a key made of it (see campaignKey). */
  dimensionValue: string;
  /** The value as people read it: a campaign's latest name (src/metrics/labels.ts). */
  dimensionLabel: string;
  /** Null when the KPI has no value: no data, or a zero denominator. */
  value: number | null;
  /** The period runs past `to`, so its value counts only the days up to `to`. */
  partial: boolean;
}

function checkRange(from: DateString, to: DateString): void {
  if (!isDateString(from) || !isDateString(to) || from > to) throw new RangeError(`expected two dates with from <= to, got ${from}..${to}`);
}

function kpiNames(kpi: string | readonly string[]): string[] {
  return typeof kpi === 'string' ? [kpi] : [...kpi];
}

/**
 * A KPI's values per period of `grain` for every period that intersects [from, to],
 * computed from the facts (so any filter works, and it never lags a recompute). Whole
 * periods: `from` is taken back to its period's start, and facts after `to` are not
 * counted, so the last period is to date when `to` falls inside it.
 *
 * Dense: every period of every dimension value that has data in the range appears, with
 * null where the KPI has no value. Sorted by KPI (in query order), dimension label and value, period.
 */
export async function kpiSeries(db: Kysely<Database>, config: MetricsConfig, query: SeriesQuery): Promise<SeriesPoint[]> {
  checkRange(query.from, query.to);
  const catalogue = loadCatalogue(config.kpis);
  const names = kpiNames(query.kpi);
  for (const name of names) requireKpi(catalogue, name);
  const { weekStart } = config.reporting;
  const dimension = query.dimension ?? 'all';
  const plan = new KpiPlan(catalogue, names, normalizeFilter(query.filter));
  const periods = periodsBetween(query.from, query.to, query.grain, weekStart);
  const loadFrom = shiftPeriod(periods[0]!.start, query.grain, -plan.lookback);
  const keys = periodsBetween(loadFrom, query.to, query.grain, weekStart).map((p) => p.start);
  const store = new PointStore(plan.metrics, plan.groups.length);
  await aggregateInto(
    db,
    { periods: { grain: query.grain, weekStart }, from: loadFrom, to: query.to, dimensions: [dimension], metrics: plan.neededMetrics(), groups: plan.groups, reporting: reportingOf(config) },
    store,
  );

  const values = new Set<string>(dimension === 'all' ? [''] : []);
  if (dimension !== 'all') for (const p of periods) for (const key of store.points(p.start).keys()) values.add(splitPointKey(key).value);
  const labels = await dimensionLabels(db, dimension, values);
  const sortedValues = byLabel(values, labels);
  const cursor = store.cursor(keys);
  const offset = keys.length - periods.length;
  const out: SeriesPoint[] = [];
  names.forEach((kpi, root) => {
    for (const value of sortedValues) {
      const key = pointKey(dimension, value);
      periods.forEach((p, i) => {
        const v = store.point(p.start, key) ? plan.valueAt(root, cursor.moveTo(offset + i, key)) : null;
        out.push({ kpi, periodStart: p.start, periodEnd: p.end, dimension, dimensionValue: value, dimensionLabel: labels.get(value) ?? value, value: v, partial: p.end > query.to });
      });
    }
  });
  return out;
}

interface WindowQuery {
  kpi: string | readonly string[];
  /** Date ranges, oldest first and not overlapping; previous() in one sees the one before. */
  windows: readonly Period[];
  dimension?: Dimension;
  filter?: Filter;
}

export interface WindowValues {
  kpi: string;
  dimension: Dimension;
  dimensionValue: string;
  /** The value as people read it (see SeriesPoint). */
  dimensionLabel: string;
  /** One per window, in query order. */
  values: Array<number | null>;
}

/** KPI values over arbitrary date windows: a to-date period, a goal's whole span. */
export async function kpiWindows(db: Kysely<Database>, config: MetricsConfig, query: WindowQuery): Promise<WindowValues[]> {
  const windows = query.windows;
  windows.forEach((w, i) => {
    checkRange(w.start, w.end);
    if (i > 0 && windows[i - 1]!.end >= w.start) throw new RangeError('windows must be in order and must not overlap');
  });
  const catalogue = loadCatalogue(config.kpis);
  const names = kpiNames(query.kpi);
  for (const name of names) requireKpi(catalogue, name);
  const dimension = query.dimension ?? 'all';
  const plan = new KpiPlan(catalogue, names, normalizeFilter(query.filter));
  const store = new PointStore(plan.metrics, plan.groups.length);
  if (windows.length > 0) {
    await aggregateInto(
      db,
      { periods: { windows }, from: windows[0]!.start, to: windows[windows.length - 1]!.end, dimensions: [dimension], metrics: plan.neededMetrics(), groups: plan.groups, reporting: reportingOf(config) },
      store,
    );
  }
  const keys = windows.map((w) => w.start);
  const values = new Set<string>(dimension === 'all' ? [''] : []);
  if (dimension !== 'all') for (const k of keys) for (const key of store.points(k).keys()) values.add(splitPointKey(key).value);
  const cursor = store.cursor(keys);
  const labels = await dimensionLabels(db, dimension, values);
  const out: WindowValues[] = [];
  names.forEach((kpi, root) => {
    for (const value of byLabel(values, labels)) {
      const key = pointKey(dimension, value);
      out.push({
        kpi,
        dimension,
        dimensionValue: value,
        dimensionLabel: labels.get(value) ?? value,
        values: keys.map((k, i) => (store.point(k, key) ? plan.valueAt(root, cursor.moveTo(i, key)) : null)),
      });
    }
  });
  return out;
}

/** Dimension values in the order people look for them: by label, then by value (the same order as before for values that are their own label). */
export function byLabel(values: Iterable<string>, labels: ReadonlyMap<string, string>): string[] {
  const label = (v: string) => labels.get(v) ?? v;
  return [...values].sort((a, b) => (label(a) < label(b) ? -1 : label(a) > label(b) ? 1 : a < b ? -1 : a > b ? 1 : 0));
}

/** One KPI over one date range (or null); a shorthand for kpiWindows. */
export async function kpiValue(db: Kysely<Database>, config: MetricsConfig, query: { kpi: string; from: DateString; to: DateString; filter?: Filter }): Promise<number | null> {
  const [row] = await kpiWindows(db, config, { kpi: query.kpi, windows: [{ start: query.from, end: query.to }], ...(query.filter ? { filter: query.filter } : {}) });
  return row?.values[0] ?? null;
}

/**
 * The period to date and the same stretch of the period before: month to date on the
 * 10th is the 1st..10th, against the 1st..10th of last month. A longer current stretch
 * than the previous period has (the 31st against February) stops at its end.
 */
export function toDateWindows(asOf: DateString, grain: Grain, weekStart: WeekStart = 'monday'): { current: Period; previous: Period } {
  const current = { start: periodStart(asOf, grain, weekStart), end: asOf };
  const previousPeriod = periodOf(shiftPeriod(current.start, grain, -1), grain, weekStart);
  const sameLength = addDays(previousPeriod.start, daysBetween(current.start, asOf));
  return { current, previous: { start: previousPeriod.start, end: sameLength < previousPeriod.end ? sameLength : previousPeriod.end } };
}

interface ToDateQuery {
  kpi: string | readonly string[];
  grain: Grain;
  asOf: DateString;
  dimension?: Dimension;
  filter?: Filter;
}

interface ToDateComparison {
  kpi: string;
  dimension: Dimension;
  dimensionValue: string;
  dimensionLabel: string;
  current: Period & { value: number | null };
  previous: Period & { value: number | null };
  /** (current - previous) / |previous| as a fraction; null when either is missing or previous is 0. */
  change: number | null;
}

export function relativeChange(current: number | null, previous: number | null): number | null {
  if (current === null || previous === null || previous === 0) return null;
  return (current - previous) / Math.abs(previous);
}

/** The KPI for the period to date against the same days of the previous period. */
export async function compareToDate(db: Kysely<Database>, config: MetricsConfig, query: ToDateQuery): Promise<ToDateComparison[]> {
  const { current, previous } = toDateWindows(query.asOf, query.grain, config.reporting.weekStart);
  const rows = await kpiWindows(db, config, {
    kpi: query.kpi,
    windows: [previous, current],
    ...(query.dimension ? { dimension: query.dimension } : {}),
    ...(query.filter ? { filter: query.filter } : {}),
  });
  return rows.map((r) => {
    const [before = null, now = null] = r.values;
    return {
      kpi: r.kpi,
      dimension: r.dimension,
      dimensionValue: r.dimensionValue,
      dimensionLabel: r.dimensionLabel,
      current: { ...current, value: now },
      previous: { ...previous, value: before },
      change: relativeChange(now, before),
    };
  });
}
