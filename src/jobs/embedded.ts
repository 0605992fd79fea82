import { setMaxListeners } from 'node:events';
import type { ConnectorConfig } from '../connectors/index.ts';
import { TransientError, errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { redactSecrets } from '../core/secrets.ts';
import { systemClock, type TimerClock } from '../core/resilience/index.ts';
import { startCronTimer, type CronTimer } from './cron-timer.ts';
import { memoryGate, type SyncGate } from './gate.ts';
import { claimedSyncWhenFree, retryingStep, runDownstream, type StepRetry } from './in-process.ts';
import { settledWithin } from './settle.ts';
import type { ChainRange, PipelineHandlers, SyncOutcome } from './types.ts';
import type { DateRange } from '../core/dates.ts';

export interface EmbeddedOptions {
  connectors: readonly ConnectorConfig[];
  handlers: PipelineHandlers;
  log: Logger;
  gate?: SyncGate;
  /** Retries of recompute/evaluate/notify; a failed sync is retried by the next tick. */
  retry?: StepRetry;
  /** How long a sync that finds its source type at its limit (see memoryGate) waits before trying again. */
  sourceWaitMs?: number;
  /** The system clock by default; tests move their own through days. */
  clock?: TimerClock;
}

export interface Embedded {
  tasks: Map<string, CronTimer>;
  /** Runs what a tick runs, now; resolves when the sync is done (null when it was skipped). */
  trigger(connector: string): Promise<SyncOutcome | null>;
  /**
   * A reloaded configuration's connectors: a timer is started for each one added or
   * enabled, put on its new schedule for each one changed, stopped for each one removed or
   * disabled; the others keep theirs, so none of their ticks is lost or doubled.
   */
  reconfigure(connectors: readonly ConnectorConfig[]): { started: string[]; rescheduled: string[]; stopped: string[]; unchanged: string[] };
  /** Queues recompute → evaluate → notify for `range` behind the chains already started. */
  chain(range: ChainRange): void;
  /** Resolves when every chain started so far has finished, its notify step included. */
  idle(): Promise<void>;
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * No Redis: a timer fires each connector's schedule in its time zone, and the same
 * handlers run in this process with the same rule (one sync per connector at a time; a
 * tick that finds it busy is skipped) and the same chain after each sync.
 */
export function startEmbedded(options: EmbeddedOptions): Embedded {
  const { handlers } = options;
  const clock = options.clock ?? systemClock;
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

  // Replaced by reconfigure (a reload); a tick reads it when it fires.
  let connectors = options.connectors;
  const run = async (name: string, at: Date, trigger: string): Promise<SyncOutcome | null> => {
    if (stopping) return null;
    // Unique per run: the gate lets the same job id in twice (that is how a retry takes over).
    const jobId = `${trigger}.${name}.${at.toISOString()}.${++seq}`;
    const jobLog = log.child({ connector: name, jobId });
    const connector = connectors.find((c) => c.name === name && (c.enabled || trigger === 'manual'));
    if (!connector) {
      // A tick that fired as a reload took its connector away.
      await handlers.notConfigured({ connector: name, trigger }, { jobId, log: jobLog });
      return null;
    }
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
    if (outcome.touched) chain(outcome.touched, jobLog);
    return outcome;
  };

  // Notify steps waiting for their rows' group wait: a timer each, not a chain asleep.
  const waitingNotifies = new Map<unknown, () => void>();
  const notify = (outboxIds: number[], chainLog: Logger) =>
    retryingStep(() => handlers.notify(outboxIds), options.retry, shutdown.signal).then(
      (r) => chainLog.info({ outboxIds: outboxIds.length, failed: r?.failures.length ?? 0 }, 'notify finished'),
      (err: unknown) => chainLog.error({ err: redactSecrets(errorMessage(err)) }, 'notify failed; the alert loop sends what is due'),
    );
  const scheduleNotify = (outboxIds: number[], at: Date | undefined, chainLog: Logger) => {
    const delay = at ? at.getTime() - clock.now() : 0;
    if (delay <= 0) {
      track(notify(outboxIds, chainLog));
      return;
    }
    if (stopping) {
      chainLog.info({ waiting: 1 }, 'notifications not yet due are left in the outbox');
      return;
    }
    track(
      new Promise<void>((resolve) => {
        const timer = clock.setTimeout(() => {
          waitingNotifies.delete(timer);
          void notify(outboxIds, chainLog).finally(resolve);
        }, delay);
        waitingNotifies.set(timer, resolve);
      }),
    );
  };

  // An owed chain waiting to start already takes every owed day along (as the queue's
  // deduplication does in queue mode): idle syncs finding the same days owed add none.
  let owedWaiting = false;
  const chain = (range: ChainRange, chainLog: Logger) => {
    if (range.owed) {
      if (owedWaiting) return;
      owedWaiting = true;
    }
    // One chain at a time: recomputes of overlapping ranges would only repeat each other.
    downstream = downstream.then(() => {
      if (range.owed) owedWaiting = false;
      return runDownstream(handlers, [range], { ...(options.retry ? { retry: options.retry } : {}), scheduleNotify: (ids, at) => scheduleNotify(ids, at, chainLog) }).then(
        (d) => chainLog.info({ range, outboxIds: d.outboxIds.length }, 'chain finished'),
        (err: unknown) => chainLog.error({ range, err: redactSecrets(errorMessage(err)) }, 'chain failed'),
      );
    });
    track(downstream);
  };

  const tasks = new Map<string, CronTimer>();
  // The schedule each timer was started with, to tell a changed one from an unchanged one.
  const scheduleOf = new Map<string, string>();
  const scheduleKey = (c: ConnectorConfig) => `${c.schedule}|${c.timezone}`;
  const startTimer = (c: ConnectorConfig) => {
    const name = c.name;
    const task = startCronTimer(
      { pattern: c.schedule, timezone: c.timezone },
      (planned) => {
        void track(run(name, planned, 'schedule')).catch((err: unknown) => log.error({ connector: name, err: redactSecrets(errorMessage(err)) }, 'tick failed'));
      },
      { clock: options.clock },
    );
    tasks.set(name, task);
    scheduleOf.set(name, scheduleKey(c));
  };
  const stopTimer = (name: string) => {
    tasks.get(name)?.stop();
    tasks.delete(name);
    scheduleOf.delete(name);
  };
  for (const c of connectors.filter((c) => c.enabled)) startTimer(c);
  log.info({ connectors: [...tasks.keys()] }, 'embedded scheduler started');

  return {
    tasks,
    trigger(name) {
      const c = connectors.find((x) => x.name === name);
      if (!c) return Promise.reject(new Error(`unknown connector ${name}`));
      return track(run(c.name, new Date(), 'manual'));
    },
    reconfigure(next) {
      connectors = next;
      const out = { started: [] as string[], rescheduled: [] as string[], stopped: [] as string[], unchanged: [] as string[] };
      if (stopping) return out;
      const wanted = new Map(next.filter((c) => c.enabled).map((c) => [c.name, c]));
      for (const name of [...tasks.keys()]) {
        if (wanted.has(name)) continue;
        stopTimer(name);
        out.stopped.push(name);
      }
      for (const c of wanted.values()) {
        const had = scheduleOf.get(c.name);
        if (had === scheduleKey(c)) {
          out.unchanged.push(c.name);
          continue;
        }
        if (had !== undefined) stopTimer(c.name);
        startTimer(c);
        (had === undefined ? out.started : out.rescheduled).push(c.name);
      }
      return out;
    },
    chain(range) {
      if (!stopping) chain(range, log);
    },
    async idle() {
      while (active.size > 0) await Promise.allSettled([...active]);
    },
    async stop(timeoutMs = 30_000) {
      stopping = true;
      for (const t of tasks.values()) t.stop();
      // Never early: rows whose group wait has not ended stay in the outbox, for the next
      // start's (or another replica's) alert loop to send when due.
      if (waitingNotifies.size > 0) log.info({ waiting: waitingNotifies.size }, 'notifications not yet due are left in the outbox');
      for (const [timer, release] of waitingNotifies) {
        clock.clearTimeout(timer);
        release();
      }
      waitingNotifies.clear();
      if (!(await settledWithin(active, timeoutMs))) {
        log.warn({ running: active.size }, 'shutdown timeout: aborting running syncs');
        shutdown.abort(new TransientError('shutting down'));
        await settledWithin(active, 5_000);
      }
      log.info('embedded scheduler stopped');
    },
  };
}
