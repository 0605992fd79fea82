import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, TransientError } from '../../src/core/errors.ts';
import {
  backoffDelay,
  CHANNEL_SEND,
  JOB_STEP,
  parseRetryAfter,
  REDELIVERY,
  RetryAfterTooLong,
  sleep,
  SOURCE_REQUEST,
  testClock,
  withinCap,
  withRetry,
  type RetryPolicy,
} from '../../src/core/resilience/index.ts';
import { jobBackoff } from '../../src/jobs/queues.ts';
import { failure } from '../helpers/async.ts';

const policy = (p: Partial<RetryPolicy> = {}): RetryPolicy => ({ ...SOURCE_REQUEST, ...p });

describe('backoff with jitter', () => {
  it('stays within [ceiling × (1 − jitter), ceiling] for any policy, retry and draw, the ceiling growing by the factor up to the maximum', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.double({ min: 1, max: 4, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 200 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (base, extra, factor, jitter, retry, draw) => {
          const p = { baseDelayMs: base, maxDelayMs: base + extra, factor, jitter };
          const ceiling = Math.min(p.maxDelayMs, base * factor ** (retry - 1));
          const delay = backoffDelay(retry, p, () => draw);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeLessThanOrEqual(ceiling);
          expect(delay).toBeGreaterThanOrEqual(Math.floor(ceiling * (1 - jitter)));
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('spans the whole range its jitter allows: the lowest draw gives the floor, the highest the ceiling', () => {
    const p = { baseDelayMs: 1_000, maxDelayMs: 60_000, factor: 2 };
    for (const [jitter, floors] of [
      [1, [0, 0, 0, 0, 0, 0, 0]],
      [0.5, [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000]],
      [0.25, [750, 1_500, 3_000, 6_000, 12_000, 24_000, 45_000]],
      [0, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000]],
    ] as const) {
      const retries = [1, 2, 3, 4, 5, 6, 7];
      expect(retries.map((n) => backoffDelay(n, { ...p, jitter }, () => 0))).toEqual(floors);
      // Just under the ceiling (whole milliseconds, rounded down); at jitter 0 the ceiling itself.
      const top = [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000].map((c) => (jitter === 0 ? c : c - 1));
      expect(retries.map((n) => backoffDelay(n, { ...p, jitter }, () => 1 - 1e-12))).toEqual(top);
    }
  });

  it('draws differently for processes that failed together (full jitter spreads over both halves of the range)', () => {
    const delays = Array.from({ length: 200 }, () => backoffDelay(4, { baseDelayMs: 1_000, maxDelayMs: 60_000, jitter: 1 }));
    expect(delays.some((d) => d < 4_000)).toBe(true);
    expect(delays.some((d) => d >= 4_000)).toBe(true);
  });

  it('the named policies keep the schedules the README promises', () => {
    // Notifications: 30 s, doubling to an hour, within a quarter below.
    expect(backoffDelay(1, REDELIVERY, () => 0)).toBe(22_500);
    expect(backoffDelay(8, REDELIVERY, () => 1 - 1e-12)).toBe(3_599_999);
    expect(backoffDelay(20, REDELIVERY, () => 0)).toBe(2_700_000);
    // Jobs: five attempts from 10 s wait at least 112.5 s together, so they span an outage.
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, JOB_STEP, () => 0)).reduce((a, b) => a + b)).toBe(112_500);
    // Within one Slack delivery: 1 s, 2 s, 4 s ... at least half of each.
    expect([1, 2, 3].map((n) => backoffDelay(n, CHANNEL_SEND, () => 0))).toEqual([500, 1_000, 2_000]);
  });

  it('BullMQ retries with the same formula, from the first delay the job was queued with', () => {
    const job = { opts: { backoff: { type: 'resilience', delay: 10_000 } } } as unknown as Parameters<typeof jobBackoff>[3];
    const draws = Array.from({ length: 500 }, () => jobBackoff(3, 'resilience', new Error('x'), job) as number);
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(30_000);
    expect(Math.max(...draws)).toBeLessThanOrEqual(40_000);
    // Capped at an hour, whatever jobs.attempts says.
    expect(jobBackoff(30, 'resilience', new Error('x'), job)).toBeLessThanOrEqual(3_600_000);
  });
});

describe('Retry-After', () => {
  const now = Date.UTC(2026, 2, 1, 12, 0, 0);

  it('reads delay-seconds and HTTP-dates, and nothing else', () => {
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('31536000', now)).toBe(31_536_000_000);
    expect(parseRetryAfter('7.0', now)).toBe(7_000);
    expect(parseRetryAfter('Sun, 01 Mar 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter(new Date(now + 90_000).toUTCString(), now)).toBe(90_000);
    // A date already past means "now", not a negative wait.
    expect(parseRetryAfter('Sun, 01 Mar 2026 11:00:00 GMT', now)).toBe(0);
    for (const bad of ['', '  ', 'soon', '1e3', '0x10', 'Infinity', 'NaN', `1${'0'.repeat(400)}`, undefined, null, 120]) expect(parseRetryAfter(bad, now)).toBeUndefined();
    // A date far off is a wait, however long: the cap is what refuses it.
    expect(parseRetryAfter('Fri, 31 Dec 9999 23:59:59 GMT', now)).toBe(Date.UTC(9999, 11, 31, 23, 59, 59) - now);
  });

  it('tells the caller when a wait is past its cap instead of handing it over', () => {
    expect(withinCap(60_000, 60_000)).toEqual({ wait: 60_000 });
    expect(withinCap(60_001, 60_000)).toEqual({ tooLong: 60_001 });
    expect(withinCap(parseRetryAfter('31536000', now)!, REDELIVERY.maxRetryAfterMs)).toEqual({ tooLong: 31_536_000_000 });
  });
});

describe('withRetry', () => {
  const transient = (retryAfterMs?: number) => new TransientError('busy', retryAfterMs === undefined ? undefined : { retryAfterMs });

  it('obeys a Retry-After within the cap to the millisecond, otherwise backs off', async () => {
    const clock = testClock();
    let calls = 0;
    const value = await withRetry(
      async () => {
        if (++calls === 1) throw transient(4_321);
        if (calls === 2) throw transient();
        return 'ok';
      },
      { policy: policy({ baseDelayMs: 100, maxDelayMs: 1_000 }), sleep: clock.sleep, random: () => 0.5 },
    );
    expect(value).toBe('ok');
    expect(clock.sleeps).toEqual([4_321, 100]);
  });

  it('past the cap waits the cap ("cap"), or stops at once and says so ("give-up")', async () => {
    const clock = testClock();
    let calls = 0;
    await withRetry(async () => (++calls === 1 ? Promise.reject(transient(3_600_000)) : 'ok'), { maxRetryAfterMs: 60_000, sleep: clock.sleep });
    expect(clock.sleeps).toEqual([60_000]);

    calls = 0;
    const err = await failure(withRetry(async () => (calls++, Promise.reject(transient(3_600_000))), { maxRetryAfterMs: 60_000, beyondCap: 'give-up', sleep: clock.sleep }));
    expect(err).toBeInstanceOf(RetryAfterTooLong);
    expect(err).toMatchObject({ retryAfterMs: 3_600_000, attempts: 1, message: 'busy' });
    expect(calls).toBe(1);
    expect(clock.sleeps).toEqual([60_000]);
  });

  it('rethrows the last error unchanged when the retries run out, and never retries what is not retryable', async () => {
    const clock = testClock();
    const errors = [transient(), transient(), transient()];
    let calls = 0;
    expect(await failure(withRetry(async () => Promise.reject(errors[calls++]), { maxRetries: 2, sleep: clock.sleep }))).toBe(errors[2]);
    expect(calls).toBe(3);

    calls = 0;
    const config = new ConfigError('bad id');
    expect(await failure(withRetry(async () => (calls++, Promise.reject(config)), { sleep: clock.sleep }))).toBe(config);
    expect(calls).toBe(1);

    // A retryable of the caller's: anything but a ConfigError, as the job steps have it.
    calls = 0;
    await withRetry(async () => (++calls < 3 ? Promise.reject(new Error('database restarting')) : 'ok'), { retryable: (e) => !(e instanceof ConfigError), sleep: clock.sleep });
    expect(calls).toBe(3);
  });

  it('ends the run instead of waiting past stopBy, with the last error and the wait it asked for', async () => {
    const clock = testClock(0);
    let calls = 0;
    const err = await failure(
      withRetry(
        async () => {
          calls++;
          throw transient(10_000);
        },
        { maxRetries: 10, sleep: clock.sleep, now: clock.now, stopBy: 25_000 },
      ),
    );
    // Waits at 0 and 10 s fit; the one at 20 s would end at 30 s.
    expect(calls).toBe(3);
    expect(clock.sleeps).toEqual([10_000, 10_000]);
    expect(err).toMatchObject({ message: 'busy', retryAfterMs: 10_000 });
  });

  it('takes a field left undefined from the policy, never as "no limit"', async () => {
    const clock = testClock();
    let calls = 0;
    const partial = { ...CHANNEL_SEND, maxRetries: undefined } as unknown as RetryPolicy;
    await failure(withRetry(async () => (calls++, Promise.reject(transient())), { policy: partial, maxRetries: undefined, sleep: clock.sleep }));
    expect(calls).toBe(SOURCE_REQUEST.maxRetries + 1);
    calls = 0;
    await failure(withRetry(async () => (calls++, Promise.reject(transient())), { policy: CHANNEL_SEND, maxRetries: undefined, sleep: clock.sleep }));
    expect(calls).toBe(CHANNEL_SEND.maxRetries + 1);
  });

  it('stops at once when aborted during a wait, with the signal\'s reason, and tries nothing more', async () => {
    const controller = new AbortController();
    let calls = 0;
    const run = withRetry(
      async () => {
        calls++;
        throw transient(3_600_000);
      },
      { maxRetryAfterMs: 3_600_000, signal: controller.signal },
    );
    const reason = new Error('shutting down');
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(reason);
    expect(await failure(run)).toBe(reason);
    expect(calls).toBe(1);
  });
});

describe('sleep', () => {
  it('resolves when its time is up', async () => {
    await expect(sleep(1)).resolves.toBeUndefined();
  });

  it('an abort ends a long wait at once with the signal\'s reason; an aborted signal never starts one', async () => {
    const controller = new AbortController();
    let settled = false;
    const waiting = sleep(3_600_000, controller.signal).finally(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    const reason = new Error('stop');
    controller.abort(reason);
    expect(await failure(waiting)).toBe(reason);
    expect(await failure(sleep(3_600_000, AbortSignal.abort(reason)))).toBe(reason);
  });
});

describe('the test clock', () => {
  it('sleep records the wait and moves time on at once; an aborted signal still rejects', async () => {
    const clock = testClock(1_000);
    await clock.sleep(2_500);
    expect(clock.now()).toBe(3_500);
    expect(clock.sleeps).toEqual([2_500]);
    const reason = new Error('stop');
    expect(await failure(clock.sleep(10, AbortSignal.abort(reason)))).toBe(reason);
    expect(clock.now()).toBe(3_500);
  });

  it('fires timers in due order at their own time, only when advanced past them, and never a cleared one', () => {
    const clock = testClock(0);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`b@${clock.now()}`), 200);
    clock.setTimeout(() => fired.push(`a@${clock.now()}`), 100);
    const cleared = clock.setTimeout(() => fired.push('cleared'), 150);
    clock.clearTimeout(cleared);
    clock.setTimeout(() => {
      fired.push(`c@${clock.now()}`);
      // Set while firing, due within the same advance: fires in it.
      clock.setTimeout(() => fired.push(`d@${clock.now()}`), 50);
    }, 300);
    clock.advance(99);
    expect(fired).toEqual([]);
    expect(clock.pending()).toBe(3);
    clock.advance(301);
    expect(fired).toEqual(['a@100', 'b@200', 'c@300', 'd@350']);
    expect(clock.now()).toBe(400);
    expect(clock.pending()).toBe(0);
  });
});
