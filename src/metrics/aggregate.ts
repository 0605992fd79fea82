import { sql, type Kysely, type RawBuilder } from 'kysely';
import { ConfigError } from '../core/errors.ts';
import { campaignKeySql, type Database, type DateString } from '../warehouse/index.ts';
import { filterCondition, type NormalFilter } from './filters.ts';
import type { Grain, Period, WeekStart } from './periods.ts';
import { moneyMetrics } from '../core/vocabulary.ts';

export type Dimension = 'all' | 'connector' | 'channel' | 'campaign';
export const dimensions: readonly Dimension[] = ['all', 'connector', 'channel', 'campaign'];

/** Periods of a grain, or explicit date windows (to-date comparisons), which must not overlap. */
export type PeriodSpec = { grain: Grain; weekStart: WeekStart } | { windows: readonly Period[] };

export interface Reporting {
  currency: string;
  /** Units of the reporting currency per unit of each other currency. */
  fxRates: Readonly<Record<string, number>>;
  /** Base metrics counted from these connectors only (config `metrics.<name>.from`). */
  sources?: Readonly<Record<string, readonly string[]>>;
}

/** Facts of `metric` that count: all of them, or only the chosen connectors'. */
function metricCondition(metric: string, reporting: Reporting): RawBuilder<boolean> {
  const from = reporting.sources?.[metric];
  return from ? sql<boolean>`(f.metric = ${metric} and f.connector = any(${[...from]}::text[]))` : sql<boolean>`f.metric = ${metric}`;
}

interface AggregateQuery {
  periods: PeriodSpec;
  /** Facts dated outside [from, to] are not read. */
  from: DateString;
  to: DateString;
  dimensions: readonly Dimension[];
  /** Base metrics to read; everything else in the fact table is skipped. */
  metrics: readonly string[];
  /** One sum per filter group; a null group matches nothing and is never queried. */
  groups: readonly (NormalFilter | null)[];
  reporting: Reporting;
  /**
   * Also say, in column `exact` of each total (dimension 'all') row, whether every sum of the
   * unfiltered group has at most 15 significant digits, so that its double gives it back
   * (recompute records it per day for stored-series.ts; the sums arrive here as doubles).
   */
  exactness?: boolean;
}

export function pointKey(dimension: Dimension, value: string): string {
  return `${dimension}\u0000${value}`;
}

export function splitPointKey(key: string): { dimension: Dimension; value: string } {
  const at = key.indexOf('\u0000');
  return { dimension: key.slice(0, at) as Dimension, value: key.slice(at + 1) };
}

/**
 * Period sums per (period, dimension value): one Float64Array per point holding every
 * (filter group, metric) slot, NaN where no fact contributed. Flat arrays rather than
 * objects, because a day × campaign chunk holds hundreds of thousands of points.
 */
export class PointStore {
  readonly #periods = new Map<DateString, Map<string, Float64Array>>();

  constructor(
    readonly metrics: readonly string[],
    readonly groupCount: number,
  ) {}

  get width(): number {
    return this.metrics.length * this.groupCount;
  }

  slot(metricIndex: number, group: number): number {
    return group * this.metrics.length + metricIndex;
  }

  point(period: DateString, key: string): Float64Array | undefined {
    return this.#periods.get(period)?.get(key);
  }

  points(period: DateString): ReadonlyMap<string, Float64Array> {
    return this.#periods.get(period) ?? new Map();
  }

  add(period: DateString, key: string, slot: number, value: number): void {
    let byKey = this.#periods.get(period);
    if (!byKey) this.#periods.set(period, (byKey = new Map()));
    let data = byKey.get(key);
    if (!data) byKey.set(key, (data = new Float64Array(this.width).fill(Number.NaN)));
    const seen = data[slot]!;
    data[slot] = Number.isNaN(seen) ? value : seen + value;
  }

  /** Adds every slot of `data` into the point: how coarser periods are rolled up from days. */
  merge(period: DateString, key: string, data: Float64Array): void {
    let byKey = this.#periods.get(period);
    if (!byKey) this.#periods.set(period, (byKey = new Map()));
    const into = byKey.get(key);
    if (!into) {
      byKey.set(key, data.slice());
      return;
    }
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (Number.isNaN(v)) continue;
      const seen = into[i]!;
      into[i] = Number.isNaN(seen) ? v : seen + v;
    }
  }

  /** A reusable view of one point through its earlier periods; `keys` are the period starts in order. */
  cursor(keys: readonly DateString[]): PointCursor {
    return new PointCursor(this, keys);
  }

  /** Drops periods that no later evaluation can look back to. */
  evictBefore(start: DateString): void {
    for (const period of this.#periods.keys()) if (period < start) this.#periods.delete(period);
  }
}

class PointCursor {
  #index = 0;
  #key = '';

  constructor(
    readonly store: PointStore,
    readonly keys: readonly DateString[],
  ) {}

  #current: Float64Array | undefined;

  moveTo(index: number, key: string): this {
    this.#index = index;
    this.#key = key;
    // Every metric a formula reads asks for the current period: look it up once per point.
    const period = this.keys[index];
    this.#current = period === undefined ? undefined : this.store.point(period, key);
    return this;
  }

  at(offset: number): Float64Array | undefined {
    if (offset === 0) return this.#current;
    const period = this.keys[this.#index - offset];
    return period === undefined ? undefined : this.store.point(period, this.#key);
  }
}

/**
 * A fact's value in a dimension. A campaign is its key: the platform's id where the facts
 * have one (so a renamed campaign is one series, and two of one name are two), else its name;
 * labels for people come from src/metrics/labels.ts.
 */
function dimensionExpr(d: Exclude<Dimension, 'all'>): RawBuilder<string> {
  return d === 'campaign' ? campaignKeySql('f') : sql<string>`${sql.ref(`f.${d}`)}`;
}

function periodExpr(spec: PeriodSpec): RawBuilder<DateString> {
  if ('windows' in spec) {
    return sql<DateString>`(case ${sql.join(
      spec.windows.map((w) => sql`when f.date between ${w.start}::date and ${w.end}::date then ${w.start}::date`),
      sql` `,
    )} end)`;
  }
  switch (spec.grain) {
    case 'day':
      return sql<DateString>`f.date`;
    case 'week':
      return spec.weekStart === 'monday' ? sql<DateString>`(f.date - (extract(isodow from f.date)::int - 1))` : sql<DateString>`(f.date - extract(dow from f.date)::int)`;
    case 'month':
      return sql<DateString>`date_trunc('month', f.date::timestamp)::date`;
    case 'quarter':
      return sql<DateString>`date_trunc('quarter', f.date::timestamp)::date`;
  }
}

function knownCurrencies(reporting: Reporting): string[] {
  return [reporting.currency, ...Object.keys(reporting.fxRates)];
}

/**
 * Converted in SQL with numeric arithmetic, so a period's sum is exact and the same
 * whichever query computes it (an incremental recompute must equal a full one to the bit).
 * A currency without a rate gives NULL here; the caller has found it out beforehand.
 */
function convertedValue(reporting: Reporting, metrics: readonly string[]): RawBuilder<number> {
  const money = metrics.filter((m) => moneyMetrics.has(m));
  const rates = Object.entries(reporting.fxRates).filter(([code]) => code !== reporting.currency);
  if (money.length === 0) return sql<number>`f.value`;
  return sql<number>`(f.value * case when f.currency is null or f.currency = ${reporting.currency} or f.metric <> all(${money}::text[]) then 1 ${sql.join(
    rates.map(([code, rate]) => sql`when f.currency = ${code} then ${String(rate)}::numeric`),
    sql` `,
  )} end)`;
}

interface MissingRate {
  currency: string;
  facts: number;
  connector: string;
}

function missingRateError(missing: readonly MissingRate[], reporting: Reporting): ConfigError {
  return new ConfigError(
    missing.map((m) => ({
      path: 'reporting.fxRates',
      message:
        `no exchange rate for ${m.currency}, which ${m.facts > 0 ? `${m.facts} money fact${m.facts === 1 ? '' : 's'} (e.g. from connector '${m.connector}') carry` : `facts of connector '${m.connector}' carry`}; ` +
        `add \`${m.currency}: <${reporting.currency} per 1 ${m.currency}>\` under reporting.fxRates`,
    })),
  );
}

/**
 * Every currency on money facts in [from, to] that cannot be converted. Run before a
 * recompute writes anything, so a missing rate refuses the whole run rather than half of it.
 */
export async function assertRates(db: Kysely<Database>, reporting: Reporting, from: DateString, to: DateString): Promise<void> {
  const rows = await sql<MissingRate>`
    select f.currency, count(*)::int as facts, min(f.connector) as connector
    from metric_facts f
    where f.date >= ${from}::date and f.date <= ${to}::date and f.metric = any(${[...moneyMetrics]}::text[])
      and f.currency is not null and f.currency <> all(${knownCurrencies(reporting)}::text[])
    group by f.currency
    order by f.currency
  `.execute(db);
  if (rows.rows.length > 0) throw missingRateError(rows.rows, reporting);
}

interface AggregateRow {
  p: DateString;
  missing?: string | null;
  missing_connector?: string | null;
  [column: string]: unknown;
}

/**
 * The metrics that have facts dated in [from, to]. A loose index scan on (date, metric): one
 * probe per distinct (date, metric) pair, so milliseconds where reading the facts takes
 * seconds. Lets a wide aggregate sum only the metrics that exist, not the whole vocabulary.
 */
export async function metricsPresent(db: Kysely<Database>, from: DateString, to: DateString): Promise<Set<string>> {
  const { rows } = await sql<{ metric: string }>`
    with recursive pairs as (
      (select f.date, f.metric from metric_facts f where f.date >= ${from}::date and f.date <= ${to}::date order by f.date, f.metric limit 1)
      union all
      select n.date, n.metric from pairs p cross join lateral (
        select f.date, f.metric from metric_facts f
        where (f.date, f.metric) > (p.date, p.metric) and f.date <= ${to}::date
        order by f.date, f.metric limit 1
      ) n
    )
    select distinct metric from pairs
  `.execute(db);
  return new Set(rows.map((r) => r.metric));
}

/** A query's rows, read but not yet added to a store: recompute reads the next chunk while it evaluates this one. */
export interface AggregateRows {
  rows: AggregateRow[];
  dims: ReadonlyArray<Exclude<Dimension, 'all'>>;
  /** Which column holds which (metric, group) sum. */
  columns: ReadonlyArray<{ column: string; metric: string; group: number }>;
  reporting: Reporting;
}

/**
 * Sums base metrics per (period, dimension value) in one scan: one column per (metric,
 * filter group), so a point arrives as one row rather than one row per metric. Money is
 * converted to the reporting currency on the way.
 */
export async function aggregateRows(db: Kysely<Database>, query: AggregateQuery, storeMetrics: readonly string[]): Promise<AggregateRows> {
  const live = query.groups.map((g, i) => ({ g, i })).filter((x): x is { g: NormalFilter; i: number } => x.g !== null);
  const metrics = query.metrics.filter((m) => storeMetrics.includes(m));
  const dims = query.dimensions.filter((d): d is Exclude<Dimension, 'all'> => d !== 'all');
  const empty: AggregateRows = { rows: [], dims, columns: [], reporting: query.reporting };
  if (live.length === 0 || metrics.length === 0) return empty;
  if ('windows' in query.periods && query.periods.windows.length === 0) return empty;

  const period = periodExpr(query.periods);
  const value = convertedValue(query.reporting, metrics);
  const sets = [...(query.dimensions.includes('all') ? [sql`()`] : []), ...dims.map((d) => sql`(${dimensionExpr(d)})`)];
  const dimColumns = dims.flatMap((d) => [sql`grouping(${dimensionExpr(d)}) as ${sql.ref(`g_${d}`)}`, sql`${dimensionExpr(d)} as ${sql.ref(`v_${d}`)}`]);
  const columns: Array<{ column: string; metric: string; group: number }> = [];
  const sums = live.flatMap(({ g, i }) =>
    metrics.map((metric, m) => {
      const column = `s${i}_${m}`;
      columns.push({ column, metric, group: i });
      const where = g.length === 0 ? metricCondition(metric, query.reporting) : sql`${metricCondition(metric, query.reporting)} and ${filterCondition(g)}`;
      return sql`sum(${value}) filter (where ${where}) as ${sql.ref(column)}`;
    }),
  );
  const money = metrics.filter((m) => moneyMetrics.has(m));
  const unconvertible = sql`f.metric = any(${money}::text[]) and f.currency is not null and f.currency <> all(${knownCurrencies(query.reporting)}::text[])`;
  const missing = money.length > 0 ? [sql`min(f.currency) filter (where ${unconvertible}) as missing`, sql`min(f.connector) filter (where ${unconvertible}) as missing_connector`] : [];
  const conditions = [
    sql`f.date >= ${query.from}::date`,
    sql`f.date <= ${query.to}::date`,
    sql`f.metric = any(${metrics}::text[])`,
    ...('windows' in query.periods ? [sql`(${sql.join(query.periods.windows.map((w) => sql`f.date between ${w.start}::date and ${w.end}::date`), sql` or `)})`] : []),
    // Without an unfiltered group, only facts some group counts need reading.
    ...(live.every(({ g }) => g.length > 0) ? [sql`(${sql.join(live.map(({ g }) => filterCondition(g)), sql` or `)})`] : []),
  ];

  // The period is grouped by position: it carries parameters, and a second copy of the
  // expression would have new placeholders that Postgres does not see as the same.
  const aggregate = sql<AggregateRow>`
    select ${period} as p, ${sql.join([...dimColumns, ...sums, ...missing])}
    from metric_facts f
    where ${sql.join(conditions, sql` and `)}
    group by 1, grouping sets (${sql.join(sets)})
  `;
  const unfiltered = columns.filter((c) => query.groups[c.group]?.length === 0);
  const result = await (query.exactness && unfiltered.length > 0
    ? // Only the total rows (one a day) are checked. Each sum must be a plain decimal (numeric
      // also has NaN and infinities), below 1e308 (no double holds more), and have at most 15
      // significant digits (sign and point left out).
      sql<AggregateRow>`
        select a.*, case when ${sql.join([sql`true`, ...dims.map((d) => sql`${sql.ref(`a.g_${d}`)} = 1`)], sql` and `)} then ${sql.join(
          unfiltered.map((c) => sql`coalesce(${sql.ref(`a.${c.column}`)}::text ~ '^-?[0-9.]+$' and abs(${sql.ref(`a.${c.column}`)}) < 1e308 and length(trim(both '0' from translate(${sql.ref(`a.${c.column}`)}::text, '-.', ''))) <= 15, true)`),
          sql` and `,
        )} end as exact
        from (${aggregate}) a
      `
    : aggregate
  ).execute(db);
  return { rows: result.rows, dims, columns, reporting: query.reporting };
}

/** Adds rows read by aggregateRows into `store`; an unconvertible currency is a ConfigError naming it. */
export function addAggregateRows(store: PointStore, read: AggregateRows): number {
  const metricIndex = new Map(store.metrics.map((m, i) => [m, i]));
  const slots = read.columns.map((c) => ({ column: c.column, slot: store.slot(metricIndex.get(c.metric)!, c.group) }));
  const unknown = new Map<string, MissingRate>();
  for (const row of read.rows) {
    if (row.missing) unknown.set(row.missing, { currency: row.missing, facts: 0, connector: row.missing_connector ?? '?' });
    const dim = read.dims.find((d) => row[`g_${d}`] === 0);
    const key = dim === undefined ? pointKey('all', '') : pointKey(dim, String(row[`v_${dim}`] ?? ''));
    for (const { column, slot } of slots) {
      const v = row[column];
      if (v !== null && v !== undefined) store.add(row.p, key, slot, Number(v));
    }
  }
  if (unknown.size > 0) throw missingRateError([...unknown.values()].sort((a, b) => a.currency.localeCompare(b.currency)), read.reporting);
  return read.rows.length;
}

/** aggregateRows, then addAggregateRows: one scan's sums added into `store`. */
export async function aggregateInto(db: Kysely<Database>, query: AggregateQuery, store: PointStore): Promise<number> {
  return addAggregateRows(store, await aggregateRows(db, query, store.metrics));
}
