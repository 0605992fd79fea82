import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The shared skeleton of every fake: an HTTP server on 127.0.0.1 that logs each request,
 * applies the faults a test has queued, checks the credential the way the real API does, and
 * only then lets the fake's own handler answer.
 */

/**
 * 'empty' answers 200 with the records left out (an outage page, a permission change that
 * hides an account); 'shrink' keeps every third record (two thirds of the campaigns gone).
 */
export type FaultKind = '429' | '500' | '503' | 'hang' | 'malformed' | 'typeChange' | 'expiredToken' | 'revokedToken' | 'forbidden' | 'empty' | 'shrink';

export interface Fault {
  kind: FaultKind;
  /** Matching requests it affects before it is used up; default 1 (revokedToken and forbidden: until removed). */
  times?: number;
  /** Only requests whose path contains this string, or matches this pattern. */
  path?: string | RegExp;
  /** Let this many matching requests through first (e.g. fail the third page). */
  after?: number;
  /** 429: seconds sent in Retry-After (and in the API's own retry hint where it has one). */
  retryAfterSec?: number;
  /** typeChange: dot path into the response body, e.g. 'rows.0.metricValues.0.value'; default: the fake's first metric. */
  field?: string;
  /** typeChange: send an object ({ value }) or a non-numeric string instead; default 'object'. */
  to?: 'object' | 'string';
  /** A source's own variant of the error, e.g. Meta's rate-limit code 4, 17 or 80000. */
  code?: number;
}

export interface LoggedRequest {
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  at: Date;
  /** Status sent back; absent while (or because) the request hangs. */
  status?: number;
  /** The fault that hit this request, if any. */
  fault?: FaultKind;
}

export interface FakeRequest {
  method: string;
  url: URL;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON, or a record for form bodies, or the raw text; undefined when empty or unparseable JSON. */
  body: unknown;
  rawBody: string;
  /** True when the body claimed to be JSON but did not parse. */
  badJson: boolean;
  /** The credential the request carried, once auth has looked at it. */
  credential?: string;
  /** The fault applied to this request, so handlers with their own auth (the token endpoint) can act on it. */
  fault?: Fault;
  /** The server's own base URL, for building next-page links. */
  baseUrl: string;
}

export interface FakeResponse {
  status: number;
  headers?: Record<string, string>;
  /** Serialised as JSON unless `text` is given. */
  body?: unknown;
  text?: string;
  /** A binary body (a zipped report), sent as it is. */
  bytes?: Buffer;
}

export type ErrorKind =
  | 'rateLimited'
  | 'internal'
  | 'unavailable'
  | 'missingCredentials'
  | 'invalidCredentials'
  | 'expiredCredentials'
  | 'revokedCredentials'
  | 'forbidden';

export interface FakeApi {
  name: string;
  /** Pulls the credential the API expects out of a request; undefined when absent. */
  credential(req: FakeRequest): string | undefined;
  /** The API's own response for each kind of failure. */
  error(kind: ErrorKind, req: FakeRequest, fault?: Fault): FakeResponse;
  handle(req: FakeRequest): FakeResponse | Promise<FakeResponse>;
  /** Routes that do their own auth (the token endpoint). */
  isPublic?(req: FakeRequest): boolean;
  /** Where typeChange strikes by default: a dot path into a successful body. */
  typeChangePath?(body: unknown): string | undefined;
  /** Headers added to every response, errors included (usage counters and the like). */
  headers?(req: FakeRequest, res: FakeResponse): Record<string, string>;
}

type CredentialState = 'ok' | 'missing' | 'invalid' | 'expired' | 'revoked';

/** The tokens or keys an API accepts. Google fakes share one with the token endpoint. */
export class CredentialStore {
  private readonly valid = new Map<string, number>();
  private readonly expired = new Set<string>();
  private readonly revoked = new Set<string>();
  private readonly revocations: Array<(credential: string) => boolean> = [];

  constructor(initial: Iterable<string> = []) {
    for (const c of initial) this.add(c);
  }

  /** Accept `credential`, for `ttlSec` seconds when given. */
  add(credential: string, ttlSec?: number): void {
    this.valid.set(credential, ttlSec === undefined ? Number.POSITIVE_INFINITY : Date.now() + ttlSec * 1000);
    this.expired.delete(credential);
    this.revoked.delete(credential);
  }

  expire(credential: string): void {
    this.expired.add(credential);
  }

  revoke(credential: string): void {
    this.revoked.add(credential);
  }

  /** Also revoked: every credential `test` names, asked on each request (tokens of a grant a person withdrew). */
  revokeWhen(test: (credential: string) => boolean): void {
    this.revocations.push(test);
  }

  check(credential: string | undefined): CredentialState {
    if (!credential) return 'missing';
    if (this.revoked.has(credential) || this.revocations.some((test) => test(credential))) return 'revoked';
    const until = this.valid.get(credential);
    if (until === undefined) return 'invalid';
    if (this.expired.has(credential) || until <= Date.now()) return 'expired';
    return 'ok';
  }
}

export interface FakeServer<S> {
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  /** Every request received, oldest first. */
  readonly requests: LoggedRequest[];
  /** Push faults here at any time (clear with `faults.length = 0`); each is used up after `times` matching requests. */
  readonly faults: Fault[];
  /** The fake's knobs (page sizes, limits, …), read on every request: change them in place. */
  readonly settings: S;
  readonly credentials: CredentialStore;
  /**
   * Awaited before a request is answered when set: a test holds requests back to see what a
   * client sends meanwhile (how many it has in flight), whatever the machine's speed.
   */
  hold: ((req: FakeRequest) => Promise<void>) | null;
  close(): Promise<void>;
}

export function json(status: number, body: unknown, headers?: Record<string, string>): FakeResponse {
  return headers ? { status, body, headers } : { status, body };
}

const DEFAULT_TIMES: Partial<Record<FaultKind, number>> = { revokedToken: Number.POSITIVE_INFINITY, forbidden: Number.POSITIVE_INFINITY };

export async function startFakeServer<S>(api: FakeApi, settings: S, credentials: CredentialStore): Promise<FakeServer<S>> {
  const requests: LoggedRequest[] = [];
  const faults: Fault[] = [];
  let baseUrl = '';

  function takeFault(path: string): Fault | undefined {
    for (let i = 0; i < faults.length; i++) {
      const f = faults[i];
      if (!f) continue;
      if (f.path !== undefined && !(typeof f.path === 'string' ? path.includes(f.path) : f.path.test(path))) continue;
      if ((f.after ?? 0) > 0) {
        f.after = (f.after ?? 0) - 1;
        continue;
      }
      const left = (f.times ?? DEFAULT_TIMES[f.kind] ?? 1) - 1;
      if (left <= 0) faults.splice(i, 1);
      else f.times = left;
      return f;
    }
    return undefined;
  }

  async function answer(req: FakeRequest, log: LoggedRequest): Promise<FakeResponse | 'hang'> {
    const fault = takeFault(req.path);
    req.fault = fault;
    if (fault) log.fault = fault.kind;
    switch (fault?.kind) {
      case 'hang':
        return 'hang';
      case '429':
        return api.error('rateLimited', req, fault);
      case '500':
        return api.error('internal', req, fault);
      case '503':
        return api.error('unavailable', req, fault);
      default:
        break;
    }
    if (!api.isPublic?.(req)) {
      const credential = api.credential(req);
      req.credential = credential;
      let state = credentials.check(credential);
      if (fault?.kind === 'expiredToken' && state === 'ok' && credential) {
        credentials.expire(credential);
        state = 'expired';
      }
      if (fault?.kind === 'revokedToken') state = 'revoked';
      if (state !== 'ok') {
        const kind = ({ missing: 'missingCredentials', invalid: 'invalidCredentials', expired: 'expiredCredentials', revoked: 'revokedCredentials' } as const)[state];
        return api.error(kind, req, fault);
      }
      if (fault?.kind === 'forbidden') return api.error('forbidden', req, fault);
    }
    const res = await api.handle(req);
    if (res.status >= 300 || res.text !== undefined || res.bytes !== undefined) return res;
    if (fault?.kind === 'malformed') {
      const text = JSON.stringify(res.body);
      return { ...res, text: text.slice(0, Math.max(1, Math.floor(text.length / 2))) };
    }
    if (fault?.kind === 'empty' || fault?.kind === 'shrink') {
      const body: unknown = structuredClone(res.body);
      const records = longestArray(body);
      if (records) {
        const kept = fault.kind === 'empty' ? [] : records.filter((_, i) => i % 3 === 0);
        records.splice(0, records.length, ...kept);
      }
      return { ...res, body };
    }
    if (fault?.kind === 'typeChange') {
      const path = fault.field ?? api.typeChangePath?.(res.body);
      // Bodies may share objects with a fake's cache or the data set, so change a copy.
      const body: unknown = structuredClone(res.body);
      if (path) changeType(body, path, fault.to ?? 'object');
      return { ...res, body };
    }
    return res;
  }

  const fake: FakeServer<S> = {
    url: '',
    requests,
    faults,
    settings,
    credentials,
    hold: null,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };

  const server = http.createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (c: Buffer) => chunks.push(c));
    incoming.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const url = new URL(incoming.url ?? '/', baseUrl);
      const contentType = String(incoming.headers['content-type'] ?? '');
      let body: unknown;
      let badJson = false;
      if (rawBody.length > 0) {
        if (contentType.includes('application/x-www-form-urlencoded')) body = Object.fromEntries(new URLSearchParams(rawBody));
        else if (contentType.includes('json') || /^\s*[[{]/.test(rawBody)) {
          try {
            body = JSON.parse(rawBody);
          } catch {
            badJson = true;
          }
        } else body = rawBody;
      }
      const query: Record<string, string | string[]> = {};
      for (const key of new Set(url.searchParams.keys())) {
        const all = url.searchParams.getAll(key);
        query[key] = all.length === 1 ? (all[0] ?? '') : all;
      }
      const log: LoggedRequest = { method: incoming.method ?? 'GET', path: url.pathname, query, headers: incoming.headers, body, at: new Date() };
      requests.push(log);
      // Links point where the client reached us, as a real API behind a proxy builds them from its public host.
      const publicBase = typeof incoming.headers.host === 'string' && /^[\w.-]+(:\d+)?$/.test(incoming.headers.host) ? `http://${incoming.headers.host}` : baseUrl;
      const req: FakeRequest = { method: log.method, url, path: url.pathname, query: url.searchParams, headers: incoming.headers, body, rawBody, badJson, baseUrl: publicBase };

      Promise.resolve(fake.hold?.(req))
        .then(() => answer(req, log))
        .catch((err: unknown): FakeResponse => ({ status: 500, body: { error: `sandbox ${api.name} fake crashed: ${(err as Error).message}` } }))
        .then((res) => {
          // A hung request keeps its socket open until the client gives up or the fake closes.
          if (res === 'hang') return;
          const text = res.bytes ?? res.text ?? (res.body === undefined ? '' : JSON.stringify(res.body));
          const headers: Record<string, string> = {
            'content-type': 'application/json; charset=UTF-8',
            ...api.headers?.(req, res),
            ...res.headers,
            'content-length': String(Buffer.byteLength(text)),
          };
          log.status = res.status;
          outgoing.writeHead(res.status, headers);
          outgoing.end(text);
        });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  fake.url = baseUrl;
  return fake;
}

/** The body's records: its longest array, wherever it is nested. */
function longestArray(node: unknown): unknown[] | undefined {
  if (node === null || typeof node !== 'object') return undefined;
  let best: unknown[] | undefined = Array.isArray(node) ? node : undefined;
  for (const child of Object.values(node)) {
    const found = longestArray(child);
    if (found && (!best || found.length > best.length)) best = found;
  }
  return best;
}

function changeType(body: unknown, path: string, to: 'object' | 'string'): void {
  const keys = path.split('.');
  const last = keys.pop();
  let node: unknown = body;
  for (const k of keys) {
    if (node === null || typeof node !== 'object') return;
    node = (node as Record<string, unknown>)[k];
  }
  if (last === undefined || node === null || typeof node !== 'object' || !(last in node)) return;
  const target = node as Record<string, unknown>;
  target[last] = to === 'object' ? { value: target[last] } : 'n/a';
}

/** Query parameter as an integer, or the fallback when absent; NaN when present but not a number. */
/** Opaque cursors, like the real APIs hand out; they carry a row offset. */
export function encodeCursor(data: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(data)).toString('base64url');
}

export function decodeCursor(cursor: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function bearer(req: FakeRequest): string | undefined {
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^Bearer\s+(.+)$/i.exec(h.trim()) : null;
  return m?.[1];
}

/** Serves `compute` results from a one-entry cache, so paging through a big report stays cheap. */
export function lastResultCache<T>(): (key: string, compute: () => T) => T {
  let last: { key: string; value: T } | undefined;
  return (key, compute) => {
    if (last?.key !== key) last = { key, value: compute() };
    return last.value;
  };
}
