/** How a failed operation is tried again. Every retry in the service is one of these (policies.ts). */
export interface RetryPolicy {
  /** Retries after the first attempt: 5 means up to 6 attempts in all. */
  maxRetries: number;
  /** The ceiling of the first retry's delay. */
  baseDelayMs: number;
  /** No delay's ceiling grows past this. */
  maxDelayMs: number;
  /** How much the ceiling grows per retry: 2 doubles it. */
  factor: number;
  /**
   * Share of the ceiling that is random, 0 to 1: each delay is drawn from
   * [ceiling × (1 − jitter), ceiling]. 1 is "full jitter", 0.5 "equal jitter".
   */
  jitter: number;
  /**
   * The longest wait a server may ask for (Retry-After) that is obeyed. What happens past it
   * is the caller's to say (see withRetry's `beyondCap`); it never waits longer.
   */
  maxRetryAfterMs: number;
}

/**
 * The one backoff formula: an exponential ceiling, min(maxDelayMs, baseDelayMs × factor^(retry−1)),
 * and a delay drawn uniformly from its top `jitter` share. The ceiling bounds how long a
 * retry budget lasts; the jitter keeps the processes that failed together (every worker
 * behind one rate-limited API, every replica after one outage) from retrying in step. How
 * wide it is belongs to the policy, not the formula: full jitter where many clients share one
 * source, a narrow spread where a fixed budget must span an outage of known length.
 */
export function backoffDelay(
  retry: number,
  policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'> & Partial<Pick<RetryPolicy, 'factor' | 'jitter'>>,
  random: () => number = Math.random,
): number {
  const factor = policy.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, policy.jitter ?? 1));
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * factor ** Math.max(0, retry - 1));
  return Math.floor(ceiling * (1 - jitter + jitter * random()));
}
