import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import axios, { type AxiosResponse } from 'axios';
import { ConfigError, isTransientError } from '../../../errors.ts';
import { logger as rootLogger, type Logger } from '../../../log.ts';
import { redactSecrets } from '../../../secrets.ts';
import { linkSignals } from '../../../signals.ts';
import { HttpConfigError, HttpTransientError } from './errors.ts';
import { type RateLimit, Semaphore, TokenBucket } from './limits.ts';
import { apiErrorMessage, loggablePath, scrubText } from './redact.ts';
import {
  classifyStatus,
  DEFAULT_RETRY_POLICY,
  networkErrorOutcome,
  parseRetryAfter,
  realSleep,
  type RetryPolicy,
  type Sleep,
  withRetry,
} from './retry.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';

export interface AuthProvider {
  /** Called before every attempt, so a refreshed token is picked up by the retry. */
  headers: (request: { method: HttpMethod; url: URL }) => Record<string, string> | Promise<Record<string, string>>;
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
  baseURL?: string;
  headers?: Record<string, string>;
  auth?: AuthProvider;
  /** Whole exchange, headers to last byte; default 30 s. */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
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
  /** 'json' (default) treats a 2xx body that does not parse as a truncated response. */
  responseType?: 'json' | 'text';
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

type AttemptResult<T> = { response: HttpResponse<T> } | { unauthorized: string | undefined };

export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  const sleep = options.sleep ?? realSleep;
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

  const axiosInstance = axios.create({
    // We classify every status and parse bodies ourselves, so axios must do neither.
    validateStatus: () => true,
    responseType: 'text',
    transformResponse: [(data: unknown) => data],
    // Our own deadline covers the whole exchange; axios's only watches socket idleness.
    timeout: 0,
    maxRedirects: 5,
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
    const url = buildUrl(options.baseURL, req.url, req.query);
    const host = url.host;
    const path = loggablePath(url);
    const what = `${method} ${host}${redactSecrets(url.pathname)}`;
    const requestId = randomUUID();
    const linked = linkSignals(clientSignal, req.signal);
    const signal = linked.signal;
    const classify = req.classify ?? options.classify;
    const responseType = req.responseType ?? 'json';
    const timeoutMs = req.timeoutMs ?? options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const body = encodeBody(req.body);
    const fields = { requestId, method, host, path };
    let attempts = 0;

    async function attemptOnce(): Promise<AttemptResult<T>> {
      const release = await semaphoreFor(host).acquire(signal);
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
        let response: AxiosResponse<unknown>;
        try {
          response = await axiosInstance.request({
            method,
            url: url.href,
            headers,
            data: body.data,
            signal: requestSignal.signal,
          });
        } catch (err) {
          const durationMs = Math.round(performance.now() - started);
          // The axios error holds the request config (headers, full URL): it never leaves this block.
          if (signal?.aborted) {
            count('cancelled');
            log.debug({ ...fields, status: 'cancelled', durationMs, attempt }, 'http request cancelled');
            throw signal.reason;
          }
          const detail = timedOut ? `timed out after ${timeoutMs} ms` : `failed: ${describeNetworkError(err)}`;
          count(timedOut ? 'timeout' : 'network');
          log.debug({ ...fields, status: timedOut ? 'timeout' : 'network', durationMs, attempt, reason: detail }, 'http request');
          if (!timedOut && networkErrorOutcome(err) === 'config') {
            throw new HttpConfigError(`${what} ${detail}; check the connector's base URL and network settings`);
          }
          throw new HttpTransientError(`${what} ${detail}`);
        } finally {
          clearTimeout(timer);
          requestSignal.dispose();
        }

        const durationMs = Math.round(performance.now() - started);
        count(String(response.status));
        log.debug({ ...fields, status: response.status, durationMs, attempt }, 'http request');
        return interpret<T>(response, attempt);
      } finally {
        release();
      }
    }

    function interpret<U>(response: AxiosResponse<unknown>, attempt: number): AttemptResult<U> {
      const status = response.status;
      const headers = plainHeaders(response.headers);
      const text = typeof response.data === 'string' ? response.data : '';
      const json = parseJson(text);
      const is2xx = status >= 200 && status < 300;
      if (is2xx && responseType === 'json' && !json.ok) {
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
      const data = responseType === 'json' ? parsed : text;
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
          ...policy,
          ...(req.maxRetries !== undefined ? { maxRetries: req.maxRetries } : {}),
          sleep,
          random,
          signal,
          onRetry: ({ delayMs, error }) => {
            stats.retries++;
            const status = error instanceof HttpTransientError ? error.status : undefined;
            // Throttling is expected and self-correcting; anything else is worth noticing.
            const level = status === 429 ? 'info' : 'warn';
            log[level]({ ...fields, status: status ?? 'network', attempt: attempts, delayMs, reason: error.message }, 'retrying http request');
          },
        },
      );
    } catch (err) {
      stats.failures++;
      if (isTransientError(err)) {
        const status = err instanceof HttpTransientError ? err.status : undefined;
        throw new HttpTransientError(`gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${err.message}`, {
          status,
          ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
          cause: err,
        });
      }
      throw err;
    } finally {
      linked.dispose();
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

function buildUrl(baseURL: string | undefined, path: string, query: Record<string, QueryValue> | undefined): URL {
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

/** Code and message only: axios errors also carry the request's headers and full URL. */
function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return scrubText(String(err));
  const code = (err as { code?: unknown }).code;
  const message = scrubText(err.message);
  return typeof code === 'string' && !message.includes(code) ? `${code} ${message}` : message;
}
