import { sql, type Kysely } from 'kysely';
import type { DateRange } from '../core/dates.ts';
import type { Database, DateString } from '../warehouse/index.ts';
import { addAggregateRows, aggregateRows, type AggregateRows, assertRates, dimensions, metricsPresent, PointStore } from './aggregate.ts';
import { loadCatalogue } from './catalogue.ts';
import { reportingOf, type MetricsConfig } from './context.ts';
import { KpiPlan, lookbackOf } from './kpi-plan.ts';
import { NO_FILTER } from './filters.ts';
import { addStoredDays, basisOf, inexactDays, isCurrent, loadDayStates, markDaysQuery, readStoredDays, type StoredDays } from './day-state.ts';
import { deletePoints, pointFormat, writePoints, type PointFormat, type PointWrite, type WriteResult } from './point-writes.ts';
import { addDays, daysBetween, grains as allGrains, isDateString, periodEnd, periodsBetween, periodStart, shiftPeriod, type Grain, type Period, type WeekStart } from './periods.ts';

interface RecomputeOptions {
  /**
   * Days of facts summed per query, and written per transaction. Bounds memory: a chunk's
   * day × campaign points are held until its weeks and months are rolled up.
   */
  chunkDays?: number;
  /** Points (rows of kpi_points, each with all its KPI values) per insert statement. */
  batchSize?: number;
  grains?: readonly Grain[];
}

export interface GrainSummary {
  grain: Grain;
  /** First and last period start recomputed. */
  from: DateString;
  to: DateString;
  periods: number;
  values: number;
  /** Rows of kpi_points written: one per (period, dimension value) with any value. */
  points: number;
}

export interface RecomputeResult {
  /** Whether this recomputed every fact (no range given). */
  full: boolean;
  /** The dates asked for (full: the facts' first and last date); null when there are no facts. */
  from: DateString | null;
  to: DateString | null;
  grains: GrainSummary[];
  /** KPI values written, over all grains. */
  values: number;
  /** Values removed, including those replaced. */
  deleted: number;
  /** Days whose facts were summed, and days taken from their stored day points instead. */
  daysFromFacts: number;
  daysFromPoints: number;
  durationMs: number;
}

const DEFAULT_CHUNK_DAYS = 31;
const DEFAULT_BATCH = 5_000;

/**
 * Recomputes every KPI (base metrics, built-ins, config KPIs) at every grain and dimension
 * for the periods that [from, to] intersects, and makes kpi_values hold exactly those
 * values there: a value that no longer exists is removed. Without a range, for the whole
 * fact table, and values outside it are removed too.
 *
 * The facts are read once, at day grain; weeks, months and quarters are rolled up from the
 * day sums. Each point (grain, period, dimension value) is stored as one kpi_points row
 * holding all its KPI values; kpi_values is the long-form view of them.
 *
 * KPIs that look back with previous() also change in the periods after a changed one, so
 * the range is extended forward by that many periods.
 *
 * A change of configuration (KPIs, reporting.weekStart, fxRates) calls for a full
 * recompute: an incremental one only replaces the points of the touched periods.
 *
 * Only values that exist are stored: a KPI with no data or a zero denominator in a
 * period has no value there (never a NULL).
 */
export async function recompute(db: Kysely<Database>, config: MetricsConfig, range?: DateRange, options: RecomputeOptions = {}): Promise<RecomputeResult> {
  const started = performance.now();
  const catalogue = loadCatalogue(config.kpis);
  const kpis = catalogue.list().map((d) => d.name);
  const lookback = lookbackOf(catalogue, kpis);
  const { weekStart } = config.reporting;
  const grains = options.grains ?? allGrains;
  const result: RecomputeResult = { full: range === undefined, from: null, to: null, grains: [], values: 0, deleted: 0, daysFromFacts: 0, daysFromPoints: 0, durationMs: 0 };

  let from: DateString;
  let to: DateString;
  if (range) {
    if (!isDateString(range.from) || !isDateString(range.to) || range.from > range.to) {
      throw new RangeError(`recompute range must be two dates with from <= to, got ${range.from}..${range.to}`);
    }
    ({ from, to } = range);
  } else {
    const bounds = await sql<{ first: DateString | null; last: DateString | null }>`select min(date) as first, max(date) as last from metric_facts`.execute(db);
    const first = bounds.rows[0]?.first;
    const last = bounds.rows[0]?.last;
    if (!first || !last) {
      result.deleted = await deletePoints(db, grains);
      result.durationMs = performance.now() - started;
      return result;
    }
    from = first;
    to = last;
  }
  result.from = from;
  result.to = to;

  const lanes = grains.map((grain) => new GrainLane(grain, from, to, lookback, weekStart));
  const readFrom = lanes.reduce((a, l) => (l.loadFrom < a ? l.loadFrom : a), from);
  const readTo = lanes.reduce((a, l) => (l.readTo > a ? l.readTo : a), to);
  // Read before any fact is: the versions the day points written here are computed from.
  const states = await loadDayStates(db, readFrom, readTo);
  // Points only as wide as the metrics that have facts here (a few of the vocabulary's 34).
  const plan = new KpiPlan(catalogue, kpis, NO_FILTER, await metricsPresent(db, readFrom, readTo));
  const reporting = reportingOf(config);
  const basis = basisOf(reporting);
  // An incremental recompute sums only the facts of the days that changed (and of days whose
  // points are out of date); weeks and months take their other days from the stored day
  // points, and skip days that never had a fact. Stored points hold unfiltered sums only, so
  // KPIs with filters need every fact read.
  const reuse = range !== undefined && plan.groups.length === 1 && lanes.some((l) => l.grain !== 'day');
  const source = (day: DateString): DaySource => {
    if (!range) return 'facts';
    const state = states.get(day);
    if (!state) return 'none';
    return reuse && (day < from || day > to) && isCurrent(state, basis) ? 'points' : 'facts';
  };
  const chunks = dayChunks(readFrom, readTo, options.chunkDays ?? DEFAULT_CHUNK_DAYS).map((chunk) => ({ chunk, parts: splitDays(chunk, source) }));
  const parts = chunks.flatMap((c) => c.parts);
  const factParts = parts.filter((p) => p.source === 'facts');
  const dayCount = (ps: readonly DayPart[]) => ps.reduce((n, p) => n + daysBetween(p.start, p.end) + 1, 0);
  result.daysFromFacts = dayCount(factParts);
  result.daysFromPoints = dayCount(parts.filter((p) => p.source === 'points'));
  if (factParts.length > 0) await assertRates(db, reporting, factParts[0]!.start, factParts.at(-1)!.end);
  if (!range) {
    for (const lane of lanes) result.deleted += await deletePoints(db, [lane.grain], { from: lane.first, to: lane.last, outside: true });
  }
  const format = pointFormat(db, plan.roots.map((r) => r.kpi), options.batchSize ?? DEFAULT_BATCH);
  for (const lane of lanes) lane.start(plan, format, readFrom, readTo);
  const days = new PointStore(plan.metrics, plan.groups.length);
  const metrics = plan.neededMetrics();
  const readPart = async (part: DayPart): Promise<PartRead> => {
    if (part.source === 'none') return {};
    if (part.source === 'points') return { stored: await readStoredDays(db, days, part.start, part.end) };
    const query = { periods: { grain: 'day', weekStart }, from: part.start, to: part.end, dimensions, metrics, groups: plan.groups, reporting, exactness: true } as const;
    return { facts: await aggregateRows(db, query, plan.metrics) };
  };
  const query = (parts: readonly DayPart[]) => Promise.all(parts.map(readPart));
  // Per day whose sums are computed here, whether its total sums fit their doubles exactly.
  const exact = new Map<DateString, boolean>();
  // Three stages overlap: Postgres sums the next chunk and stores the last one while this
  // process evaluates the current one. One write is in flight at a time, which bounds memory.
  let next = chunks.length > 0 ? quiet(query(chunks[0]!.parts)) : null;
  let writing: Promise<WriteResult> = Promise.resolve({ values: 0, deleted: 0 });
  try {
    for (let c = 0; c < chunks.length; c++) {
      const { chunk } = chunks[c]!;
      const reads = await next!;
      next = c + 1 < chunks.length ? quiet(query(chunks[c + 1]!.parts)) : null;
      chunks[c]!.parts.forEach((part, i) => {
        const read = reads[i]!;
        if (part.source === 'points') return;
        const inexact = read.facts ? inexactDays(read.facts) : new Set<DateString>();
        for (let day = part.start; day <= part.end; day = addDays(day, 1)) exact.set(day, !inexact.has(day));
      });
      for (const read of reads) {
        if (read.facts) addAggregateRows(days, read.facts);
        if (read.stored) addStoredDays(days, read.stored);
      }
      const final = c === chunks.length - 1;
      const writes: PointWrite[] = [];
      for (const lane of lanes) {
        lane.rollUp(days, chunk);
        const w = lane.emit(final ? null : chunk.end);
        if (w && w.grain === 'day') w.after = [markDaysQuery(w.from, w.to, states, basis, exact)];
        if (w) writes.push(w);
      }
      const done = await writing;
      result.values += done.values;
      result.deleted += done.deleted;
      writing = quiet(writePoints(db, format, writes));
      days.evictBefore(addDays(chunk.end, 1 - lookback));
      for (const day of exact.keys()) if (day <= chunk.end) exact.delete(day);
    }
    const done = await writing;
    result.values += done.values;
    result.deleted += done.deleted;
  } finally {
    // Nothing may still be reading or writing when an error reaches the caller.
    await Promise.allSettled([writing, next ?? Promise.resolve()]);
  }
  for (const lane of lanes) result.grains.push(lane.summary());
  result.durationMs = performance.now() - started;
  return result;
}

/** A promise whose rejection is not reported as unhandled before it is awaited. */
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

interface PartRead {
  facts?: AggregateRows;
  stored?: StoredDays;
}

/** Where a day's sums come from: its facts, its stored day points, or nowhere (it never had a fact). */
type DaySource = 'facts' | 'points' | 'none';

interface DayPart extends Period {
  source: DaySource;
}

/** The chunk as runs of days whose sums come from the same place. */
function splitDays(chunk: Period, sourceOf: (day: DateString) => DaySource): DayPart[] {
  const parts: DayPart[] = [];
  for (let day = chunk.start; day <= chunk.end; day = addDays(day, 1)) {
    const source = sourceOf(day);
    const last = parts.at(-1);
    if (last && last.source === source) last.end = day;
    else parts.push({ start: day, end: day, source });
  }
  return parts;
}

function dayChunks(from: DateString, to: DateString, days: number): Period[] {
  const out: Period[] = [];
  for (let start = from; start <= to; ) {
    const end = addDays(start, Math.max(1, days) - 1);
    out.push({ start, end: end < to ? end : to });
    start = addDays(end, 1);
  }
  return out;
}

/**
 * One grain's share of a recompute: the periods it must write, its own store of rolled-up
 * sums (the day grain shares the day store), and how far it has written.
 */
class GrainLane {
  /** First and last period start to write. */
  readonly first: DateString;
  readonly last: DateString;
  /** The first day that must be read: previous() looks this far back. */
  readonly loadFrom: DateString;
  readonly readTo: DateString;
  readonly #periods: Period[];
  #emitted = 0;
  #values = 0;
  #points = 0;
  #store: PointStore | null = null;
  #keys: DateString[] = [];
  #indexOf = new Map<DateString, number>();
  #plan: KpiPlan | null = null;
  #format: PointFormat | null = null;
  #out: Array<number | null> = [];

  constructor(
    readonly grain: Grain,
    from: DateString,
    to: DateString,
    readonly lookback: number,
    readonly weekStart: WeekStart,
  ) {
    this.first = periodStart(from, grain, weekStart);
    this.last = shiftPeriod(periodStart(to, grain, weekStart), grain, lookback);
    this.loadFrom = shiftPeriod(this.first, grain, -lookback);
    this.readTo = periodEnd(this.last, grain);
    this.#periods = periodsBetween(this.first, this.last, grain, weekStart);
  }

  /** Once the days to read are known: the plan, and the period starts a cursor may look back through. */
  start(plan: KpiPlan, format: PointFormat, readFrom: DateString, readTo: DateString): void {
    this.#plan = plan;
    this.#format = format;
    this.#out = new Array(plan.roots.length).fill(null);
    this.#keys = periodsBetween(readFrom, readTo, this.grain, this.weekStart).map((p) => p.start);
    this.#indexOf = new Map(this.#keys.map((k, i) => [k, i]));
  }

  /** Adds the chunk's days into this grain's periods. */
  rollUp(days: PointStore, chunk: Period): void {
    if (this.grain === 'day') {
      this.#store = days;
      return;
    }
    this.#store ??= new PointStore(days.metrics, days.groupCount);
    for (let day = chunk.start; day <= chunk.end; day = addDays(day, 1)) {
      const points = days.points(day);
      if (points.size === 0) continue;
      const period = periodStart(day, this.grain, this.weekStart);
      for (const [key, data] of points) this.#store.merge(period, key, data);
    }
  }

  /** The periods that ended by `through` (all that are left when null), evaluated. */
  emit(through: DateString | null): PointWrite | null {
    const store = this.#store;
    const plan = this.#plan;
    let n = this.#emitted;
    while (n < this.#periods.length && (through === null || this.#periods[n]!.end <= through)) n++;
    if (n === this.#emitted || !store || !plan) return null;
    const periods = this.#periods.slice(this.#emitted, n);
    this.#emitted = n;
    const rows = this.#format!.batch(this.grain);
    const cursor = store.cursor(this.#keys);
    const out = this.#out;
    for (const period of periods) {
      const index = this.#indexOf.get(period.start)!;
      for (const [key] of store.points(period.start)) {
        plan.valuesAt(cursor.moveTo(index, key), out);
        const at = key.indexOf('\u0000');
        rows.add(period.start, period.end, key.slice(0, at), key.slice(at + 1), out);
      }
    }
    this.#values += rows.values;
    this.#points += rows.size;
    if (this.grain !== 'day' && this.#emitted < this.#periods.length) store.evictBefore(shiftPeriod(this.#periods[this.#emitted]!.start, this.grain, -this.lookback));
    return { grain: this.grain, from: periods[0]!.start, to: periods[periods.length - 1]!.end, rows };
  }

  summary(): GrainSummary {
    return { grain: this.grain, from: this.first, to: this.last, periods: this.#periods.length, values: this.#values, points: this.#points };
  }
}
