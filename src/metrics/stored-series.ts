import { sql, type Kysely } from 'kysely';
import { daysOf } from '../core/dates.ts';
import type { Database, DateString } from '../warehouse/index.ts';
import { pointKey, PointStore } from './aggregate.ts';
import { loadCatalogue, requireKpi } from './catalogue.ts';
import { reportingOf, type MetricsConfig } from './context.ts';
import { basisOf } from './day-state.ts';
import { KpiPlan } from './kpi-plan.ts';
import { periodsBetween, shiftPeriod, type Grain, type Period } from './periods.ts';
import { kpiSeries, kpiWindows, type SeriesPoint, type WindowValues } from './series.ts';

/**
 * The totals (dimension 'all') of kpiSeries and kpiWindows, answered from the day points
 * recompute stored instead of from the facts, so that their cost does not grow with the
 * number of facts: a week's sparkline reads 7 stored rows, not every fact of the week.
 *
 * The values are the same doubles the facts give. kpiSeries sums a period's facts in
 * numeric, exactly, and turns the sum into a double once; adding the stored day doubles
 * would round at every addition and differ in the last bit for about a third of the weeks.
 * So each stored day sum is taken back to its exact decimal (the shortest form of a double
 * is the decimal it came from when that has at most 15 significant digits), the days are
 * added exactly, and the total is turned into a double once, as the facts' sum is. A day
 * whose sum needs more digits cannot be taken back for sure: the query is answered from the
 * facts instead. Its double does not say that for sure (9007199254740000.5 is stored as a
 * double that prints 9007199254740000), so recompute records per day whether every total sum
 * it stored had at most 15 significant digits, and a day it does not vouch for is read from
 * the facts as well.
 *
 * Also from the facts: KPIs with a filter of their own (stored sums are unfiltered), and
 * every KPI of a query whose days (with the periods previous() looks back to) include one
 * whose KPI work is owed (its facts changed after its points were computed, or the money
 * conversion or metric sources changed since: kpi_days, see owed.ts), or one with a point
 * but no state (the facts were truncated after it was stored). That is what
 * `kpi report` shows then, since it always reads the facts, while `kpi status` says the KPI
 * values are behind; a page never shows values older than the facts.
 */

/** Significant digits a double keeps for any decimal (DBL_DIG). */
const EXACT_DIGITS = 15;

/** An exact decimal: mantissa × 10^-scale. */
interface Decimal {
  m: bigint;
  scale: number;
}

/** The decimal a stored double was made from, or null when its shortest form may not be that decimal. */
export function exactDecimal(v: number): Decimal | null {
  if (!Number.isFinite(v)) return null;
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(v));
  if (!match) return null;
  const [, sign, int, frac = '', exp = '0'] = match;
  const digits = `${int}${frac}`.replace(/^0+/, '');
  if (digits.replace(/0+$/, '').length > EXACT_DIGITS) return null;
  let scale = frac.length - Number(exp);
  let m = BigInt(`${sign}${int}${frac}`);
  if (scale < 0) {
    m *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { m, scale };
}

function addDecimal(a: Decimal, b: Decimal): Decimal {
  if (a.scale === b.scale) return { m: a.m + b.m, scale: a.scale };
  return a.scale > b.scale ? { m: a.m + b.m * 10n ** BigInt(a.scale - b.scale), scale: a.scale } : { m: a.m * 10n ** BigInt(b.scale - a.scale) + b.m, scale: b.scale };
}

/** The double nearest the decimal, as Number() reads the numeric sum Postgres sends. */
function toDouble(d: Decimal): number {
  if (d.scale === 0) return Number(d.m.toString());
  const negative = d.m < 0n;
  const text = (negative ? -d.m : d.m).toString().padStart(d.scale + 1, '0');
  return Number(`${negative ? '-' : ''}${text.slice(0, -d.scale)}.${text.slice(-d.scale)}`);
}

/**
 * The days of [from, to] whose stored day points were computed from their current facts and
 * basis; null when a day's KPI work is owed, or its stored sums may not be the decimals the
 * facts summed to (exact_sums, migration 017: a sum of more than 15 significant digits can
 * round to a double that prints as another, shorter decimal). A day with no state has had no
 * fact since the facts were last truncated, so a point stored for it is older than the facts.
 */
async function currentDays(db: Kysely<Database>, config: MetricsConfig, from: DateString, to: DateString): Promise<Set<DateString> | null> {
  const basis = basisOf(reportingOf(config));
  const { rows } = await sql<{ date: DateString; current: boolean }>`
    select date, (points_version is not distinct from facts_version and basis is not distinct from ${basis} and exact_sums is true) as current
    from kpi_days where date >= ${from}::date and date <= ${to}::date
  `.execute(db);
  if (rows.some((r) => !r.current)) return null;
  return new Set(rows.map((r) => r.date));
}

/**
 * The unfiltered sums of `metrics` over each window (in order, not overlapping), from the
 * stored day points of dimension 'all', in a store keyed by window start; null when the
 * points cannot stand in for the facts (see above).
 */
async function storedSums(db: Kysely<Database>, config: MetricsConfig, plan: KpiPlan, windows: readonly Period[]): Promise<PointStore | null> {
  const store = new PointStore(plan.metrics, plan.groups.length);
  if (windows.length === 0) return store;
  const from = windows[0]!.start;
  const to = windows.at(-1)!.end;
  const metrics = plan.neededMetrics();
  const current = await currentDays(db, config, from, to);
  if (!current) return null;
  if (metrics.length === 0) return store;
  // One index probe per day: a range of days would walk every campaign's point of each day.
  const days = windows.flatMap((w) => daysOf({ from: w.start, to: w.end }));
  const { rows } = await sql<{ p: DateString } & Record<`m${number}`, number | null>>`
    select period_start as p, ${sql.join(metrics.map((m, k) => sql`vals[array_position(kpis, ${m}::text)] as ${sql.ref(`m${k}`)}`))}
    from kpi_points
    where grain = 'day' and period_start = any(${days}::date[]) and dimension = 'all' and dimension_value = ''
    order by period_start
  `.execute(db);
  // Per window and metric, the exact sum of its days.
  const sums = windows.map(() => new Array<Decimal | undefined>(metrics.length));
  let w = 0;
  for (const row of rows) {
    while (w < windows.length && windows[w]!.end < row.p) w++;
    if (w === windows.length) break;
    if (row.p < windows[w]!.start) continue;
    if (!current.has(row.p)) return null;
    for (let k = 0; k < metrics.length; k++) {
      const v = row[`m${k}`];
      if (v === null || v === undefined) continue;
      const exact = exactDecimal(Number(v));
      if (!exact) return null;
      const seen = sums[w]![k];
      sums[w]![k] = seen ? addDecimal(seen, exact) : exact;
    }
  }
  const key = pointKey('all', '');
  windows.forEach((window, i) => {
    metrics.forEach((m, k) => {
      const sum = sums[i]![k];
      if (sum) store.add(window.start, key, store.slot(plan.metrics.indexOf(m), 0), toDouble(sum));
    });
  });
  return store;
}

/** The KPIs whose values the stored points can give (no filter of their own, nor through the KPIs they read), and the others. */
function splitByFilter(config: MetricsConfig, names: readonly string[]): { stored: string[]; facts: string[] } {
  const catalogue = loadCatalogue(config.kpis);
  const stored: string[] = [];
  const facts: string[] = [];
  for (const name of names) {
    requireKpi(catalogue, name);
    const plan = new KpiPlan(catalogue, [name]);
    (plan.groups.length === 1 && plan.groups[0]!.length === 0 ? stored : facts).push(name);
  }
  return { stored, facts };
}

/** Query-ordered KPIs from two answers, each ordered by KPI. */
function inKpiOrder<T extends { kpi: string }>(names: readonly string[], ...parts: T[][]): T[] {
  const by = new Map<string, T[]>();
  for (const part of parts) for (const row of part) by.set(row.kpi, [...(by.get(row.kpi) ?? []), row]);
  return names.flatMap((n) => by.get(n) ?? []);
}

interface TotalsSeriesQuery {
  kpi: readonly string[];
  grain: Grain;
  from: DateString;
  to: DateString;
}

/** kpiSeries of the totals (dimension 'all', no extra filter), from the stored points where they can say it. */
export async function storedTotalsSeries(db: Kysely<Database>, config: MetricsConfig, query: TotalsSeriesQuery): Promise<SeriesPoint[]> {
  const { stored, facts } = splitByFilter(config, query.kpi);
  const fromFacts = (kpi: readonly string[]) => (kpi.length === 0 ? Promise.resolve([]) : kpiSeries(db, config, { ...query, kpi }));
  // kpiSeries says what is wrong with a range.
  if (stored.length === 0 || !(query.from <= query.to)) return fromFacts(query.kpi);
  const { weekStart } = config.reporting;
  const catalogue = loadCatalogue(config.kpis);
  const plan = new KpiPlan(catalogue, stored);
  const periods = periodsBetween(query.from, query.to, query.grain, weekStart);
  const loadFrom = shiftPeriod(periods[0]!.start, query.grain, -plan.lookback);
  // As kpiSeries reads them: whole periods, the last one to `to`.
  const windows = periodsBetween(loadFrom, query.to, query.grain, weekStart).map((p) => ({ start: p.start, end: p.end < query.to ? p.end : query.to }));
  const [store, other] = await Promise.all([storedSums(db, config, plan, windows), fromFacts(facts)]);
  if (!store) return fromFacts(query.kpi);
  const key = pointKey('all', '');
  const cursor = store.cursor(windows.map((w) => w.start));
  const offset = windows.length - periods.length;
  const out: SeriesPoint[] = [];
  stored.forEach((kpi, root) => {
    periods.forEach((p, i) => {
      const value = store.point(p.start, key) ? plan.valueAt(root, cursor.moveTo(offset + i, key)) : null;
      out.push({ kpi, periodStart: p.start, periodEnd: p.end, dimension: 'all', dimensionValue: '', dimensionLabel: '', value, partial: p.end > query.to });
    });
  });
  return inKpiOrder(query.kpi, out, other);
}

/** kpiWindows of the totals (dimension 'all', no extra filter), from the stored points where they can say it. */
export async function storedTotalsWindows(db: Kysely<Database>, config: MetricsConfig, query: { kpi: readonly string[]; windows: readonly Period[] }): Promise<WindowValues[]> {
  const { stored, facts } = splitByFilter(config, query.kpi);
  const fromFacts = (kpi: readonly string[]) => (kpi.length === 0 ? Promise.resolve([]) : kpiWindows(db, config, { ...query, kpi }));
  if (stored.length === 0 || query.windows.length === 0) return fromFacts(query.kpi);
  const plan = new KpiPlan(loadCatalogue(config.kpis), stored);
  const [store, other] = await Promise.all([storedSums(db, config, plan, query.windows), fromFacts(facts)]);
  if (!store) return fromFacts(query.kpi);
  const key = pointKey('all', '');
  const cursor = store.cursor(query.windows.map((w) => w.start));
  const out: WindowValues[] = stored.map((kpi, root) => ({
    kpi,
    dimension: 'all',
    dimensionValue: '',
    dimensionLabel: '',
    values: query.windows.map((w, i) => (store.point(w.start, key) ? plan.valueAt(root, cursor.moveTo(i, key)) : null)),
  }));
  return inKpiOrder(query.kpi, out, other);
}
