import { sql, type Kysely, type RawBuilder } from 'kysely';
import { ConfigError } from '../errors.ts';
import type { Database, DateString } from '../warehouse/index.ts';
import { filterCondition, type NormalFilter } from './filters.ts';
import type { Grain, Period, WeekStart } from './periods.ts';
import { moneyMetrics } from './vocabulary.ts';

export type Dimension = 'all' | 'connector' | 'channel' | 'campaign';
export const dimensions: readonly Dimension[] = ['all', 'connector', 'channel', 'campaign'];

/** Periods of a grain, or explicit date windows (to-date comparisons), which must not overlap. */
export type PeriodSpec = { grain: Grain; weekStart: WeekStart } | { windows: readonly Period[] };

export interface Reporting {
  currency: string;
  /** Units of the reporting currency per unit of each other currency. */
  fxRates: Readonly<Record<string, number>>;
}

export interface AggregateQuery {
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

  /** A reusable view of one point through its earlier periods; `keys` are the period starts in order. */
  cursor(keys: readonly DateString[]): PointCursor {
    return new PointCursor(this, keys);
  }

  /** Drops periods that no later evaluation can look back to. */
  evictBefore(start: DateString): void {
    for (const period of this.#periods.keys()) if (period < start) this.#periods.delete(period);
  }
}

export class PointCursor {
  #index = 0;
  #key = '';

  constructor(
    readonly store: PointStore,
    readonly keys: readonly DateString[],
  ) {}

  moveTo(index: number, key: string): this {
    this.#index = index;
    this.#key = key;
    return this;
  }

  at(offset: number): Float64Array | undefined {
    const period = this.keys[this.#index - offset];
    return period === undefined ? undefined : this.store.point(period, this.#key);
  }
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

export interface MissingRate {
  currency: string;
  facts: number;
  connector: string;
}

export function missingRateError(missing: readonly MissingRate[], reporting: Reporting): ConfigError {
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
  metric: string;
  missing?: string | null;
  missing_connector?: string | null;
  [column: string]: unknown;
}

/**
 * Sums base metrics per (period, dimension value, metric) in one scan, with one column
 * per filter group, and adds them into `store`. Money is converted to the reporting
 * currency on the way; an unconvertible currency is a ConfigError naming it.
 */
export async function aggregateInto(db: Kysely<Database>, query: AggregateQuery, store: PointStore): Promise<number> {
  const live = query.groups.map((g, i) => ({ g, i })).filter((x): x is { g: NormalFilter; i: number } => x.g !== null);
  const metrics = query.metrics.filter((m) => store.metrics.includes(m));
  if (live.length === 0 || metrics.length === 0) return 0;
  if ('windows' in query.periods && query.periods.windows.length === 0) return 0;

  const period = periodExpr(query.periods);
  const value = convertedValue(query.reporting, metrics);
  const dims = query.dimensions.filter((d): d is Exclude<Dimension, 'all'> => d !== 'all');
  const sets = [...(query.dimensions.includes('all') ? [sql`()`] : []), ...dims.map((d) => sql`(${sql.ref(`f.${d}`)})`)];
  const dimColumns = dims.flatMap((d) => [sql`grouping(${sql.ref(`f.${d}`)}) as ${sql.ref(`g_${d}`)}`, sql`${sql.ref(`f.${d}`)} as ${sql.ref(`v_${d}`)}`]);
  const sums = live.map(({ g, i }) =>
    g.length === 0 ? sql`sum(${value}) as ${sql.ref(`s${i}`)}` : sql`sum(${value}) filter (where ${filterCondition(g)}) as ${sql.ref(`s${i}`)}`,
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
  const result = await sql<AggregateRow>`
    select ${period} as p, f.metric, ${sql.join([...dimColumns, ...sums, ...missing])}
    from metric_facts f
    where ${sql.join(conditions, sql` and `)}
    group by 1, f.metric, grouping sets (${sql.join(sets)})
  `.execute(db);

  const metricIndex = new Map(store.metrics.map((m, i) => [m, i]));
  const unknown = new Map<string, MissingRate>();
  for (const row of result.rows) {
    if (row.missing) unknown.set(row.missing, { currency: row.missing, facts: 0, connector: row.missing_connector ?? '?' });
    const m = metricIndex.get(row.metric);
    if (m === undefined) continue;
    const dim = dims.find((d) => row[`g_${d}`] === 0);
    const key = dim === undefined ? pointKey('all', '') : pointKey(dim, String(row[`v_${dim}`] ?? ''));
    for (const { i } of live) {
      const v = row[`s${i}`];
      if (v !== null && v !== undefined) store.add(row.p, key, store.slot(m, i), Number(v));
    }
  }
  if (unknown.size > 0) throw missingRateError([...unknown.values()].sort((a, b) => a.currency.localeCompare(b.currency)), query.reporting);
  return result.rows.length;
}
