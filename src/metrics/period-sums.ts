import type { Kysely } from 'kysely';
import type { Database, DateString } from '../warehouse/index.ts';
import { aggregateInto, pointKey, PointStore, splitPointKey, type Dimension, type PeriodSpec } from './aggregate.ts';
import { loadCatalogue, requireKpi } from './catalogue.ts';
import { reportingOf, type MetricsConfig } from './context.ts';
import { KpiPlan, type PointWindow } from './kpi-plan.ts';
import { filterKey, normalizeFilter, type Filter } from './filters.ts';
import { isDateString, periodOf, periodStart, shiftPeriod, type Grain, type Period } from './periods.ts';
import { byLabel, type WindowValues } from './series.ts';
import { dimensionLabels } from './labels.ts';

export interface PeriodsQuery {
  kpi: string | readonly string[];
  grain: Grain;
  /** Starts of whole periods of the grain, in the order their values are wanted; they need not be adjacent. */
  periods: readonly DateString[];
  dimension?: Dimension;
  filter?: Filter;
}

/** A query resolved to the sums it needs and where they are kept. */
interface Prepared {
  grain: Grain;
  names: string[];
  plan: KpiPlan;
  dimension: Dimension;
  /** The asked periods and those previous() reaches back to, oldest first. */
  windows: Period[];
  /** Queries with the same key read the same sums and can share one aggregate. */
  key: string;
  metrics: string[];
  /** A point holds data for this query when one of these slots has a value. */
  slots: Int32Array;
}

interface Shared {
  grain: Grain;
  windows: Period[];
  dimension: Dimension;
  plan: KpiPlan;
  store: PointStore;
  /** Metrics announced for this aggregate, read together on its first use. */
  wanted: Set<string>;
  loaded: Set<string>;
  /** The reads into the store, one after the other; once one fails, so does this. */
  loading: Promise<void>;
}

function kpiNames(kpi: string | readonly string[]): string[] {
  return typeof kpi === 'string' ? [kpi] : [...kpi];
}

/** Periods in order that leave no gap between them read as one date range. */
function periodSpec(windows: readonly Period[], grain: Grain, weekStart: MetricsConfig['reporting']['weekStart']): PeriodSpec {
  const adjacent = windows.every((w, i) => i === 0 || shiftPeriod(windows[i - 1]!.start, grain, 1) === w.start);
  return adjacent ? { grain, weekStart } : { windows };
}

/**
 * KPI values at chosen whole periods of a grain, for the queries of one evaluation (the
 * alert rules of a tick). Only the periods asked for are read, not the stretch between
 * them, and queries on the same periods, dimension and filters share one aggregate: its
 * first read covers the metrics of every query announced with expect().
 *
 * previous() sees the period before, as in kpiSeries; dimension values are those with data
 * for the query's KPIs in one of its periods, and the values are null where a KPI has none.
 */
export class PeriodSums {
  readonly #shared = new Map<string, Shared>();

  constructor(
    readonly db: Kysely<Database>,
    readonly config: MetricsConfig,
  ) {}

  /** Announces a query, so that the aggregate it shares with others is read once for all of them. */
  expect(query: PeriodsQuery): void {
    const q = this.#prepare(query);
    const entry = this.#entry(q);
    for (const m of q.metrics) entry.wanted.add(m);
  }

  /** Starts reading every announced aggregate, so that the reads run while the first queries are answered. */
  prefetch(): void {
    for (const entry of this.#shared.values()) void this.#fill(entry);
  }

  async values(query: PeriodsQuery): Promise<WindowValues[]> {
    const q = this.#prepare(query);
    const store = await this.#storeFor(q);
    const rows = windowValues(q, store, query.periods);
    if (q.dimension !== 'campaign' || rows.length === 0) return rows;
    // Campaigns with an id read as their names, and are listed in that order, as kpiWindows lists them.
    const labels = await dimensionLabels(this.db, q.dimension, rows.map((r) => r.dimensionValue));
    const order = new Map(byLabel(labels.keys(), labels).map((v, i) => [v, i]));
    const kpiOrder = new Map(q.names.map((n, i) => [n, i]));
    for (const r of rows) r.dimensionLabel = labels.get(r.dimensionValue) ?? r.dimensionValue;
    return rows.sort((a, b) => kpiOrder.get(a.kpi)! - kpiOrder.get(b.kpi)! || order.get(a.dimensionValue)! - order.get(b.dimensionValue)!);
  }

  #prepare(query: PeriodsQuery): Prepared {
    const catalogue = loadCatalogue(this.config.kpis);
    const names = kpiNames(query.kpi);
    for (const name of names) requireKpi(catalogue, name);
    const { weekStart } = this.config.reporting;
    for (const p of query.periods) {
      if (!isDateString(p) || periodStart(p, query.grain, weekStart) !== p) throw new RangeError(`expected the start of a ${query.grain}, got ${p}`);
    }
    const dimension = query.dimension ?? 'all';
    const plan = new KpiPlan(catalogue, names, normalizeFilter(query.filter));
    const starts = new Set<DateString>();
    for (const p of query.periods) for (let k = 0; k <= plan.lookback; k++) starts.add(shiftPeriod(p, query.grain, -k));
    const windows = [...starts].sort().map((s) => periodOf(s, query.grain, weekStart));
    const metrics = plan.neededMetrics();
    const groups = plan.groups.map((g, i) => ({ g, i })).filter(({ g }) => g !== null);
    // The plan's layout, which PointStore.slot shares: one run of all metrics per filter group.
    const slots = Int32Array.from(groups.flatMap(({ i }) => metrics.map((m) => i * plan.metrics.length + plan.metrics.indexOf(m))));
    const key = JSON.stringify([query.grain, weekStart, dimension, plan.groups.map(filterKey), windows.map((w) => w.start)]);
    return { grain: query.grain, names, plan, dimension, windows, key, metrics, slots };
  }

  #entry(q: Prepared): Shared {
    let entry = this.#shared.get(q.key);
    if (!entry) {
      entry = { grain: q.grain, windows: q.windows, dimension: q.dimension, plan: q.plan, store: new PointStore(q.plan.metrics, q.plan.groups.length), wanted: new Set(q.metrics), loaded: new Set(), loading: Promise.resolve() };
      this.#shared.set(q.key, entry);
    }
    return entry;
  }

  async #storeFor(q: Prepared): Promise<PointStore> {
    const entry = this.#entry(q);
    for (const m of q.metrics) entry.wanted.add(m);
    try {
      await this.#fill(entry);
      return entry.store;
    } catch (err) {
      if (entry.wanted.size === q.metrics.length) throw err;
    }
    // A shared read can fail for another query's sums (a currency without a rate): read alone,
    // so that a query fails only for sums it needs itself.
    const alone = new PointStore(q.plan.metrics, q.plan.groups.length);
    await this.#read(alone, q, q.metrics);
    return alone;
  }

  /** Reads the wanted metrics not read yet, after any read already under way. */
  #fill(entry: Shared): Promise<void> {
    entry.loading = entry.loading.then(async () => {
      const missing = [...entry.wanted].filter((m) => !entry.loaded.has(m));
      await this.#read(entry.store, entry, missing);
      for (const m of missing) entry.loaded.add(m);
    });
    // Whoever needs the sums sees the failure; a prefetch nobody waits for must not be an unhandled rejection.
    entry.loading.catch(() => {});
    return entry.loading;
  }

  async #read(store: PointStore, on: Pick<Shared, 'grain' | 'windows' | 'dimension' | 'plan'>, metrics: readonly string[]): Promise<void> {
    if (metrics.length === 0 || on.windows.length === 0) return;
    await aggregateInto(
      this.db,
      {
        periods: periodSpec(on.windows, on.grain, this.config.reporting.weekStart),
        from: on.windows[0]!.start,
        to: on.windows[on.windows.length - 1]!.end,
        dimensions: [on.dimension],
        metrics,
        groups: on.plan.groups,
        reporting: reportingOf(this.config),
      },
      store,
    );
  }
}

/** One dimension value's points in the query's windows, in window order; previous() steps back through them. */
class PointRow implements PointWindow {
  index = 0;

  constructor(readonly points: Array<Float64Array | undefined>) {}

  at(offset: number): Float64Array | undefined {
    return this.points[this.index - offset];
  }
}

/** Every dimension value's points in the windows, found with one pass over the store instead of a lookup per value and period. */
function pointRows(q: Prepared, store: PointStore): Map<string, PointRow> {
  const rows = new Map<string, PointRow>();
  q.windows.forEach((w, i) => {
    store.points(w.start).forEach((point, key) => {
      let row = rows.get(key);
      if (!row) rows.set(key, (row = new PointRow(new Array<Float64Array | undefined>(q.windows.length))));
      row.points[i] = point;
    });
  });
  return rows;
}

/** The values of a prepared query from a store that may hold more periods, metrics and filter groups than it reads. */
function windowValues(q: Prepared, store: PointStore, periods: readonly DateString[]): WindowValues[] {
  const index = new Map(q.windows.map((w, i) => [w.start, i]));
  const asked = periods.map((p) => index.get(p)!);
  const hasData = (point: Float64Array | undefined): boolean => {
    if (point === undefined) return false;
    for (let i = 0; i < q.slots.length; i++) if (!Number.isNaN(point[q.slots[i]!]!)) return true;
    return false;
  };
  const rows = pointRows(q, store);
  const keys = q.dimension === 'all' ? [pointKey('all', '')] : [...rows.keys()].filter((key) => asked.some((i) => hasData(rows.get(key)!.points[i])));
  const byValue = keys.map((key) => ({ key, value: splitPointKey(key).value })).sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  const none = new PointRow([]);
  const out: WindowValues[] = [];
  q.names.forEach((kpi, root) => {
    for (const { key, value } of byValue) {
      const row = rows.get(key) ?? none;
      const values = asked.map((i) => {
        if (!hasData(row.points[i])) return null;
        row.index = i;
        return q.plan.valueAt(root, row);
      });
      out.push({ kpi, dimension: q.dimension, dimensionValue: value, dimensionLabel: value, values });
    }
  });
  return out;
}

/** KPI values at chosen whole periods of a grain; see PeriodSums. */
export async function kpiAtPeriods(db: Kysely<Database>, config: MetricsConfig, query: PeriodsQuery): Promise<WindowValues[]> {
  return new PeriodSums(db, config).values(query);
}
