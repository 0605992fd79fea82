/**
 * A signal that aborts when any of `signals` does, with that one's reason. AbortSignal.any
 * leaves a listener on each source until the combined signal is garbage-collected, so a
 * long-lived signal (a sync's, a worker's shutdown) gathers one per request or job, and Node
 * warns of a leak past ten; this one takes its listeners off when disposed.
 */
export function linkSignals(...signals: Array<AbortSignal | undefined>): { signal: AbortSignal | undefined; dispose(): void } {
  const sources = signals.filter((s): s is AbortSignal => s !== undefined);
  if (sources.length <= 1) return { signal: sources[0], dispose: () => {} };
  const controller = new AbortController();
  const already = sources.find((s) => s.aborted);
  if (already) {
    controller.abort(already.reason);
    return { signal: controller.signal, dispose: () => {} };
  }
  const listeners = sources.map((source) => {
    const onAbort = (): void => {
      dispose();
      controller.abort(source.reason);
    };
    source.addEventListener('abort', onAbort, { once: true });
    return { source, onAbort };
  });
  const dispose = (): void => {
    for (const { source, onAbort } of listeners) source.removeEventListener('abort', onAbort);
  };
  return { signal: controller.signal, dispose };
}
