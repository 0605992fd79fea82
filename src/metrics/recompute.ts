import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, DateString } from '../warehouse/index.ts';
import { aggregateInto, assertRates, dimensions, PointStore, splitPointKey } from './aggregate.ts';
import { loadCatalogue } from './catalogue.ts';
import type { MetricsConfig } from './context.ts';
import { EvaluationPlan } from './evaluate.ts';
import { NO_FILTER } from './filters.ts';
import { daysBetween, grains as allGrains, isDateString, periodEnd, periodsBetween, periodStart, shiftPeriod, type Grain, type Period } from './periods.ts';

export interface RecomputeRange {
  /** First and last date whose facts changed; both inclusive. */
  from: DateString;
  to: DateString;
}

export interface RecomputeOptions {
  /**
   * Periods are read and written in chunks of at least this many days (and at least one
   * period), which bounds memory: a day × campaign chunk holds every campaign of each day.
   */
  chunkDays?: number;
  /** KPI values per insert statement. */
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
  durationMs: number;
}

const DEFAULT_CHUNK_DAYS = 7;
const DEFAULT_BATCH = 5_000;

type Executor = Kysely<Database> | Transaction<Database>;

/**
 * Recomputes every KPI (base metrics, built-ins, config KPIs) at every grain and dimension
 * for the periods that [from, to] intersects, and makes kpi_values hold exactly those
 * values there: a value that no longer exists is removed. Without a range, for the whole
 * fact table, and values outside it are removed too.
 *
 * KPIs that look back with previous() also change in the periods after a changed one, so
 * the range is extended forward by that many periods.
 *
 * A change of configuration (KPIs, reporting.weekStart, fxRates) calls for a full
 * recompute: an incremental one only replaces the current KPIs in the touched periods.
 *
 * Only values that exist are stored: a KPI with no data or a zero denominator in a
 * period has no row there (never a NULL row).
 */
export async function recompute(db: Kysely<Database>, config: MetricsConfig, range?: RecomputeRange, options: RecomputeOptions = {}): Promise<RecomputeResult> {
  const started = performance.now();
  const catalogue = loadCatalogue(config.kpis);
  const plan = new EvaluationPlan(catalogue, catalogue.list().map((d) => d.name), NO_FILTER);
  const { weekStart } = config.reporting;
  const grains = options.grains ?? allGrains;
  const result: RecomputeResult = { full: range === undefined, from: null, to: null, grains: [], values: 0, deleted: 0, durationMs: 0 };

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
      const gone = await db.deleteFrom('kpi_values').where('grain', 'in', [...grains]).executeTakeFirst();
      result.deleted = Number(gone.numDeletedRows);
      result.durationMs = performance.now() - started;
      return result;
    }
    from = first;
    to = last;
  }
  result.from = from;
  result.to = to;

  const spans = grains.map((grain) => {
    const first = periodStart(from, grain, weekStart);
    return { grain, first, last: shiftPeriod(periodStart(to, grain, weekStart), grain, plan.lookback), loadFrom: shiftPeriod(first, grain, -plan.lookback) };
  });
  const readFrom = spans.reduce((a, s) => (s.loadFrom < a ? s.loadFrom : a), from);
  const readTo = spans.reduce((a, s) => (periodEnd(s.last, s.grain) > a ? periodEnd(s.last, s.grain) : a), to);
  await assertRates(db, config.reporting, readFrom, readTo);

  const known = plan.roots.map((r) => r.kpi);
  if (!range) {
    // KPIs that left the config; the per-period deletes below only name current ones.
    const gone = await db.deleteFrom('kpi_values').where('grain', 'in', [...grains]).where('kpi', 'not in', known).executeTakeFirst();
    result.deleted += Number(gone.numDeletedRows);
  }
  // Grains are independent (their own rows, their own scan), so on server Postgres they run
  // side by side on separate connections; the embedded database simply takes them in turn.
  // allSettled, so that nothing is still writing when a failure reaches the caller.
  const settled = await Promise.allSettled(
    spans.map(async (span): Promise<GrainSummary & { deleted: number }> => {
      let deleted = 0;
      if (!range) {
        const stale = await db
          .deleteFrom('kpi_values')
          .where('kpi', 'in', known)
          .where('grain', '=', span.grain)
          .where((eb) => eb.or([eb('period_start', '<', span.first), eb('period_start', '>', span.last)]))
          .executeTakeFirst();
        deleted += Number(stale.numDeletedRows);
      }
      const done = await recomputeGrain(db, config, plan, span, options);
      return { grain: span.grain, from: span.first, to: span.last, periods: done.periods, values: done.values, deleted: deleted + done.deleted };
    }),
  );
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const summaries = settled.map((r) => (r as PromiseFulfilledResult<GrainSummary & { deleted: number }>).value);
  for (const { deleted, ...summary } of summaries) {
    result.grains.push(summary);
    result.values += summary.values;
    result.deleted += deleted;
  }
  result.durationMs = performance.now() - started;
  return result;
}

interface Span {
  grain: Grain;
  first: DateString;
  last: DateString;
  loadFrom: DateString;
}

function chunkPeriods(periods: readonly Period[], days: number): Period[][] {
  const chunks: Period[][] = [];
  let current: Period[] = [];
  let size = 0;
  for (const p of periods) {
    current.push(p);
    size += daysBetween(p.start, p.end) + 1;
    if (size >= days) {
      chunks.push(current);
      current = [];
      size = 0;
    }
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

async function recomputeGrain(db: Kysely<Database>, config: MetricsConfig, plan: EvaluationPlan, span: Span, options: RecomputeOptions) {
  const { grain } = span;
  const { weekStart } = config.reporting;
  const periods = periodsBetween(span.first, span.last, grain, weekStart);
  const keys = periodsBetween(span.loadFrom, span.last, grain, weekStart).map((p) => p.start);
  const indexOf = new Map(keys.map((k, i) => [k, i]));
  const store = new PointStore(plan.metrics, plan.groups.length);
  const cursor = store.cursor(keys);
  const metrics = plan.neededMetrics();
  const names = plan.roots.map((r) => r.kpi);
  const out: Array<number | null> = new Array(names.length).fill(null);
  const batchSize = options.batchSize ?? DEFAULT_BATCH;
  let values = 0;
  let deleted = 0;
  let loadedThrough: DateString | null = null;

  for (const chunk of chunkPeriods(periods, options.chunkDays ?? DEFAULT_CHUNK_DAYS)) {
    const first = chunk[0]!;
    const last = chunk[chunk.length - 1]!;
    // Periods already loaded stay in the store for previous(); only the new ones are read.
    const loadFrom = loadedThrough === null ? span.loadFrom : shiftPeriod(loadedThrough, grain, 1);
    await aggregateInto(
      db,
      { periods: { grain, weekStart }, from: loadFrom, to: last.end, dimensions, metrics, groups: plan.groups, reporting: config.reporting },
      store,
    );
    loadedThrough = last.start;

    // One transaction per chunk: a reader sees a period's old values or its new ones, never a
    // mix. Every value starting inside the chunk's days goes, so weeks stored with another
    // first day (reporting.weekStart changed) do not linger next to the new ones. Naming the
    // KPIs lets the primary key find the rows.
    await db.transaction().execute(async (trx) => {
      const gone = await trx
        .deleteFrom('kpi_values')
        .where('kpi', 'in', names)
        .where('grain', '=', grain)
        .where('period_start', '>=', first.start)
        .where('period_start', '<=', last.end)
        .executeTakeFirst();
      deleted += Number(gone.numDeletedRows);
      const batch = new Batch(grain);
      for (const period of chunk) {
        const index = indexOf.get(period.start)!;
        for (const [key] of store.points(period.start)) {
          plan.evaluatePoint(cursor.moveTo(index, key), out);
          const { dimension, value: dimensionValue } = splitPointKey(key);
          for (let i = 0; i < names.length; i++) {
            const v = out[i];
            if (v === null || v === undefined) continue;
            batch.push(names[i]!, period, dimension, dimensionValue, v);
            if (batch.size >= batchSize) values += await batch.flush(trx);
          }
        }
      }
      values += await batch.flush(trx);
    });
    store.evictBefore(shiftPeriod(last.start, grain, 1 - plan.lookback));
  }
  return { values, deleted, periods: periods.length };
}

/** Column arrays for one unnest insert: a fixed number of parameters whatever the batch size. */
class Batch {
  kpi: string[] = [];
  start: string[] = [];
  end: string[] = [];
  dimension: string[] = [];
  dimensionValue: string[] = [];
  value: string[] = [];

  constructor(readonly grain: Grain) {}

  get size(): number {
    return this.kpi.length;
  }

  push(kpi: string, period: Period, dimension: string, dimensionValue: string, value: number): void {
    this.kpi.push(kpi);
    this.start.push(period.start);
    this.end.push(period.end);
    this.dimension.push(dimension);
    this.dimensionValue.push(dimensionValue);
    // String() is the shortest text that reads back as the same double.
    this.value.push(String(value));
  }

  async flush(db: Executor): Promise<number> {
    const n = this.size;
    if (n === 0) return 0;
    await sql`
      insert into kpi_values (kpi, grain, period_start, period_end, dimension, dimension_value, value, computed_at)
      select t.kpi, ${this.grain}, t.period_start, t.period_end, t.dimension, t.dimension_value, t.value, now()
      from unnest(${this.kpi}::text[], ${this.start}::date[], ${this.end}::date[], ${this.dimension}::text[], ${this.dimensionValue}::text[], ${this.value}::numeric[])
        as t(kpi, period_start, period_end, dimension, dimension_value, value)
    `.execute(db);
    this.kpi = [];
    this.start = [];
    this.end = [];
    this.dimension = [];
    this.dimensionValue = [];
    this.value = [];
    return n;
  }
}
