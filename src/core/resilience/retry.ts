import { isTransientError, TransientError } from '../errors.ts';
import { backoffDelay, type RetryPolicy } from './backoff.ts';
import { withinCap } from './retry-after.ts';
import { SOURCE_REQUEST } from './policies.ts';
import { sleep as systemSleep, type Sleep } from './sleep.ts';

export interface RetryInfo {
  /** The retry about to happen, 1-based. */
  retry: number;
  delayMs: number;
  error: unknown;
}

/** `policy` (SOURCE_REQUEST by default) with the fields given here, undefined ones ignored. */
export interface RetryOptions extends Partial<RetryPolicy> {
  policy?: Readonly<RetryPolicy>;
  sleep?: Sleep;
  random?: () => number;
  signal?: AbortSignal;
  /** Whether a failure is worth another attempt; TransientErrors only by default. */
  retryable?: (err: unknown) => boolean;
  /**
   * A Retry-After (TransientError.retryAfterMs) past maxRetryAfterMs: 'cap' waits
   * maxRetryAfterMs and tries again (the full wait stays on the error, so whoever handles
   * the last one sees it); 'give-up' stops at once with RetryAfterTooLong.
   */
  beyondCap?: 'cap' | 'give-up';
  /**
   * A time (on `now`) the run must be over by: a wait that would end past it ends the run
   * instead, with the last error (and the wait it asked for), for an outer schedule to take up.
   */
  stopBy?: number;
  now?: () => number;
  onRetry?: (info: RetryInfo) => void;
}

/** A server asked to wait longer than the policy obeys; `cause` is its answer. */
export class RetryAfterTooLong extends TransientError {
  readonly attempts: number;

  constructor(cause: TransientError & { retryAfterMs: number }, attempts: number) {
    super(cause.message, { cause, retryAfterMs: cause.retryAfterMs });
    this.attempts = attempts;
  }
}

/**
 * The one retry loop. Runs `attempt` until it succeeds, fails with something not retryable,
 * or the retries run out; then the last error is rethrown unchanged. A wait the failure
 * asked for (TransientError.retryAfterMs) replaces the backoff delay, within the cap.
 * An abort stops it at once, with the signal's reason.
 */
export async function withRetry<T>(attempt: (attemptNumber: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const policy = policyOf(options);
  const wait = options.sleep ?? systemSleep;
  const random = options.random ?? Math.random;
  const retryable = options.retryable ?? isTransientError;
  const { signal } = options;
  for (let n = 1; ; n++) {
    signal?.throwIfAborted();
    try {
      return await attempt(n);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (!retryable(err) || n > policy.maxRetries) throw err;
      const asked = isTransientError(err) ? err.retryAfterMs : undefined;
      let delayMs = backoffDelay(n, policy, random);
      if (asked !== undefined) {
        const capped = withinCap(asked, policy.maxRetryAfterMs);
        if ('tooLong' in capped && options.beyondCap === 'give-up') throw new RetryAfterTooLong(err as TransientError & { retryAfterMs: number }, n);
        delayMs = 'wait' in capped ? capped.wait : policy.maxRetryAfterMs;
      }
      if (options.stopBy !== undefined && (options.now ?? Date.now)() + delayMs > options.stopBy) throw err;
      options.onRetry?.({ retry: n, delayMs, error: err });
      await wait(delayMs, signal);
    }
  }
}

/** Each field from the options, else from their policy, else from SOURCE_REQUEST: an undefined field never means "no limit". */
function policyOf(options: RetryOptions): RetryPolicy {
  const out = { ...SOURCE_REQUEST };
  for (const key of Object.keys(out) as Array<keyof RetryPolicy>) {
    const value = options[key] ?? options.policy?.[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
