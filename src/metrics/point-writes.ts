import { sql, type Kysely, type RawBuilder } from 'kysely';
import { BinaryCopyWriter, bulkLoaderOf, type BulkLoader, type Database, type DateString, type Executor } from '../warehouse/index.ts';
import type { Grain } from './periods.ts';

/**
 * How recompute stores points: each (grain, period, dimension value) is one kpi_points row
 * holding all its KPI values. On a Postgres server they go by COPY in binary; PGlite has no
 * COPY FROM STDIN, so there they go as JSON through an insert.
 */

/** The points of one grain's finished periods, ready to replace what is stored for them. */
export interface PointWrite {
  grain: Grain;
  /** Every stored point starting in [from, to] is replaced. */
  from: DateString;
  to: DateString;
  rows: PointBatch;
  /** Statements to run in the same transaction once the points are in. */
  after?: RawBuilder<unknown>[];
}

export interface WriteResult {
  values: number;
  deleted: number;
}

/** One write's points, encoded the way they will be stored. */
export interface PointBatch {
  /** Points added (those with at least one value). */
  readonly size: number;
  readonly values: number;
  /** A point with the finite values of `out`, which is indexed like the KPIs the format was made for. */
  add(start: DateString, end: DateString, dimension: string, value: string, out: ReadonlyArray<number | null>): void;
}

export interface PointFormat {
  batch(grain: Grain): PointBatch;
  /** Runs `work` in one transaction, in which `insert` stores a write's points the format's way. */
  transaction<T>(db: Kysely<Database>, work: (tx: PointTransaction) => Promise<T>): Promise<T>;
}

interface PointTransaction {
  run<R>(query: RawBuilder<R>): Promise<R[]>;
  insert(write: PointWrite): Promise<void>;
}

/**
 * Replaces the stored points of each write's range with its points, in one transaction: a
 * reader sees a period's old points or its new ones, never a mix. Every point starting inside
 * a written range goes first, so weeks stored with another first day (reporting.weekStart
 * changed) do not linger next to the new ones.
 */
export async function writePoints(db: Kysely<Database>, format: PointFormat, writes: readonly PointWrite[]): Promise<WriteResult> {
  if (writes.length === 0) return { values: 0, deleted: 0 };
  return format.transaction(db, async (tx) => {
    let deleted = 0;
    let values = 0;
    for (const w of writes) {
      const [gone] = await tx.run(deletePointsQuery([w.grain], w));
      deleted += Number(gone?.n ?? 0);
      if (w.rows.size > 0) await tx.insert(w);
      for (const statement of w.after ?? []) await tx.run(statement);
      values += w.rows.values;
    }
    return { values, deleted };
  });
}

/** `kpis` in the order of the values recompute evaluates; `batchSize` is points per insert on PGlite. */
export function pointFormat(db: Kysely<Database>, kpis: readonly string[], batchSize: number): PointFormat {
  const bulk = bulkLoaderOf(db);
  return bulk ? copyFormat(bulk, kpis) : jsonFormat(kpis, batchSize);
}

/** Removes a grain's points starting in [from, to] (or outside it) and says how many KPI values they held. */
export async function deletePoints(db: Executor, grains: readonly Grain[], range?: { from: DateString; to: DateString; outside?: boolean }): Promise<number> {
  const { rows } = await deletePointsQuery(grains, range).execute(db);
  return Number(rows[0]?.n ?? 0);
}

function deletePointsQuery(grains: readonly Grain[], range?: { from: DateString; to: DateString; outside?: boolean }) {
  const where = !range
    ? sql`true`
    : range.outside
      ? sql`(period_start < ${range.from}::date or period_start > ${range.to}::date)`
      : sql`period_start >= ${range.from}::date and period_start <= ${range.to}::date`;
  return sql<{ n: number | null }>`
    with gone as (delete from kpi_points where grain = any(${[...grains]}::text[]) and ${where} returning cardinality(kpis) as n)
    select sum(n)::int as n from gone
  `;
}

const COPY_POINTS = 'copy kpi_points (grain, period_start, period_end, dimension, dimension_value, kpis, vals) from stdin with (format binary)';

/** Doubles go as their eight bytes: neither side turns 25M of them into text and back. */
function copyFormat(bulk: BulkLoader, kpis: readonly string[]): PointFormat {
  const names = kpis.map((k) => Buffer.from(k));
  return {
    batch: (grain) => new CopyPoints(grain, names),
    transaction: (db, work) =>
      bulk.transaction((session) =>
        work({
          run: (query) => session.execute(query.compile(db)),
          // This format made the batch.
          insert: async (w) => void (await session.copyIn(COPY_POINTS, (w.rows as CopyPoints).writer.finish())),
        }),
      ),
  };
}

/** The values of a point worth storing (finite ones) and the KPIs they belong to, in reused arrays. */
class FiniteValues {
  readonly picks: Int32Array;
  readonly vals: Float64Array;

  constructor(size: number) {
    this.picks = new Int32Array(size);
    this.vals = new Float64Array(size);
  }

  /** Picks the finite values of `out`; how many there are. */
  pick(out: ReadonlyArray<number | null>): number {
    let count = 0;
    for (let i = 0; i < out.length; i++) {
      const v = out[i];
      if (v === null || v === undefined || !Number.isFinite(v)) continue;
      this.picks[count] = i;
      this.vals[count] = v;
      count++;
    }
    return count;
  }
}

class CopyPoints implements PointBatch {
  readonly writer = new BinaryCopyWriter();
  values = 0;
  readonly #finite: FiniteValues;

  constructor(
    readonly grain: Grain,
    readonly names: readonly Buffer[],
  ) {
    this.#finite = new FiniteValues(names.length);
  }

  get size(): number {
    return this.writer.rows;
  }

  add(start: DateString, end: DateString, dimension: string, value: string, out: ReadonlyArray<number | null>): void {
    const f = this.#finite;
    const count = f.pick(out);
    if (count === 0) return;
    this.writer.row(7).text(this.grain).date(start).date(end).text(dimension).text(value).textArray(this.names, f.picks, count).float8Array(f.vals, count);
    this.values += count;
  }
}

/**
 * Points as JSON objects, one string each, sent as one json parameter per insert: Postgres
 * parses it with json_to_recordset, which turns the arrays into text[] and float8[], and
 * this process only concatenates strings (no per-element array escaping).
 */
function jsonFormat(kpis: readonly string[], batchSize: number): PointFormat {
  const quoted = kpis.map((k) => JSON.stringify(k));
  return {
    batch: () => new JsonPoints(quoted),
    transaction: (db, work) =>
      db.transaction().execute((trx) =>
        work({
          run: async (query) => (await query.execute(trx)).rows,
          insert: async (w) => {
            // This format made the batch.
            const rows = w.rows as JsonPoints;
            for (let at = 0; at < rows.size; at += batchSize) {
              const batch = `[${rows.json.slice(at, at + batchSize).join(',')}]`;
              await sql`
                insert into kpi_points (grain, period_start, period_end, dimension, dimension_value, kpis, vals, computed_at)
                select ${w.grain}, t.s, t.e, t.d, t.v, t.k, t.x, now()
                from json_to_recordset(${batch}::json) as t(s date, e date, d text, v text, k text[], x float8[])
              `.execute(trx);
            }
          },
        }),
      ),
  };
}

class JsonPoints implements PointBatch {
  readonly json: string[] = [];
  values = 0;
  readonly #finite: FiniteValues;

  constructor(readonly quoted: readonly string[]) {
    this.#finite = new FiniteValues(quoted.length);
  }

  get size(): number {
    return this.json.length;
  }

  add(start: DateString, end: DateString, dimension: string, value: string, out: ReadonlyArray<number | null>): void {
    const f = this.#finite;
    const count = f.pick(out);
    if (count === 0) return;
    let kpis = this.quoted[f.picks[0]!]!;
    // String() is the shortest text that reads back as the same double (and valid JSON).
    let vals = String(f.vals[0]);
    for (let k = 1; k < count; k++) {
      kpis += `,${this.quoted[f.picks[k]!]}`;
      vals += `,${String(f.vals[k])}`;
    }
    this.json.push(`{"s":"${start}","e":"${end}","d":"${dimension}","v":${JSON.stringify(value)},"k":[${kpis}],"x":[${vals}]}`);
    this.values += count;
  }
}
