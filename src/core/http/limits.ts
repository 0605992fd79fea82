/** Per-host limits. Both are in-process: several worker processes each get their own share. */

export class Semaphore {
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  private readonly limit: number;

  constructor(limit: number) {
    if (!(limit >= 1)) throw new RangeError(`concurrency limit must be at least 1, got ${limit}`);
    this.limit = limit;
  }

  /** Resolves with a release function once a slot is free. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.active < this.limit) {
      this.active++;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason);
      };
      const waiter = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      // The slot passes straight to the next waiter, so `active` stays the same.
      if (next) next();
      else this.active--;
    };
  }
}

export interface RateLimit {
  requests: number;
  per: 'second' | 'minute';
  /** Requests allowed back to back before spacing starts; default 1 (evenly spaced). */
  burst?: number;
}

/**
 * Token bucket that hands out reservations instead of polling: each caller learns at once
 * how long to wait, so an injected fake sleep never makes it spin.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly perMs: number;
  private readonly capacity: number;
  private readonly now: () => number;

  constructor(limit: RateLimit, now: () => number) {
    if (!(limit.requests > 0)) throw new RangeError(`rate limit must be positive, got ${limit.requests}`);
    this.perMs = limit.requests / (limit.per === 'second' ? 1_000 : 60_000);
    this.capacity = Math.max(1, limit.burst ?? 1);
    this.now = now;
    this.tokens = this.capacity;
    this.last = now();
  }

  /** Takes one token and returns the milliseconds to wait before it may be used. */
  reserve(): number {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + Math.max(0, t - this.last) * this.perMs);
    this.last = t;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil(-this.tokens / this.perMs);
  }

  /** Gives back a token whose request was cancelled before it was sent. */
  refund(): void {
    this.tokens = Math.min(this.capacity, this.tokens + 1);
  }
}
