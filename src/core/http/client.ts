import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import axios, { type AxiosResponse } from 'axios';
import { ConfigError, errorMessage, isTransientError } from '../errors.ts';
import { logger as rootLogger, type Logger } from '../log.ts';
import { redactSecrets } from '../secrets.ts';
import { linkSignals } from '../signals.ts';
import { readCapped, responseCapBytes, tooLargeMessage } from './body.ts';
import { HttpConfigError, HttpTransientError } from './errors.ts';
import { type RateLimit, Semaphore, TokenBucket } from './limits.ts';
import { apiErrorMessage, loggablePath, scrubText } from './redact.ts';
import { parseRetryAfter, sleep as systemSleep, SOURCE_REQUEST, withRetry, type RetryPolicy, type Sleep } from '../resilience/index.ts';
import { classifyStatus, networkErrorOutcome } from './status.ts';
import { countRequest, recordRateLimitHeaders } from '../request-meter.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';

export interface AuthProvider {
  /** Called before every attempt, so a refreshed token is picked up by the retry. */
  headers: (request: { method: HttpMethod; url: URL }) => Record<string, string> | Promise<Record<string, string>>;
  /**
   * Credentials sent as query parameters (an API key named `appid`, say). Their parameters are
   * redacted from every log line whatever their names, and replace any of the same name.
   */
  query?: () => Record<string, string>;
  /** Refreshes credentials after a 401; the request is then retried once. Whatever it throws is passed on. */
  onUnauthorized?: () => void | Promise<void>;
}

export interface ResponseInfo {
  method: HttpMethod;
  url: URL;
  status: number;
  /** Lower-case names. */
  headers: Readonly<Record<string, string>>;
  /** Parsed JSON when the body parses, otherwise the text. */
  data: unknown;
}

export type Verdict = 'ok' | 'retry' | 'config';

/** `undefined` falls back to the status-code rules. */
export type Classification = Verdict | { verdict: Verdict; retryAfterMs?: number; message?: string } | undefined;

/** For APIs that report errors in a 200 body or through their own codes (Meta, Google Ads). */
export type Classify = (response: ResponseInfo) => Classification;

export interface HttpClientOptions {
  /**
   * When set, every request and every redirect must stay on its origin (an upgrade from http
   * to https on the same host excepted), so headers and query parameters that carry credentials
   * never reach another host; without it, each request's own origin.
   */
  baseURL?: string;
  headers?: Record<string, string>;
  auth?: AuthProvider;
  /** Whole exchange, headers to last byte; default 30 s. */
  timeoutMs?: number;
  /** Largest response body accepted, in MB of 1 048 576 bytes (decompressed); default 32 (see body.ts). */
  maxResponseMb?: number | undefined;
  /** SOURCE_REQUEST (src/core/resilience/policies.ts) by default. */
  retry?: Partial<RetryPolicy>;
  /**
   * false: a 3xx is handed back as the answer instead of followed (a webhook, where a
   * redirected POST would turn into a GET and the message would be lost). Default true.
   */
  followRedirects?: boolean;
  /**
   * The URL's path is itself the credential (a Slack webhook): log lines and messages name
   * the host only.
   */
  credentialsInPath?: boolean;
  /** Requests in flight per host; default 4. */
  concurrency?: number;
  /** Per host; none by default. */
  rateLimit?: RateLimit;
  classify?: Classify;
  logger?: Logger;
  /** Added to log lines, e.g. the connector's name. */
  name?: string;
  signal?: AbortSignal;
  sleep?: Sleep;
  random?: () => number;
  now?: () => number;
}

export type QueryValue = string | number | boolean | readonly (string | number | boolean)[] | undefined;

export interface HttpRequest {
  method?: HttpMethod;
  /** Relative to baseURL, or absolute. */
  url: string;
  query?: Record<string, QueryValue>;
  headers?: Record<string, string>;
  /** Objects are sent as JSON; strings, buffers and URLSearchParams as they are. */
  body?: unknown;
  /**
   * 'json' (default) treats a 2xx body that does not parse as a truncated response. 'stream'
   * hands a 2xx body over unread as an async iterable of chunks (see StreamedBody); other
   * answers are read and judged as JSON.
   */
  responseType?: 'json' | 'text' | 'stream';
  timeoutMs?: number;
  maxRetries?: number;
  classify?: Classify;
  signal?: AbortSignal;
}

export type RequestOptions = Omit<HttpRequest, 'url' | 'method' | 'body'>;

export interface HttpResponse<T> {
  status: number;
  headers: Readonly<Record<string, string>>;
  data: T;
  requestId: string;
  attempts: number;
}

export interface HttpStats {
  /** Attempts sent, retries included. */
  requests: number;
  retries: number;
  /** Calls that ended in an error. */
  failures: number;
  /** Keyed by status code, or 'timeout', 'network', 'cancelled'. */
  byStatus: Record<string, number>;
}

export interface HttpClient {
  request<T = unknown>(request: HttpRequest): Promise<HttpResponse<T>>;
  get<T = unknown>(url: string, options?: RequestOptions): Promise<HttpResponse<T>>;
  post<T = unknown>(url: string, body: unknown, options?: RequestOptions): Promise<HttpResponse<T>>;
  readonly stats: Readonly<HttpStats>;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_CONCURRENCY = 4;
const MAX_REDIRECTS = 5;

type AttemptResult<T> = { response: HttpResponse<T> } | { unauthorized: string | undefined };

/** A response whose body has been read. */
interface Received {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  text: string;
  /** A 2xx body asked for as a stream, not read yet. */
  stream?: Readable;
}

/**
 * A 2xx body asked for with responseType 'stream': its chunks as they arrive, so an answer
 * of any length is handled in bounded memory. Iterate it to the end or break out of it: either
 * frees the connection. A stall of the request's timeout between two chunks (while the reader
 * waits, not while it works on a chunk) or a broken connection throws an HttpTransientError.
 */
export type StreamedBody = AsyncIterable<Buffer>;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * Credentials may go from `origin` to `target`: the same scheme, host and port, or the same
 * host upgraded from http to https. Not a subdomain, not a downgrade to plain http.
 */
function mayCarryCredentials(origin: URL, target: URL): boolean {
  if (target.origin === origin.origin) return true;
  return target.hostname === origin.hostname && origin.protocol === 'http:' && target.protocol === 'https:';
}

function redirectTarget(location: string, from: URL): URL | undefined {
  try {
    return new URL(location, from);
  } catch {
    return undefined;
  }
}

export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const policy: RetryPolicy = { ...SOURCE_REQUEST, ...options.retry };
  const sleep = options.sleep ?? systemSleep;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const log = (options.logger ?? rootLogger()).child({ component: 'http', ...(options.name ? { client: options.name } : {}) });
  const stats: HttpStats = { requests: 0, retries: 0, failures: 0, byStatus: {} };
  // One listener on the caller's signal for the whole client; each request in flight listens
  // on this one, which this client owns, so many requests at once are not mistaken for a leak.
  // (Linked with a signal that never aborts, so it is a new one even without a caller's.)
  const clientSignal = linkSignals(options.signal, new AbortController().signal).signal!;
  setMaxListeners(0, clientSignal);
  const count = (key: string): void => {
    stats.byStatus[key] = (stats.byStatus[key] ?? 0) + 1;
  };

  const maxResponseBytes = responseCapBytes(options.maxResponseMb);
  const home = options.baseURL ? new URL(options.baseURL) : undefined;
  const axiosInstance = axios.create({
    // We classify every status, read and parse bodies ourselves, so axios must do none of it:
    // the body comes as a stream that is counted as it arrives and dropped past the limit.
    validateStatus: () => true,
    responseType: 'stream',
    // Our own deadline covers the whole exchange; axios's only watches socket idleness.
    timeout: 0,
    // Redirects are followed here, where the origin of each hop is checked.
    maxRedirects: 0,
  });

  const semaphores = new Map<string, Semaphore>();
  const buckets = new Map<string, TokenBucket>();
  const semaphoreFor = (host: string): Semaphore => {
    let s = semaphores.get(host);
    if (!s) semaphores.set(host, (s = new Semaphore(options.concurrency ?? DEFAULT_CONCURRENCY)));
    return s;
  };
  const bucketFor = (host: string): TokenBucket | undefined => {
    if (!options.rateLimit) return undefined;
    let b = buckets.get(host);
    if (!b) buckets.set(host, (b = new TokenBucket(options.rateLimit, now)));
    return b;
  };

  // Concurrent 401s share one refresh instead of each rotating the token. A 401 to a request
  // sent before the last refresh finished is answered by a retry with the new credentials,
  // not another refresh: under load the 401s of one burst can arrive after the refresh.
  let refreshing: Promise<void> | undefined;
  let refreshes = 0;
  const refreshCredentials = (auth: AuthProvider): Promise<void> =>
    (refreshing ??= (async () => {
      try {
        await auth.onUnauthorized?.();
        refreshes++;
      } finally {
        refreshing = undefined;
      }
    })());

  async function request<T>(req: HttpRequest): Promise<HttpResponse<T>> {
    const method = req.method ?? 'GET';
    const credentialQuery = options.auth?.query?.() ?? {};
    const url = buildUrl(options.baseURL, req.url, req.query, credentialQuery);
    const credentialParams = new Set(Object.keys(credentialQuery));
    const host = url.host;
    const hidePath = options.credentialsInPath === true;
    const path = hidePath ? '[redacted]' : loggablePath(url, credentialParams);
    const what = hidePath ? `${method} ${host}` : `${method} ${host}${redactSecrets(url.pathname)}`;
    const origin = home ?? url;
    if (!mayCarryCredentials(origin, url)) {
      throw new HttpConfigError(
        `${what} goes to ${url.protocol}//${url.host}, not to ${origin.protocol}//${origin.host} where the connector's API is; credentials are only sent there, so the request was not made`,
      );
    }
    const requestId = randomUUID();
    const linked = linkSignals(clientSignal, req.signal);
    const signal = linked.signal;
    const classify = req.classify ?? options.classify;
    const responseType = req.responseType ?? 'json';
    const timeoutMs = req.timeoutMs ?? options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const body = encodeBody(req.body);
    const fields = { requestId, method, host, path };
    let attempts = 0;

    /** Set when a streamed body takes over the connection's slot, deadline and signal. */
    let handedOver = false;

    async function attemptOnce(): Promise<AttemptResult<T>> {
      const release = await semaphoreFor(host).acquire(signal);
      let keepSlot = false;
      try {
        const bucket = bucketFor(host);
        const wait = bucket?.reserve() ?? 0;
        if (wait > 0) {
          try {
            await sleep(wait, signal);
            signal?.throwIfAborted();
          } catch (err) {
            bucket?.refund();
            throw err;
          }
        }

        const attempt = ++attempts;
        stats.requests++;
        countRequest();
        const headers: Record<string, string> = {
          Accept: responseType === 'json' ? 'application/json' : '*/*',
          ...(body.contentType ? { 'Content-Type': body.contentType } : {}),
          ...options.headers,
          ...(options.auth ? await options.auth.headers({ method, url }) : {}),
          ...req.headers,
          'X-Request-Id': requestId,
        };
        const deadline = new AbortController();
        const requestSignal = linkSignals(signal, deadline.signal);
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          deadline.abort();
        }, timeoutMs);
        const started = performance.now();
        let response: Received;
        let keepDeadline = false;
        try {
          response = await exchange(headers, requestSignal.signal);
          if (response.stream) {
            const result = interpret<T>(response, attempt);
            if ('response' in result) {
              // The body is read by the caller: the slot, the deadline (now one between chunks)
              // and the signals stay with it until it is done.
              keepSlot = keepDeadline = handedOver = true;
              clearTimeout(timer);
              const stream = response.stream;
              let idle: NodeJS.Timeout | undefined;
              let armed = 0; // which arming a pending check belongs to
              const expire = (arming: number) => {
                // A loop kept busy by other work in this thread (another stream's commits, an
                // embedded database) fires timers before it reads the sockets: look again once
                // it has, and count data waiting in the stream as no stall.
                setImmediate(() => {
                  if (arming !== armed) return;
                  if (stream.readableLength > 0) {
                    idle = setTimeout(() => expire(arming), timeoutMs);
                    return;
                  }
                  timedOut = true;
                  deadline.abort();
                });
              };
              const body = streamedBody(stream, {
                arm: () => {
                  const arming = ++armed;
                  idle = setTimeout(() => expire(arming), timeoutMs);
                },
                disarm: () => {
                  armed++;
                  clearTimeout(idle);
                },
                timedOut: () => timedOut,
                done: () => {
                  clearTimeout(idle);
                  requestSignal.dispose();
                  linked.dispose();
                  release();
                },
              });
              result.response.data = body as T;
            } else response.stream.destroy();
            return result;
          }
        } catch (err) {
          const durationMs = Math.round(performance.now() - started);
          // Our own verdicts (a refused redirect, a body over the limit) are final as they are.
          if (err instanceof HttpConfigError && !signal?.aborted) {
            count(String(err.status));
            log.debug({ ...fields, status: err.status, durationMs, attempt, reason: err.message }, 'http request');
            throw err;
          }
          // The axios error holds the request config (headers, full URL): it never leaves this block.
          if (signal?.aborted) {
            count('cancelled');
            log.debug({ ...fields, status: 'cancelled', durationMs, attempt }, 'http request cancelled');
            throw signal.reason;
          }
          const detail = timedOut ? `timed out after ${timeoutMs} ms` : `failed: ${describeNetworkError(err)}`;
          count(timedOut ? 'timeout' : 'network');
          log.debug({ ...fields, status: timedOut ? 'timeout' : 'network', durationMs, attempt, reason: detail }, 'http request');
          const code = timedOut ? 'timeout' : networkCode(err);
          if (!timedOut && networkErrorOutcome(err) === 'config') {
            throw new HttpConfigError(`${what} ${detail}; check the connector's base URL and network settings`, undefined, code);
          }
          throw new HttpTransientError(`${what} ${detail}`, { code });
        } finally {
          if (!keepDeadline) {
            clearTimeout(timer);
            requestSignal.dispose();
          }
        }

        const durationMs = Math.round(performance.now() - started);
        count(String(response.status));
        recordRateLimitHeaders(response.headers);
        log.debug({ ...fields, status: response.status, durationMs, attempt }, 'http request');
        return interpret<T>(response, attempt);
      } finally {
        if (!keepSlot) release();
      }
    }

    /** The chunks of a streamed 2xx body; see StreamedBody. */
    async function* streamedBody(stream: Readable, o: { arm: () => void; disarm: () => void; timedOut: () => boolean; done: () => void }): AsyncGenerator<Buffer> {
      let chunks = 0;
      try {
        o.arm();
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          chunks++;
          o.disarm();
          yield chunk;
          o.arm();
        }
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (o.timedOut()) throw new HttpTransientError(`${what} stalled: no data for ${timeoutMs} ms after ${chunks} chunk${chunks === 1 ? '' : 's'}`, { code: 'timeout' });
        throw new HttpTransientError(`${what} broke off after ${chunks} chunk${chunks === 1 ? '' : 's'}: ${describeNetworkError(err)}`, { code: networkCode(err) });
      } finally {
        stream.destroy();
        o.done();
      }
    }

    /**
     * Sends the request, follows redirects that stay on the origin (the credentials go along,
     * so any other is refused: see refusedRedirect) and reads the body up to the size limit.
     */
    async function exchange(headers: Record<string, string>, requestSignal: AbortSignal | undefined): Promise<Received> {
      let current = url;
      let hopMethod: HttpMethod = method;
      let data = body.data;
      for (let hops = 0; ; hops++) {
        const response: AxiosResponse<Readable> = await axiosInstance.request({ method: hopMethod, url: current.href, headers, data, signal: requestSignal });
        const status = response.status;
        const responseHeaders = plainHeaders(response.headers);
        const location = responseHeaders.location;
        if (location !== undefined && REDIRECT_STATUSES.has(status) && options.followRedirects !== false) {
          response.data.destroy();
          const target = redirectTarget(location, current);
          if (!target || !mayCarryCredentials(origin, target)) throw refusedRedirect(status, target);
          if (hops >= MAX_REDIRECTS) throw new HttpConfigError(`${what} was redirected more than ${MAX_REDIRECTS} times; check the connector's URL`, status);
          log.debug({ ...fields, status, to: hidePath ? '[redacted]' : loggablePath(target, credentialParams) }, 'http redirect');
          // As browsers do: 303 always, and 301/302 after a POST, continue as a GET without the body.
          if (status === 303 || ((status === 301 || status === 302) && hopMethod === 'POST')) {
            hopMethod = 'GET';
            data = undefined;
            headers = Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'content-type'));
          }
          current = target;
          continue;
        }
        if (responseType === 'stream' && status >= 200 && status < 300) {
          return { status, headers: responseHeaders, text: '', stream: response.data };
        }
        // A HEAD or 304 answer's Content-Length is that of a body it does not send.
        const declared = hopMethod === 'HEAD' || status === 304 ? undefined : responseHeaders['content-length'];
        const text = await readCapped(response.data, declared, maxResponseBytes);
        if (text === undefined) throw tooLarge(status);
        return { status, headers: responseHeaders, text };
      }
    }

    /**
     * Chosen: refuse, rather than follow without the credentials. Our sources are JSON APIs on
     * one host; a redirect elsewhere means the API moved (or someone is in the way), and
     * following it bare would end in a puzzling 401 from the other host at best, and at worst
     * in reading whatever that host serves into the warehouse.
     */
    function refusedRedirect(status: number, target: URL | undefined): HttpConfigError {
      const where = target ? `to ${target.protocol}//${target.host}` : 'to an unreadable Location';
      return new HttpConfigError(
        `${what} was redirected (HTTP ${status}) ${where}; credentials are only sent to ${origin.protocol}//${origin.host}, so the redirect was not followed: if the API moved, point the connector's URL at its new address`,
        status,
      );
    }

    function tooLarge(status: number): HttpConfigError {
      return new HttpConfigError(tooLargeMessage(options.name, what, maxResponseBytes), status);
    }

    function interpret<U>(response: Received, attempt: number): AttemptResult<U> {
      const { status, headers, text } = response;
      const json = response.stream ? ({ ok: true, value: undefined } as const) : parseJson(text);
      const is2xx = status >= 200 && status < 300;
      if (is2xx && responseType !== 'text' && !json.ok) {
        // Chosen: transient. A 2xx whose JSON does not parse is nearly always a body cut off
        // by a proxy or a dropped connection, which a retry fixes; a source that keeps
        // answering non-JSON runs out of retries and the message says what came back.
        const type = headers['content-type'];
        throw new HttpTransientError(
          `${what} returned HTTP ${status} with a body that is not valid JSON (${text.length} bytes${type ? `, ${type}` : ''}); treated as truncated`,
          { status },
        );
      }
      const parsed = json.ok ? json.value : text;
      const data = responseType === 'text' ? text : parsed;
      const custom = normalize(classify?.({ method, url, status, headers, data }));
      const outcome = custom?.verdict ?? classifyStatus(status);
      const apiMessage = custom?.message !== undefined ? scrubText(custom.message) : apiErrorMessage(parsed, headers['content-type']);
      const suffix = apiMessage ? `: ${apiMessage}` : '';

      switch (outcome) {
        case 'ok':
          return { response: { status, headers, data: data as U, requestId, attempts: attempt } };
        case 'unauthorized':
          return { unauthorized: apiMessage };
        case 'retry':
          throw new HttpTransientError(`${what} returned HTTP ${status}${suffix}`, {
            status,
            retryAfterMs: custom?.retryAfterMs ?? parseRetryAfter(headers['retry-after'], now()),
          });
        case 'config':
          if (status === 401 || status === 403) throw credentialsRejected(host, status, apiMessage);
          throw new HttpConfigError(
            `${host} rejected ${what} (HTTP ${status})${suffix}; check the connector's configuration (field names, account or property ids)`,
            status,
          );
      }
    }

    try {
      return await withRetry(
        async () => {
          let refreshed = false;
          for (;;) {
            const sentAfter = refreshes;
            const result = await attemptOnce();
            if ('response' in result) return result.response;
            const auth = options.auth;
            if (refreshed || !auth?.onUnauthorized) throw credentialsRejected(host, 401, result.unauthorized);
            refreshed = true;
            stats.retries++;
            if (refreshes !== sentAfter) {
              log.info({ ...fields, status: 401, attempt: attempts }, 'credentials were refreshed while this request was out; retrying once');
              continue;
            }
            log.info({ ...fields, status: 401, attempt: attempts }, 'refreshing credentials after 401, retrying once');
            await refreshCredentials(auth);
          }
        },
        {
          policy,
          maxRetries: req.maxRetries,
          sleep,
          random,
          signal,
          onRetry: ({ delayMs, error }) => {
            stats.retries++;
            const status = error instanceof HttpTransientError ? error.status : undefined;
            // Throttling is expected and self-correcting; anything else is worth noticing.
            const level = status === 429 ? 'info' : 'warn';
            log[level]({ ...fields, status: status ?? 'network', attempt: attempts, delayMs, reason: errorMessage(error) }, 'retrying http request');
          },
        },
      );
    } catch (err) {
      stats.failures++;
      if (isTransientError(err)) {
        const { status, code } = err instanceof HttpTransientError ? err : { status: undefined, code: undefined };
        throw new HttpTransientError(`gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${err.message}`, {
          status,
          code,
          ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
          cause: err,
        });
      }
      throw err;
    } finally {
      if (!handedOver) linked.dispose();
    }
  }

  return {
    request,
    get: (url, opts) => request({ ...opts, method: 'GET', url }),
    post: (url, body, opts) => request({ ...opts, method: 'POST', url, body }),
    stats,
  };
}

function credentialsRejected(host: string, status: number, apiMessage: string | undefined): HttpConfigError {
  return new HttpConfigError(
    `credentials were rejected by ${host} (HTTP ${status}${apiMessage ? `: ${apiMessage}` : ''}); check the connector's credentials`,
    status,
  );
}

function buildUrl(baseURL: string | undefined, path: string, query: Record<string, QueryValue> | undefined, credentials: Record<string, string>): URL {
  const absolute = /^[a-z][a-z\d+.-]*:\/\//i.test(path);
  if (!absolute && !baseURL) throw new ConfigError(`HTTP request to relative URL ${scrubText(path)} needs a baseURL`);
  const href = absolute || !baseURL ? path : path ? `${baseURL.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}` : baseURL;
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    throw new ConfigError(`invalid URL ${scrubText(href)}`);
  }
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(key, String(item));
  }
  for (const [key, value] of Object.entries(credentials)) url.searchParams.set(key, value);
  return url;
}

function encodeBody(body: unknown): { data?: string | Uint8Array; contentType?: string } {
  if (body === undefined) return {};
  if (typeof body === 'string') return { data: body, contentType: 'text/plain; charset=utf-8' };
  if (body instanceof Uint8Array) return { data: body, contentType: 'application/octet-stream' };
  if (body instanceof URLSearchParams) return { data: body.toString(), contentType: 'application/x-www-form-urlencoded' };
  return { data: JSON.stringify(body), contentType: 'application/json' };
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  if (text.trim() === '') return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function plainHeaders(headers: AxiosResponse['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
    if (value === undefined || value === null) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

function normalize(result: Classification): { verdict: Verdict; retryAfterMs?: number; message?: string } | undefined {
  return typeof result === 'string' ? { verdict: result } : result;
}

function networkCode(err: unknown): string | undefined {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** Code and message only: axios errors also carry the request's headers and full URL. */
function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return scrubText(String(err));
  const code = (err as { code?: unknown }).code;
  const message = scrubText(err.message);
  return typeof code === 'string' && !message.includes(code) ? `${code} ${message}` : message;
}
