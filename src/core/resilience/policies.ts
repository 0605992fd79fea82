import type { RetryPolicy } from './backoff.ts';

/*
 * Every retry policy of the service, in one place. Settings from the config replace some of
 * these numbers where noted; the rest are fixed here.
 */

/**
 * A request to a source API (the shared HTTP client, the googleapis calls): 6 attempts, the
 * waits between adding up to at most 15.5 s, with full jitter because every worker and every
 * account of a sync hits the same API at once; a Retry-After is obeyed up to 2 min (a longer
 * one is waited for 2 min, and the full wait stays on the error when the retries run out).
 * Not in the config: the job's own retries (JOB_STEP) take over from here.
 */
export const SOURCE_REQUEST: Readonly<RetryPolicy> = {
  maxRetries: 5,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 1,
  maxRetryAfterMs: 120_000,
};

/**
 * A Slack post within one delivery: quick retries of a rate limit or a hiccup, spaced
 * 1 s, 2 s, 4 s, ... (equal jitter). A wait asked for past 60 s, or one that would not end
 * within half the outbox's claim, is not waited for in a worker: the delivery fails for now
 * with that wait, and the outbox decides (REDELIVERY). `channels.NAME.maxRetries` in the config.
 */
export const CHANNEL_SEND: Readonly<RetryPolicy> = {
  maxRetries: 4,
  baseDelayMs: 1_000,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.5,
  maxRetryAfterMs: 60_000,
};

/**
 * A notification or digest that failed for now, tried again by a later delivery: 30 s,
 * doubling to an hour, with a narrow spread so the schedule stays the one the README
 * promises. A Retry-After is obeyed up to `alerting.maxRetryAfter`; past it the delivery
 * fails for good, visibly. Attempts: `alerting.maxAttempts`.
 */
export const REDELIVERY: Readonly<RetryPolicy> = {
  maxRetries: 9,
  baseDelayMs: 30_000,
  maxDelayMs: 3_600_000,
  factor: 2,
  jitter: 0.25,
  maxRetryAfterMs: 600_000,
};

/**
 * A pipeline job (BullMQ) or an embedded chain step that failed with anything but a
 * ConfigError: `jobs.backoff` doubling per attempt, up to `jobs.attempts`, with a narrow
 * spread so that the attempts together span a known length of outage (five attempts from
 * 10 s wait at least 112 s in all). Capped at an hour, so a large `jobs.attempts` does not
 * put a job off for days.
 */
export const JOB_STEP: Readonly<RetryPolicy> = {
  maxRetries: 4,
  baseDelayMs: 10_000,
  maxDelayMs: 3_600_000,
  factor: 2,
  jitter: 0.25,
  maxRetryAfterMs: 3_600_000,
};

/**
 * `kpi start` waiting for Postgres or Redis to accept connections (containers starting
 * together, a database restarting): tries from 0.5 s apart, doubling to 10 s, with half the
 * delay random so replicas do not knock in step. Never out of retries: how long it waits in
 * all is the deadline's to say (`kpi start --startup-timeout`, 5 minutes by default).
 */
export const START_UP_WAIT: Readonly<RetryPolicy> = {
  maxRetries: Number.MAX_SAFE_INTEGER,
  baseDelayMs: 500,
  maxDelayMs: 10_000,
  factor: 2,
  jitter: 0.5,
  maxRetryAfterMs: 10_000,
};
