import { errorMessage, isConfigError, isTransientError } from '../core/errors.ts';
import { backoffDelay, REDELIVERY, withinCap } from '../core/resilience/index.ts';
import { redactSecrets } from '../core/secrets.ts';

/**
 * The one loop that decides whether a notification or digest is sent again: the outbox's
 * (and digest_sends'), across deliveries, by the alerting settings. A channel's own quick
 * retries end within one delivery and hand over what the destination asked for.
 */
export interface RedeliveryPolicy {
  maxAttempts: number;
  /** The longest Retry-After obeyed; a destination asking for more gets the delivery marked failed. */
  maxRetryAfterMs: number;
}

export type RetryVerdict = { retry: true; delayMs: number; error: string } | { retry: false; error: string };

function waitText(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

/**
 * Whether a delivery that failed with `err` on its `attempts`-th attempt is tried again, and
 * after how long: the wait the destination asked for, else REDELIVERY's backoff (30 s
 * doubling to an hour). Not retried: a ConfigError; the last attempt; and a destination
 * asking to wait longer than the policy allows (Slack answering 429 with Retry-After:
 * 31536000), which would otherwise put the notification off for a year where nobody sees it.
 */
export function retryVerdict(err: unknown, attempts: number, policy: RedeliveryPolicy, random: () => number = Math.random): RetryVerdict {
  const error = redactSecrets(errorMessage(err));
  if (isConfigError(err)) return { retry: false, error };
  const asked = isTransientError(err) && err.retryAfterMs !== undefined ? withinCap(err.retryAfterMs, policy.maxRetryAfterMs) : undefined;
  if (asked && 'tooLong' in asked) {
    return { retry: false, error: `gave up: asked to wait ${waitText(asked.tooLong)}, longer than alerting.maxRetryAfter (${waitText(policy.maxRetryAfterMs)}): ${error}` };
  }
  if (attempts >= policy.maxAttempts) return { retry: false, error: `gave up after ${attempts} attempts: ${error}` };
  const delayMs = asked?.wait ?? backoffDelay(attempts, REDELIVERY, random);
  return { retry: true, delayMs, error };
}
