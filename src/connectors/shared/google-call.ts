import { ConfigError, DataError, errorMessage, isConfigError, isTransientError, TransientError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { redactAndCut } from '../../core/secrets.ts';
import { googleTokenError } from './google-auth.ts';
import { cappedFetch, responseCapBytes, tooLargeMessage } from '../../core/http/body.ts';
import { scrubbedLine } from '../../core/http/redact.ts';
import { networkErrorOutcome, scrubText } from '../../core/http/index.ts';
import { parseRetryAfter, withRetry, type RetryPolicy, type Sleep } from '../../core/resilience/index.ts';

/**
 * Calls through a googleapis client (GA4, Search Console) with the same error kinds and retry
 * policy as the shared HTTP layer. The client itself refreshes the access token once on a 401
 * (forceRefreshOnFailure), so a 401 that still reaches us means the credentials are bad.
 *
 * Lives here rather than in shared/ because shared/ belongs to another folder; Search Console
 * imports it through ga4/index.ts.
 */

export interface GoogleCallOptions {
  /** Names the API in messages, e.g. "Google Analytics Data API". */
  service: string;
  log: Logger;
  signal: AbortSignal;
  timeoutMs: number;
  retry: Partial<RetryPolicy>;
  /** The connector's name and maxResponseMb, for the cap on response bodies (see http/body.ts). */
  connector?: string;
  maxResponseMb?: number | undefined;
  sleep?: Sleep;
  random?: () => number;
  now?: () => number;
}

/** What googleapis methods accept as their second argument; gaxios must not retry on its own. */
export interface GaxiosCallOptions {
  timeout: number;
  signal: AbortSignal;
  retry: false;
  /** Reads each body under the size cap. */
  fetchImplementation: typeof fetch;
}

interface GaxiosLikeError {
  name?: string;
  message?: string;
  code?: string | number;
  cause?: unknown;
  response?: { status?: number; data?: unknown; headers?: unknown };
}

const MAX_MESSAGE = 300;

/** gaxios marks its errors with this symbol, across its duplicated copies; their name is plain "Error". */
const GAXIOS_ERROR = Symbol.for('gaxios-gaxios-error');

function isGaxiosError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && GAXIOS_ERROR in err;
}

function headerOf(headers: unknown, name: string): string | undefined {
  if (!headers || typeof headers !== 'object') return undefined;
  const h = headers as { get?: (n: string) => string | null } & Record<string, unknown>;
  if (typeof h.get === 'function') return h.get(name) ?? undefined;
  const v = h[name];
  return typeof v === 'string' ? v : undefined;
}

/** "PERMISSION_DENIED: User does not have …" out of a google.rpc.Status body; never the request. */
function apiMessage(data: unknown): string {
  const error = data && typeof data === 'object' ? (data as { error?: unknown }).error : undefined;
  if (!error || typeof error !== 'object') return '';
  const { status, message } = error as { status?: unknown; message?: unknown };
  const text = [typeof status === 'string' ? status : '', typeof message === 'string' ? message : ''].filter(Boolean).join(': ');
  return redactAndCut(text, MAX_MESSAGE + 1, scrubbedLine);
}

/** Maps whatever a googleapis call threw to our three kinds; the gaxios error (which holds the request headers) is dropped. */
export function googleCallError(err: unknown, service: string, what: string, timeoutMs: number, signal: AbortSignal, now: () => number = Date.now): unknown {
  if (signal.aborted) return signal.reason ?? err;
  if (isConfigError(err) || isTransientError(err) || err instanceof DataError) return err;
  const e = (err ?? {}) as GaxiosLikeError;
  // gaxios wraps what its fetch threw (a body over the size cap) in an error of its own.
  if (isConfigError(e.cause)) return e.cause;
  const res = e.response;
  if (res && typeof res.status === 'number') {
    // OAuth errors are {error: "invalid_grant", …}: the token endpoint answered, not the API.
    if (res.data && typeof res.data === 'object' && typeof (res.data as { error?: unknown }).error === 'string') return googleTokenError(err);
    const status = res.status;
    const msg = apiMessage(res.data);
    const detail = `HTTP ${status}${msg ? ` ${msg}` : ''}`;
    if (status === 408 || status === 429 || status >= 500) {
      const retryAfterMs = parseRetryAfter(headerOf(res.headers, 'retry-after'), now());
      return new TransientError(`${service} ${what} failed (${detail})`, retryAfterMs === undefined ? undefined : { retryAfterMs });
    }
    if (status === 401) {
      return new ConfigError(`${service} rejected the credentials even after refreshing the access token (${detail}); re-authorize and update the secret named in the connector's auth block`);
    }
    if (status === 403) return new ConfigError(`${service} refused ${what} (${detail}); give the credentials' account access, or fix the id in the connector's config`);
    return new ConfigError(`${service} rejected ${what} (${detail}); check the connector's configuration`);
  }
  if (isGaxiosError(err) || e.name === 'AbortError' || e.name === 'TimeoutError') {
    const cause = e.cause ?? err;
    if (networkErrorOutcome(cause) === 'config' || networkErrorOutcome(err) === 'config') {
      const code = (cause as { code?: unknown }).code ?? e.code;
      return new ConfigError(`could not reach ${service} for ${what} (${String(code)}); check the connector's baseUrl and network settings`);
    }
    const timedOut = /timeout|timed out|aborted/i.test(`${e.message ?? ''} ${(cause as { name?: string }).name ?? ''}`);
    const reason = timedOut ? `timed out after ${timeoutMs} ms` : `failed: ${scrubText(String(e.code ?? e.message ?? 'network error'))}`;
    return new TransientError(`${service} ${what} ${reason}`);
  }
  // JWT grants report refusals as plain errors carrying the OAuth error code.
  const refused = err instanceof Error ? /\b(invalid_grant|invalid_client|unauthorized_client)\b/.exec(err.message) : null;
  if (refused) return new ConfigError(`Google refused the credentials (${refused[1]}): re-authorize and update the secret named in the connector's auth block`);
  return err;
}

/**
 * One googleapis call with retries: 429/5xx/timeouts/truncated bodies again with backoff
 * (honouring Retry-After), everything else at once as the right kind of error.
 */
export async function callGoogle<T extends object>(what: string, call: (options: GaxiosCallOptions) => Promise<{ data: T | string }>, o: GoogleCallOptions): Promise<T> {
  const now = o.now ?? Date.now;
  const limit = responseCapBytes(o.maxResponseMb);
  const fetchImplementation = cappedFetch(limit, (request) => new ConfigError(tooLargeMessage(o.connector, request, limit)));
  return withRetry(
    async () => {
      let data: T | string;
      try {
        ({ data } = await call({ timeout: o.timeoutMs, signal: o.signal, retry: false, fetchImplementation }));
      } catch (err) {
        throw googleCallError(err, o.service, what, o.timeoutMs, o.signal, now);
      }
      // gaxios hands back the text when a 2xx body does not parse: a cut-off response.
      if (typeof data !== 'object' || data === null) {
        throw new TransientError(`${o.service} ${what} returned a body that is not valid JSON (${typeof data === 'string' ? data.length : 0} bytes); treated as truncated`);
      }
      return data;
    },
    {
      ...o.retry,
      ...(o.sleep ? { sleep: o.sleep } : {}),
      ...(o.random ? { random: o.random } : {}),
      signal: o.signal,
      onRetry: ({ retry, delayMs, error }) => o.log.warn({ what, retry, delayMs, reason: errorMessage(error) }, `retrying ${o.service} request`),
    },
  );
}
