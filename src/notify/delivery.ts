import { ConfigError, TransientError, errorMessage, isTransientError } from '../core/errors.ts';
import { logger as rootLogger, type Logger } from '../core/log.ts';
import { CHANNEL_SEND, RetryAfterTooLong, systemClock, withRetry, type WaitingClock } from '../core/resilience/index.ts';
import { redactSecrets } from '../core/secrets.ts';

/** Within one delivery; CHANNEL_SEND (src/core/resilience/policies.ts) fills in what is not given. */
export interface DeliveryOptions {
  /** Retries after the first attempt, for 429, 5xx and lost connections. Default 4. */
  maxRetries?: number;
  /** First backoff delay; doubles per retry, with jitter. Default 1000. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /**
   * A longer Retry-After ends the delivery at once, failed for now with that wait
   * (TransientError.retryAfterMs), instead of blocking a worker: the outbox decides. Default 60 s.
   */
  maxRetryAfterMs?: number;
  /**
   * Longest one delivery may take, quick retries included; a retry that would end later is
   * left to the caller. The outbox sets half its claim timeout, so a delivery always ends
   * while its rows are still claimed and no other replica sends them meanwhile. No limit
   * besides maxRetries by default.
   */
  budgetMs?: number;
  /** Minimum time between requests to one destination. Default 1000 (Slack: 1 message per second). */
  minIntervalMs?: number;
  timeoutMs?: number;
  clock?: WaitingClock;
  logger?: Logger;
}

export type Attempt =
  | { kind: 'ok' }
  | { kind: 'retry'; detail: string; retryAfterMs?: number }
  | { kind: 'config'; error: ConfigError };

interface Gate {
  tail: Promise<unknown>;
  lastAt: number;
}

// Process-wide, keyed by destination: two channel objects for one webhook share its rate.
const gates = new Map<string, Gate>();

export function notifyLogger(given: Logger | undefined): Logger {
  return given ?? rootLogger().child({ component: 'notify' });
}

/** Removes registered secrets and the given destination-specific ones from text bound for a log or an error. */
export function scrub(text: string, secrets: string[]): string {
  let out = redactSecrets(text);
  for (const s of secrets) if (s) out = out.split(s).join('[redacted]');
  return out;
}

/**
 * Runs `attempt` until it succeeds, serialised per destination key and spaced by
 * minIntervalMs (measured from the end of the previous request, so the receiver never sees
 * two closer than that). Retries are the resilience loop's, by CHANNEL_SEND: Retry-After is
 * honoured up to maxRetryAfterMs, otherwise backoff with jitter. What is left failed is
 * thrown as a TransientError with the wait asked for, for the outbox to schedule.
 */
export async function deliver(key: string, what: string, options: DeliveryOptions, attempt: () => Promise<Attempt>): Promise<void> {
  const clock = options.clock ?? systemClock;
  const interval = options.minIntervalMs ?? 1000;
  const log = options.logger;

  let gate = gates.get(key);
  if (!gate) {
    gate = { tail: Promise.resolve(), lastAt: Number.NEGATIVE_INFINITY };
    gates.set(key, gate);
  }
  const g = gate;

  let attempts = 0;
  const once = async (): Promise<void> => {
    const wait = g.lastAt + interval - clock.now();
    if (wait > 0) await clock.sleep(wait);
    let result: Attempt;
    try {
      attempts++;
      result = await attempt();
    } finally {
      g.lastAt = clock.now();
    }
    if (result.kind === 'config') throw result.error;
    if (result.kind === 'retry') throw new TransientError(result.detail, { retryAfterMs: result.retryAfterMs });
  };

  const run = g.tail.then(async () => {
    try {
      await withRetry(once, {
        ...(options.budgetMs !== undefined ? { stopBy: clock.now() + options.budgetMs, now: () => clock.now() } : {}),
        policy: CHANNEL_SEND,
        maxRetries: options.maxRetries,
        baseDelayMs: options.baseDelayMs,
        maxDelayMs: options.maxDelayMs,
        maxRetryAfterMs: options.maxRetryAfterMs,
        sleep: clock.sleep,
        beyondCap: 'give-up',
        onRetry: ({ retry, delayMs, error }) =>
          log?.warn({ destination: what, attempt: retry, retryInMs: Math.round(delayMs), problem: errorMessage(error) }, 'notification delivery failed; retrying'),
      });
    } catch (err) {
      if (err instanceof RetryAfterTooLong) {
        throw new TransientError(`${what} asked to wait ${Math.round(err.retryAfterMs! / 1000)} s: ${err.message}`, { retryAfterMs: err.retryAfterMs });
      }
      if (isTransientError(err)) throw new TransientError(`${what} failed after ${attempts} attempts: ${err.message}`, { retryAfterMs: err.retryAfterMs });
      throw err;
    }
  });
  // A failure must not stop the next message to the same destination.
  g.tail = run.catch(() => undefined);
  return run;
}

/** Remembers recently delivered outbox ids, so a job retried after a partial success does not post twice. */
export class RecentIds {
  private readonly ids = new Set<string>();
  private readonly max: number;

  constructor(max = 1000) {
    this.max = max;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.max) {
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
  }
}
