/**
 * Resilience: how anything in the service waits and tries again. One retry policy type,
 * one backoff formula, one Retry-After parser with a cap, one abortable sleep, one clock.
 */
export { backoffDelay, type RetryPolicy } from './backoff.ts';
export { systemClock, testClock, type Clock, type TestClock, type TimerClock, type WaitingClock } from './clock.ts';
export { CHANNEL_SEND, JOB_STEP, REDELIVERY, SOURCE_REQUEST, START_UP_WAIT } from './policies.ts';
export { parseRetryAfter, withinCap, type CappedWait } from './retry-after.ts';
export { RetryAfterTooLong, withRetry, type RetryInfo, type RetryOptions } from './retry.ts';
export { sleep, type Sleep } from './sleep.ts';
export { waitForService, type ServiceWait } from './wait-for-service.ts';
