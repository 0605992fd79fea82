import { setMaxListeners } from 'node:events';
import cron, { type ScheduledTask } from 'node-cron';
import type { ConnectorConfig } from '../connectors/index.ts';
import { TransientError, errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { redactSecrets } from '../secrets.ts';
import { memoryGate, type SyncGate } from './gate.ts';
import { claimedSyncWhenFree, runDownstream, type RetryPolicy } from './in-process.ts';
import { settledWithin } from './settle.ts';
import type { PipelineHandlers, SyncOutcome } from './types.ts';

export interface EmbeddedOptions {
  connectors: readonly ConnectorConfig[];
  handlers: PipelineHandlers;
  log: Logger;
  gate?: SyncGate;
  /** Retries of recompute/evaluate/notify; a failed sync is retried by the next tick. */
  retry?: RetryPolicy;
  /** How long a sync that finds its source type at its limit (see memoryGate) waits before trying again. */
  sourceWaitMs?: number;
}

export interface Embedded {
  tasks: Map<string, ScheduledTask>;
  /** Runs what a tick runs, now; resolves when the sync is done (null when it was skipped). */
  trigger(connector: string): Promise<SyncOutcome | null>;
  /** Resolves when every chain started so far has finished. */
  idle(): Promise<void>;
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * No Redis: node-cron fires each connector's schedule in its time zone, and the same
 * handlers run in this process with the same rule (one sync per connector at a time; a
 * tick that finds it busy is skipped) and the same chain after each sync.
 */
export function startEmbedded(options: EmbeddedOptions): Embedded {
  const { handlers } = options;
  const log = options.log.child({ mode: 'embedded' });
  const gate = options.gate ?? memoryGate();
  const shutdown = new AbortController();
  // Every running sync listens on it, and more than ten may run at once.
  setMaxListeners(0, shutdown.signal);
  const active = new Set<Promise<unknown>>();
  let downstream: Promise<void> = Promise.resolve();
  let stopping = false;
  let seq = 0;
  const track = <T>(p: Promise<T>): Promise<T> => {
    active.add(p);
    void p.catch(() => {}).finally(() => active.delete(p));
    return p;
  };

  const run = async (connector: ConnectorConfig, at: Date, trigger: string): Promise<SyncOutcome | null> => {
    if (stopping) return null;
    // Unique per run: the gate lets the same job id in twice (that is how a retry takes over).
    const jobId = `${trigger}.${connector.name}.${at.toISOString()}.${++seq}`;
    const jobLog = log.child({ connector: connector.name, jobId });
    // A source at its limit is other connectors' syncs, not this one's: the tick waits for a slot.
    const outcome = await claimedSyncWhenFree(
      handlers,
      gate,
      connector,
      { connector: connector.name, trigger },
      { jobId, signal: shutdown.signal, log: jobLog },
      { pollMs: options.sourceWaitMs ?? 2_000, stopped: () => stopping },
    );
    if (typeof outcome === 'string') {
      jobLog.info({ reason: outcome }, 'tick skipped');
      return null;
    }
    if (outcome.touched) {
      const range = outcome.touched;
      // One chain at a time: recomputes of overlapping ranges would only repeat each other.
      downstream = downstream.then(() =>
        runDownstream(handlers, [range], options.retry ? { retry: options.retry } : {}).then(
          (d) => jobLog.info({ range, outboxIds: d.outboxIds.length }, 'chain finished'),
          (err: unknown) => jobLog.error({ range, err: redactSecrets(errorMessage(err)) }, 'chain failed'),
        ),
      );
      track(downstream);
    }
    return outcome;
  };

  const tasks = new Map<string, ScheduledTask>();
  for (const c of options.connectors.filter((c) => c.enabled)) {
    const task = cron.schedule(
      c.schedule,
      (ctx) => {
        void track(run(c, ctx.date, 'schedule')).catch((err: unknown) => log.error({ connector: c.name, err: redactSecrets(errorMessage(err)) }, 'tick failed'));
      },
      { timezone: c.timezone, name: `sync-${c.name}` },
    );
    tasks.set(c.name, task);
  }
  log.info({ connectors: [...tasks.keys()] }, 'embedded scheduler started');

  return {
    tasks,
    trigger(name) {
      const c = options.connectors.find((x) => x.name === name);
      if (!c) return Promise.reject(new Error(`unknown connector ${name}`));
      return track(run(c, new Date(), 'manual'));
    },
    async idle() {
      while (active.size > 0) await Promise.allSettled([...active]);
    },
    async stop(timeoutMs = 30_000) {
      stopping = true;
      await Promise.allSettled([...tasks.values()].map((t) => t.destroy()));
      if (!(await settledWithin(active, timeoutMs))) {
        log.warn({ running: active.size }, 'shutdown timeout: aborting running syncs');
        shutdown.abort(new TransientError('shutting down'));
        await settledWithin(active, 5_000);
      }
      log.info('embedded scheduler stopped');
    },
  };
}
