import type pg from 'pg';

/**
 * COPY ... FROM STDIN over node-postgres without pg-copy-streams (not installed): pg's
 * client.query takes any "submittable" object, and its connection already speaks the COPY
 * sub-protocol (sendCopyFromChunk / endCopyFrom). This is what pg-copy-streams does, minus
 * the stream plumbing: the chunks are in memory already.
 */

interface Connection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
  stream: NodeJS.WritableStream & { writableNeedDrain?: boolean };
}

class CopyIn {
  callback?: (err: Error | null) => void;
  private error: Error | null = null;
  private rowCount = 0;
  readonly done: Promise<number>;
  private settle!: (err: Error | null, n: number) => void;

  constructor(
    private readonly text: string,
    private readonly chunks: Iterable<Buffer>,
  ) {
    this.done = new Promise<number>((resolve, reject) => {
      this.settle = (err, n) => (err ? reject(err) : resolve(n));
    });
  }

  submit(connection: Connection): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: Connection): void {
    void (async () => {
      try {
        for (const chunk of this.chunks) {
          connection.sendCopyFromChunk(chunk);
          if (connection.stream.writableNeedDrain) await new Promise((resolve) => connection.stream.once('drain', resolve));
        }
        connection.endCopyFrom();
      } catch (err) {
        connection.sendCopyFail((err as Error).message);
      }
    })();
  }

  handleCommandComplete(msg: { text?: string }): void {
    this.rowCount = Number(/(\d+)$/.exec(msg.text ?? '')?.[1] ?? 0);
  }

  handleError(err: Error): void {
    this.error = err;
  }

  handleReadyForQuery(): void {
    this.callback?.(this.error);
    this.settle(this.error, this.rowCount);
  }

  // The rest of the protocol a COPY FROM never sees.
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}
}

/** Runs `copy ... from stdin` (text format) with the given chunks of COPY text; resolves with the row count. */
export async function copyFrom(client: pg.Client, text: string, chunks: Iterable<Buffer>): Promise<number> {
  const q = new CopyIn(text, chunks);
  (client as unknown as { query(q: CopyIn): unknown }).query(q);
  return q.done;
}

/** One field in COPY text format: backslash, tab, newline and carriage return escaped; null as \N. */
export function copyField(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '\\N';
  const s = String(v);
  return /[\\\t\n\r]/.test(s) ? s.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r') : s;
}

/** Joins lines into chunks of about `size` bytes, the way a COPY client would send them. */
export class ChunkWriter {
  readonly chunks: Buffer[] = [];
  private parts: string[] = [];
  private length = 0;
  bytes = 0;
  rows = 0;

  constructor(private readonly size = 1 << 20) {}

  line(fields: Array<string | number | null | undefined>): void {
    const text = `${fields.map(copyField).join('\t')}\n`;
    this.parts.push(text);
    this.length += text.length;
    this.rows++;
    if (this.length >= this.size) this.flush();
  }

  flush(): void {
    if (this.parts.length === 0) return;
    const buf = Buffer.from(this.parts.join(''), 'utf8');
    this.chunks.push(buf);
    this.bytes += buf.length;
    this.parts = [];
    this.length = 0;
  }
}
