import { sql, type RawBuilder } from 'kysely';

/** Element types an unnest column can have; numbers for int and float8, text for the others. */
type ColumnType = 'text' | 'int' | 'float8' | 'timestamptz';

type ValueOf<T extends ColumnType> = T extends 'int' | 'float8' ? number | null : string | null;

type RowOf<S extends Record<string, ColumnType>> = { [K in keyof S]: ValueOf<S[K]> };

/** Text as the inside of a quoted array element: backslash and double quote escaped. */
export function escapeArrayText(s: string): string {
  return s.includes('"') || s.includes('\\') ? s.replace(/[\\"]/g, '\\$&') : s;
}

function quoted(v: string): string {
  return `"${escapeArrayText(v)}"`;
}

function textLiteral(values: ReadonlyArray<string | null>): string {
  return `{${values.map((v) => (v === null ? 'NULL' : quoted(v))).join(',')}}`;
}

/** String() is the shortest text that reads back as the same double; NaN and ±Infinity read back too. */
function numberLiteral(values: ReadonlyArray<number | null>): string {
  return `{${values.map((v) => (v === null ? 'NULL' : String(v))).join(',')}}`;
}

/**
 * Rows collected as column arrays and written with one `unnest`: a fixed number of
 * parameters however many rows. Each column goes as one array literal built with one join;
 * node-postgres builds an array parameter element by element, growing one string and
 * escaping each element with two replaces, which at tens of thousands of elements made most
 * of the garbage of an alert evaluation.
 */
export class UnnestColumns<S extends Record<string, ColumnType>> {
  readonly #columns: Array<{ name: string; type: ColumnType; values: Array<string | number | null> }>;

  constructor(types: S) {
    this.#columns = Object.entries(types).map(([name, type]) => ({ name, type, values: [] }));
  }

  get size(): number {
    return this.#columns[0]?.values.length ?? 0;
  }

  push(row: RowOf<S>): void {
    for (const c of this.#columns) c.values.push(row[c.name as keyof S]);
  }

  /** `unnest(...) as <alias>(<column names>)`, for a FROM clause. */
  from(alias = 't'): RawBuilder<unknown> {
    const arrays = this.#columns.map(({ type, values }) => {
      const literal = type === 'int' || type === 'float8' ? numberLiteral(values as Array<number | null>) : textLiteral(values as Array<string | null>);
      return sql`${literal}::${sql.raw(type)}[]`;
    });
    return sql`unnest(${sql.join(arrays)}) as ${sql.ref(alias)}(${sql.join(this.#columns.map((c) => sql.ref(c.name)))})`;
  }
}
