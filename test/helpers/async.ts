import { afterEach } from 'vitest';

/**
 * Wraps `start` so that whatever it starts is closed after the test that started it, even
 * when the test fails. Call it at the top of a file or describe, where hooks can be registered.
 */
export function closedAfterEach<A extends unknown[], T extends { close(): Promise<void> }>(start: (...args: A) => Promise<T>): (...args: A) => Promise<T> {
  let open: T[] = [];
  afterEach(async () => {
    const closing = open;
    open = [];
    await Promise.all(closing.map((t) => t.close()));
  });
  return async (...args) => {
    const started = await start(...args);
    open.push(started);
    return started;
  };
}

/** The error `p` rejects with; a promise that resolves, or rejects with a non-Error, fails the test. */
export async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    if (err instanceof Error) return err;
    throw new Error(`rejected with a non-Error: ${String(err)}`);
  }
  throw new Error('expected a failure');
}
