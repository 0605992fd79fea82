import { isTransientError, type TransientError } from '../../../errors.ts';

/** Retry policy shared by the HTTP client and the Google connectors (which use googleapis). */

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export interface RetryPolicy {
  /** Retries after the first attempt; 5 means up to 6 attempts. */
  maxRetries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Upper bound on any Retry-After we honour, so one header cannot park a job for hours. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = {
  maxRetries: 5,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  maxRetryAfterMs: 120_000,
};

export interface RetryInfo {
  /** The retry about to happen, 1-based. */
  retry: number;
  delayMs: number;
  error: TransientError;
}

export interface RetryOptions extends Partial<RetryPolicy> {
  sleep?: Sleep;
  random?: () => number;
  signal?: AbortSignal;
  onRetry?: (info: RetryInfo) => void;
}

export const realSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Exponential backoff with full jitter: uniform in [0, min(max, base * 2^(retry-1))). */
export function backoffDelay(retry: number, policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}

/** Retry-After in either form (delta seconds or HTTP-date), as milliseconds from `now`. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1_000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export type StatusOutcome = 'ok' | 'retry' | 'unauthorized' | 'config';

/**
 * 403 is a credentials problem here; APIs that signal quota with 403 (some older Google
 * APIs) say so through the client's `classify` hook.
 */
export function classifyStatus(status: number): StatusOutcome {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  if (status === 401) return 'unauthorized';
  return 'config';
}

// Failures no retry can fix: the host does not resolve, TLS does not verify, the URL is bad.
const PERMANENT_NETWORK_CODE =
  /^(ENOTFOUND|ERR_INVALID_URL|ERR_INVALID_PROTOCOL|ERR_FR_TOO_MANY_REDIRECTS|ERR_TLS_.*|ERR_SSL_.*|CERT_.*|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_.*)$/;

/**
 * What to do about a request that got no response. Lost connections (ECONNRESET,
 * ECONNREFUSED, ETIMEDOUT, socket hang up, aborted streams, ...) are retried; so is anything
 * unrecognised, since it has not been shown to be permanent.
 */
export function networkErrorOutcome(err: unknown): 'retry' | 'config' {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && PERMANENT_NETWORK_CODE.test(code) ? 'config' : 'retry';
}

/**
 * Runs `attempt` until it succeeds, throws something other than a TransientError, or the
 * retries run out; then the last error is rethrown unchanged. A TransientError's
 * retryAfterMs (capped) replaces the backoff delay.
 */
export async function withRetry<T>(attempt: (attemptNumber: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const policy = { ...DEFAULT_RETRY_POLICY, ...definedOnly(options) };
  const sleep = options.sleep ?? realSleep;
  const random = options.random ?? Math.random;
  const { signal } = options;
  for (let n = 1; ; n++) {
    signal?.throwIfAborted();
    try {
      return await attempt(n);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (!isTransientError(err) || n > policy.maxRetries) throw err;
      const delayMs =
        err.retryAfterMs !== undefined
          ? Math.min(err.retryAfterMs, policy.maxRetryAfterMs)
          : backoffDelay(n, policy, random);
      options.onRetry?.({ retry: n, delayMs, error: err });
      await sleep(delayMs, signal);
    }
  }
}

function definedOnly(options: RetryOptions): Partial<RetryPolicy> {
  const out: Partial<RetryPolicy> = {};
  for (const key of ['maxRetries', 'baseDelayMs', 'maxDelayMs', 'maxRetryAfterMs'] as const) {
    const value = options[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
