import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { CompiledQuery } from 'kysely';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/** A transaction on one Postgres connection that can also take COPY ... FROM STDIN. */
export interface CopySession {
  /** A statement built with kysely (`.compile(db)`), run inside the transaction. */
  execute<R>(query: CompiledQuery<R>): Promise<R[]>;
  /** Streams the chunks as the data of `statement` (a COPY ... FROM STDIN); the rows copied. */
  copyIn(statement: string, chunks: readonly Buffer[]): Promise<number>;
}

/**
 * Bulk loading for a Postgres server warehouse: COPY costs the server a fraction of what
 * parsing the same rows out of an INSERT's parameters does. PGlite has no COPY FROM STDIN,
 * so only server warehouses offer it (see bulkLoaderOf).
 */
export interface BulkLoader {
  /** Runs `work` in one transaction on one connection: committed if it returns, rolled back if it throws. */
  transaction<T>(work: (session: CopySession) => Promise<T>): Promise<T>;
}

export function poolBulkLoader(pool: pg.Pool): BulkLoader {
  return {
    async transaction(work) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('begin');
        const session: CopySession = {
          async execute(query) {
            const result = await client.query(query.sql, [...query.parameters]);
            return result.rows;
          },
          async copyIn(statement, chunks) {
            const stream = client.query(copyFrom(statement));
            await pipeline(Readable.from(chunks, { objectMode: false }), stream);
            return stream.rowCount;
          },
        };
        const result = await work(session);
        await client.query('commit');
        return result;
      } catch (err) {
        await client.query('rollback').catch((rollbackErr: Error) => {
          // A connection that cannot even roll back is not handed to the next caller.
          broken = rollbackErr;
        });
        throw err;
      } finally {
        client.release(broken);
      }
    },
  };
}

const PG_EPOCH_DAYS = 10_957; // 2000-01-01, where binary dates count from, in days since 1970-01-01
const TEXT_OID = 25;
const FLOAT8_OID = 701;
const CHUNK_BYTES = 1 << 20;
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/**
 * Rows in COPY's binary format (https://www.postgresql.org/docs/current/sql-copy.html,
 * "Binary Format"): numbers go as their eight bytes, so neither this process nor the server
 * spends time turning doubles into text and back. Rows are written field by field, in the
 * order of the COPY statement's column list.
 */
export class BinaryCopyWriter {
  readonly #chunks: Buffer[] = [];
  #buf = Buffer.allocUnsafe(CHUNK_BYTES);
  #pos = 0;
  #rows = 0;
  readonly #days = new Map<string, number>();

  constructor() {
    this.#reserve(19);
    this.#pos += SIGNATURE.copy(this.#buf, 0);
    this.#buf.writeInt32BE(0, this.#pos); // flags
    this.#buf.writeInt32BE(0, this.#pos + 4); // header extension length
    this.#pos += 8;
  }

  get rows(): number {
    return this.#rows;
  }

  /** Starts a row of `fields` fields. */
  row(fields: number): this {
    this.#reserve(2);
    this.#buf.writeInt16BE(fields, this.#pos);
    this.#pos += 2;
    this.#rows++;
    return this;
  }

  text(value: string): this {
    const bytes = Buffer.byteLength(value);
    this.#reserve(4 + bytes);
    this.#buf.writeInt32BE(bytes, this.#pos);
    this.#buf.write(value, this.#pos + 4);
    this.#pos += 4 + bytes;
    return this;
  }

  /** A 'YYYY-MM-DD' date. */
  date(value: string): this {
    let days = this.#days.get(value);
    if (days === undefined) {
      days = Date.UTC(Number(value.slice(0, 4)), Number(value.slice(5, 7)) - 1, Number(value.slice(8, 10))) / 86_400_000 - PG_EPOCH_DAYS;
      this.#days.set(value, days);
    }
    this.#reserve(8);
    this.#buf.writeInt32BE(4, this.#pos);
    this.#buf.writeInt32BE(days, this.#pos + 4);
    this.#pos += 8;
    return this;
  }

  /** A text[] of the `count` elements of `encoded` (UTF-8 bytes) picked by `picks`. */
  textArray(encoded: readonly Buffer[], picks: ArrayLike<number>, count: number): this {
    let bytes = 20;
    for (let i = 0; i < count; i++) bytes += 4 + encoded[picks[i]!]!.length;
    this.#arrayHeader(bytes, TEXT_OID, count);
    for (let i = 0; i < count; i++) {
      const element = encoded[picks[i]!]!;
      this.#buf.writeInt32BE(element.length, this.#pos);
      this.#pos += 4 + element.copy(this.#buf, this.#pos + 4);
    }
    return this;
  }

  /** A float8[] of the first `count` values. */
  float8Array(values: ArrayLike<number>, count: number): this {
    this.#arrayHeader(20 + 12 * count, FLOAT8_OID, count);
    for (let i = 0; i < count; i++) {
      this.#buf.writeInt32BE(8, this.#pos);
      this.#buf.writeDoubleBE(values[i]!, this.#pos + 4);
      this.#pos += 12;
    }
    return this;
  }

  /** The data to stream: header, rows and trailer. The writer is spent afterwards. */
  finish(): Buffer[] {
    this.#reserve(2);
    this.#buf.writeInt16BE(-1, this.#pos);
    this.#pos += 2;
    this.#chunks.push(this.#buf.subarray(0, this.#pos));
    this.#buf = Buffer.alloc(0);
    this.#pos = 0;
    return this.#chunks;
  }

  /** Room for `bytes` more in one piece: a field never straddles two buffers, a row may. */
  #reserve(bytes: number): void {
    if (this.#pos + bytes <= this.#buf.length) return;
    if (this.#pos > 0) this.#chunks.push(this.#buf.subarray(0, this.#pos));
    this.#buf = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, bytes));
    this.#pos = 0;
  }

  #arrayHeader(fieldBytes: number, elementOid: number, count: number): void {
    if (count === 0) {
      // An empty array has no dimensions at all.
      this.#reserve(16);
      this.#buf.writeInt32BE(12, this.#pos);
      this.#buf.writeInt32BE(0, this.#pos + 4);
      this.#buf.writeInt32BE(0, this.#pos + 8);
      this.#buf.writeInt32BE(elementOid, this.#pos + 12);
      this.#pos += 16;
      return;
    }
    this.#reserve(4 + fieldBytes);
    const b = this.#buf;
    const at = this.#pos;
    b.writeInt32BE(fieldBytes, at);
    b.writeInt32BE(1, at + 4); // dimensions
    b.writeInt32BE(0, at + 8); // has nulls
    b.writeInt32BE(elementOid, at + 12);
    b.writeInt32BE(count, at + 16); // length of the one dimension
    b.writeInt32BE(1, at + 20); // lower bound
    this.#pos = at + 24;
  }
}
