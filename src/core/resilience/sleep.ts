import { setTimeout as delay } from 'node:timers/promises';

/** Waits `ms`; an abort ends the wait at once, rejecting with the signal's reason. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const sleep: Sleep = async (ms, signal) => {
  signal?.throwIfAborted();
  try {
    await delay(ms, undefined, signal ? { signal } : undefined);
  } catch (err) {
    // timers/promises rejects with its own AbortError; callers tell a shutdown from a
    // cancelled request by the reason they aborted with.
    if (signal?.aborted) throw signal.reason;
    throw err;
  }
};
