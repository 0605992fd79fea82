import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database, DateString } from '../warehouse/index.ts';
import { pointKey, type AggregateRows, type Dimension, type PointStore, type Reporting } from './aggregate.ts';
import { ABSENT_METRIC } from './kpi-plan.ts';

/**
 * Which days' stored day points still match their facts (see migration 006): an incremental
 * recompute takes the sums of those days from their points rather than from the facts, and
 * so sums only the facts of the days that changed.
 *
 * A stored value is the double the full recompute computed from the same facts, and is read
 * back as that double, so weeks and months rolled up from it are the same to the bit.
 */

interface DayState {
  factsVersion: number;
  pointsVersion: number | null;
  basis: string | null;
}

/** What a day's base sums depend on besides its facts: the money conversion, and which connectors count for a metric. */
export function basisOf(reporting: Reporting): string {
  const rates = Object.entries(reporting.fxRates).sort(([a], [b]) => a.localeCompare(b));
  const sources = Object.entries(reporting.sources ?? {})
    .map(([metric, from]) => [metric, [...from].sort()] as const)
    .sort(([a], [b]) => a.localeCompare(b));
  // Without a choice the basis reads as before one existed: stored points stay current.
  return JSON.stringify(sources.length > 0 ? [reporting.currency, rates, sources] : [reporting.currency, rates]);
}

/** The state of each date in [from, to] that has one; a date without one has never had its facts written. */
export async function loadDayStates(db: Kysely<Database>, from: DateString, to: DateString): Promise<Map<DateString, DayState>> {
  const rows = await db.selectFrom('kpi_days').select(['date', 'facts_version', 'points_version', 'basis']).where('date', '>=', from).where('date', '<=', to).execute();
  return new Map(rows.map((r) => [r.date, { factsVersion: Number(r.facts_version), pointsVersion: r.points_version === null ? null : Number(r.points_version), basis: r.basis }]));
}

/** Whether a day's stored points can stand in for its facts. */
export function isCurrent(state: DayState | undefined, basis: string): boolean {
  return state !== undefined && state.pointsVersion === state.factsVersion && state.basis === basis;
}

/**
 * The days of an aggregate read with `exactness` whose total sums do not all have at most 15
 * significant digits: their stored doubles cannot be taken back to the decimals the facts
 * summed to (stored-series.ts).
 */
export function inexactDays(read: AggregateRows): Set<DateString> {
  const out = new Set<DateString>();
  for (const row of read.rows) if (row.exact === false) out.add(row.p);
  return out;
}

/**
 * Records that the day points of [from, to] were computed from the facts versions read
 * before their facts were (a date without a state counts as version 0). Runs in the
 * transaction that writes the points. A write to the facts in between has bumped the
 * version past the one recorded here, so the day reads as changed until recomputed again.
 * `exact`: per day whose sums were computed here (from its facts, or none), whether they all
 * fit a double exactly; a day missing from it (its sums taken from its stored points) keeps
 * what was recorded for it.
 */
export function markDaysQuery(from: DateString, to: DateString, states: ReadonlyMap<DateString, DayState>, basis: string, exact: ReadonlyMap<DateString, boolean> = new Map()): RawBuilder<unknown> {
  const days = new Set([...states.keys(), ...exact.keys()].filter((date) => date >= from && date <= to));
  const seen = [...days].map((date) => ({ d: date, v: states.get(date)?.factsVersion ?? 0, x: exact.get(date) ?? null }));
  return sql`
    insert into kpi_days (date, facts_version, points_version, basis, exact_sums)
    select d.day::date, 0, coalesce(s.v, 0), ${basis}, s.x
    from generate_series(${from}::date, ${to}::date, interval '1 day') as d(day)
    left join json_to_recordset(${JSON.stringify(seen)}::json) as s(d date, v bigint, x boolean) on s.d = d.day::date
    on conflict (date) do update set points_version = excluded.points_version, basis = excluded.basis, exact_sums = coalesce(excluded.exact_sums, kpi_days.exact_sums)
  `;
}

interface StoredRow {
  p: DateString;
  d: string;
  v: string;
  [metric: `m${number}`]: number | null;
}

/** Day points read but not yet added to a store (recompute reads the next chunk while it evaluates this one). */
export interface StoredDays {
  rows: StoredRow[];
  /** The store slot of each m<k> column. */
  slots: number[];
}

/** The base sums of the days in [from, to] as stored in their day points: each base metric is a KPI whose value is its sum. */
export async function readStoredDays(db: Kysely<Database>, store: PointStore, from: DateString, to: DateString): Promise<StoredDays> {
  const metrics = store.metrics.map((m, i) => ({ m, slot: store.slot(i, 0) })).filter(({ m }) => m !== ABSENT_METRIC);
  if (metrics.length === 0) return { rows: [], slots: [] };
  const { rows } = await sql<StoredRow>`
    select period_start as p, dimension as d, dimension_value as v,
      ${sql.join(metrics.map(({ m }, k) => sql`vals[array_position(kpis, ${m}::text)] as ${sql.ref(`m${k}`)}`))}
    from kpi_points
    where grain = 'day' and period_start >= ${from}::date and period_start <= ${to}::date
  `.execute(db);
  return { rows, slots: metrics.map((m) => m.slot) };
}

/** Adds stored day sums at the unfiltered group's slots, as aggregate rows would have. */
export function addStoredDays(store: PointStore, read: StoredDays): void {
  for (const row of read.rows) {
    const key = pointKey(row.d as Dimension, row.v);
    for (let k = 0; k < read.slots.length; k++) {
      const value = row[`m${k}`];
      if (value !== null && value !== undefined) store.add(row.p, key, read.slots[k]!, Number(value));
    }
  }
}
