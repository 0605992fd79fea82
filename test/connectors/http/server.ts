import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface TestServer {
  url: string;
  host: string;
  requests: SeenRequest[];
  /** Most requests in flight at once. */
  maxInFlight: number;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1; `handler` gets the 0-based request number. */
export async function startServer(
  handler: (req: IncomingMessage, res: ServerResponse, n: number, body: string) => unknown,
): Promise<TestServer> {
  let inFlight = 0;
  const state: Omit<TestServer, 'close'> & { close?: () => Promise<void> } = { url: '', host: '', requests: [], maxInFlight: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const n = state.requests.length;
      state.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, inFlight);
      let counted = true;
      const done = (): void => {
        if (counted) inFlight--;
        counted = false;
      };
      // 'finish' when the last byte is handed over; 'close' covers responses destroyed midway.
      res.on('finish', done);
      res.on('close', done);
      void Promise.resolve(handler(req, res, n, body)).catch((err: unknown) => {
        res.destroy(err instanceof Error ? err : new Error(String(err)));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  state.host = `127.0.0.1:${port}`;
  state.url = `http://${state.host}`;
  return Object.assign(state, {
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Records the delays asked for and returns at once. */
export function fakeSleep(): { sleep: (ms: number) => Promise<void>; sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    sleeps,
    sleep: async (ms: number) => {
      sleeps.push(ms);
    },
  };
}
