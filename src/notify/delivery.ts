import { ConfigError, TransientError } from '../errors.ts';
import { logger as rootLogger, type Logger } from '../log.ts';
import { redactSecrets } from '../secrets.ts';

/** Injectable time, so tests can prove waits without spending them. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface DeliveryOptions {
  /** Retries after the first attempt, for 429, 5xx and lost connections. Default 4. */
  maxRetries?: number;
  /** First backoff delay; doubles per retry, with jitter. Default 1000. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A longer Retry-After is handed to the job queue (TransientError.retryAfterMs) instead of blocking a worker. Default 60 s. */
  maxRetryAfterMs?: number;
  /** Minimum time between requests to one destination. Default 1000 (Slack: 1 message per second). */
  minIntervalMs?: number;
  timeoutMs?: number;
  clock?: Clock;
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

export function parseRetryAfter(header: unknown, now: number): number | undefined {
  if (typeof header !== 'string' || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, Math.round(seconds * 1000));
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

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
 * two closer than that). Retries honour Retry-After, else back off exponentially with jitter.
 */
export async function deliver(key: string, what: string, options: DeliveryOptions, attempt: () => Promise<Attempt>): Promise<void> {
  const clock = options.clock ?? realClock;
  const maxRetries = options.maxRetries ?? 4;
  const baseDelay = options.baseDelayMs ?? 1000;
  const maxDelay = options.maxDelayMs ?? 30_000;
  const maxRetryAfter = options.maxRetryAfterMs ?? 60_000;
  const interval = options.minIntervalMs ?? 1000;
  const log = options.logger;

  let gate = gates.get(key);
  if (!gate) {
    gate = { tail: Promise.resolve(), lastAt: Number.NEGATIVE_INFINITY };
    gates.set(key, gate);
  }
  const g = gate;

  const run = g.tail.then(async () => {
    for (let i = 0; ; i++) {
      const wait = g.lastAt + interval - clock.now();
      if (wait > 0) await clock.sleep(wait);
      let result: Attempt;
      try {
        result = await attempt();
      } finally {
        g.lastAt = clock.now();
      }
      if (result.kind === 'ok') return;
      if (result.kind === 'config') throw result.error;

      const delay = result.retryAfterMs ?? Math.min(maxDelay, baseDelay * 2 ** i) * (0.5 + Math.random() * 0.5);
      if (i >= maxRetries) {
        throw new TransientError(`${what} failed after ${i + 1} attempts: ${result.detail}`, { retryAfterMs: result.retryAfterMs });
      }
      if (delay > maxRetryAfter) {
        throw new TransientError(`${what} asked to wait ${Math.round(delay / 1000)} s: ${result.detail}`, { retryAfterMs: delay });
      }
      log?.warn({ destination: what, attempt: i + 1, retryInMs: Math.round(delay), problem: result.detail }, 'notification delivery failed; retrying');
      await clock.sleep(delay);
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
