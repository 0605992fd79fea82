import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { linkSignals } from '../../src/core/signals.ts';

describe('linkSignals', () => {
  it('aborts with the reason of whichever source aborts first', () => {
    const a = new AbortController();
    const b = new AbortController();
    const linked = linkSignals(a.signal, undefined, b.signal);
    b.abort(new Error('shutting down'));
    expect(linked.signal?.aborted).toBe(true);
    expect((linked.signal?.reason as Error).message).toBe('shutting down');
    a.abort(new Error('later'));
    expect((linked.signal?.reason as Error).message).toBe('shutting down');
    expect(getEventListeners(a.signal, 'abort')).toHaveLength(0);
  });

  it('takes its listeners off the sources when disposed, so a long-lived source does not gather them', () => {
    const shutdown = new AbortController();
    for (let i = 0; i < 50; i++) {
      const job = new AbortController();
      const linked = linkSignals(job.signal, shutdown.signal);
      expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(1);
      linked.dispose();
    }
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
  });

  it('is already aborted when a source is, and passes a single signal through', () => {
    const done = AbortSignal.abort(new Error('gone'));
    expect(linkSignals(new AbortController().signal, done).signal?.aborted).toBe(true);
    const only = new AbortController().signal;
    expect(linkSignals(undefined, only).signal).toBe(only);
    expect(linkSignals().signal).toBeUndefined();
  });
});
