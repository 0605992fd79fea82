import { sleep, type Sleep } from './sleep.ts';

/**
 * Time as the code that waits sees it: the wall clock, waits, and timers. Everything that
 * waits takes one, so a test can prove a wait of an hour without spending it.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  sleep: Sleep;
  setTimeout(fire: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

/** What a retry loop or a rate gate needs: the time, and waiting. */
export type WaitingClock = Pick<Clock, 'now' | 'sleep'>;

/** What a timer that fires later needs: the time, and timers. */
export type TimerClock = Pick<Clock, 'now' | 'setTimeout' | 'clearTimeout'>;

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep,
  setTimeout: (fire, ms) => setTimeout(fire, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

export interface TestClock extends Clock {
  /** Every wait asked of sleep(), in order. */
  readonly sleeps: number[];
  /** Moves time on by `ms`, running each timer due on the way at its own time. */
  advance(ms: number): void;
  /** Timers set and not yet fired or cleared. */
  pending(): number;
}

/**
 * Virtual time for tests: sleep() records its wait and moves the clock on at once (an abort
 * that came first still rejects); timers fire only when advance() passes them.
 */
export function testClock(startMs = Date.UTC(2026, 0, 1)): TestClock {
  let t = startMs;
  let lastId = 0;
  const timers = new Map<number, { due: number; fire: () => void }>();
  const sleeps: number[] = [];
  const clock: TestClock = {
    sleeps,
    now: () => t,
    async sleep(ms, signal) {
      signal?.throwIfAborted();
      sleeps.push(ms);
      clock.advance(Math.max(0, ms));
    },
    setTimeout(fire, ms) {
      timers.set(++lastId, { due: t + Math.max(0, ms), fire });
      return lastId;
    },
    clearTimeout(timer) {
      timers.delete(timer as number);
    },
    advance(ms) {
      const end = t + ms;
      for (;;) {
        // The earliest due; among equals the first set (a Map keeps insertion order).
        let next: [number, { due: number; fire: () => void }] | undefined;
        for (const entry of timers) if (entry[1].due <= end && (!next || entry[1].due < next[1].due)) next = entry;
        if (!next) break;
        timers.delete(next[0]);
        t = next[1].due;
        next[1].fire();
      }
      t = end;
    },
    pending: () => timers.size,
  };
  return clock;
}
