import { DelayedError, UnrecoverableError, WaitingError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { ConnectorConfig } from '../connectors/index.ts';
import { isHeldAnswer } from '../connectors/index.ts';
import { errorMessage, isConfigError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { redactSecrets } from '../core/secrets.ts';
import { linkSignals } from '../core/signals.ts';
import { isPass, type SyncGate } from './gate.ts';
import { chainKey, stepJobId } from './ids.ts';
import { jobBackoff, type EvaluateData, type NotifyData, type PipelineQueues, type QueueTuning, type RecomputeData } from './queues.ts';
import { repeatStrategy } from '../core/schedule.ts';
import type { PipelineHandlers, SyncJob } from './types.ts';
import type { DateRange } from '../core/dates.ts';

export interface WorkerDeps {
  queues: PipelineQueues;
  /** Worker connections block; BullMQ needs them with maxRetriesPerRequest: null. */
  connection: ConnectionOptions;
  prefix: string;
  handlers: PipelineHandlers;
  gate: SyncGate;
  /** The connectors of the configuration current now (it changes on a reload). */
  connectors: () => readonly ConnectorConfig[];
  /**
   * Reads the configuration file again when a job names a connector this process does not
   * know (added, re-enabled, and this process not yet told); connectors() then has it.
   */
  reread?: () => Promise<unknown>;
  tuning: QueueTuning;
  log: Logger;
  /** Aborted when shutdown gives up waiting: running syncs stop and hand their job back. */
  shutdown: AbortSignal;
}

/**
 * Every sync's chain shares one deduplication id: at most one waits while one runs. A
 * recompute takes every owed day along (the days a committed sync changed are owed until
 * recomputed, see src/metrics/owed.ts), so the one waiting covers every sync that committed
 * before it starts. With a chain per sync, 200 connectors whose numbers change queued
 * recomputes faster than one worker ran them, each redoing days another had just done.
 */
export const OWED_CHAIN = { deduplication: { id: 'owed-kpi-work', keepLastIfActive: true } } as const;

export type SyncJobResult =
  | { runId: number; status: string; touched: DateRange | null }
  | { skipped: 'busy' }
  | { skipped: 'not-configured'; runId: number };

/**
 * ConfigError must never be retried; everything else is worth another attempt. BullMQ keeps
 * the message and stack in Redis and shows them on the dashboard, so both are scrubbed.
 */
function jobError(err: unknown): Error {
  // A held answer is re-read by the next tick, not by a retry seconds later: an outage that
  // lasts a minute would otherwise confirm itself.
  if (isConfigError(err) || isHeldAnswer(err)) return new UnrecoverableError(redactSecrets(err.message));
  const out = new Error(redactSecrets(errorMessage(err)));
  if (err instanceof Error) {
    out.name = err.name;
    out.stack = err.stack && redactSecrets(err.stack);
  }
  return out;
}

/**
 * Each step enqueues the next itself instead of using BullMQ flows: the recompute range is
 * only known once the sync has run, a sync that changed nothing must not start the chain,
 * a failed sync still has to recompute the days it committed, notify only exists when there
 * are new outbox rows, and job-scheduler ticks cannot be flow parents. The next job's id is
 * derived from the run, so a retried or recovered step re-enqueues as a no-op.
 */
export function startWorkers(deps: WorkerDeps): { workers: Worker[]; active: Set<Promise<unknown>> } {
  const { queues, handlers, gate, tuning, shutdown } = deps;
  const usable = (name: string) => deps.connectors().find((c) => c.name === name && c.enabled);
  const active = new Set<Promise<unknown>>();
  const common = {
    connection: deps.connection,
    prefix: deps.prefix,
    lockDuration: tuning.lockDurationMs,
    stalledInterval: tuning.stalledIntervalMs,
    maxStalledCount: tuning.maxStalledCount,
    // The worker that takes a job scheduler's tick computes the next one; a job that failed
    // waits as the embedded runner's steps do.
    settings: { repeatStrategy, backoffStrategy: jobBackoff },
  };

  // Every processor goes through here: logged with its job id, its errors made fit for
  // BullMQ, and counted in `active`, which shutdown waits on (BullMQ's own wait has no timeout).
  const tracked = <D, R>(fn: (job: Job<D>, token: string, log: Logger) => Promise<R>) => {
    return (job: Job<D>, token?: string): Promise<R> => {
      const log = deps.log.child({ queue: job.queueName, jobId: job.id, attempt: job.attemptsMade + 1 });
      const started = Date.now();
      const run = fn(job, token ?? '', log).then(
        (result) => {
          log.info({ ms: Date.now() - started }, 'job done');
          return result;
        },
        (err: unknown) => {
          if (err instanceof DelayedError || err instanceof WaitingError) throw err;
          log.warn({ err: redactSecrets(errorMessage(err)), ms: Date.now() - started }, 'job failed');
          throw jobError(err);
        },
      );
      active.add(run);
      void run.catch(() => {}).finally(() => active.delete(run));
      return run;
    };
  };

  const sync = tracked<SyncJob, SyncJobResult>(async (job, token, log) => {
    const data = job.data;
    // Each job runs with the configuration current when it runs; one naming a connector this
    // process does not know may come from a newer file than the one it loaded.
    let cfg = usable(data.connector);
    if (!cfg && deps.reread) {
      await deps.reread();
      cfg = usable(data.connector);
    }
    if (!cfg) {
      // Queued before its connector left the configuration (its scheduler is gone now): said
      // in a run row and the log, never a silent success.
      const run = await handlers.notConfigured(data, { jobId: job.id!, log });
      return { skipped: 'not-configured', runId: run.id };
    }
    const entry = await gate.enter({ connector: cfg.name, source: cfg.type, job: job.id! });
    if (!isPass(entry)) {
      // A tick that finds its connector syncing is dropped: the running sync reads up to
      // today and the next tick follows. A backfill, or a tick waiting for a source slot,
      // must still run, so it comes back later without spending an attempt.
      if (entry === 'connector-busy' && data.trigger === 'schedule') {
        log.info({ connector: cfg.name }, 'connector already syncing; tick skipped');
        return { skipped: 'busy' };
      }
      log.info({ connector: cfg.name, reason: entry, retryInMs: tuning.busyDelayMs }, 'sync postponed');
      await job.moveToDelayed(Date.now() + tuning.busyDelayMs, token);
      throw new DelayedError();
    }
    let outcome;
    const linked = linkSignals(entry.signal, shutdown);
    try {
      outcome = await handlers.sync(data, { jobId: job.id!, signal: linked.signal, exclusive: true, log });
    } finally {
      linked.dispose();
      await entry.release();
    }
    if (outcome.touched) {
      const key = chainKey(cfg.name, outcome.touched, outcome.runId);
      // A recompute takes its range and every owed day: a sync whose chain is deduplicated
      // into the one waiting has its days recomputed by it (they are owed until then).
      await queues.recompute.add('recompute', { range: outcome.touched, key }, { jobId: stepJobId('recompute', key), ...OWED_CHAIN });
    }
    if (!outcome.ok) {
      if (shutdown.aborted) {
        // Hand the job back untouched: the next worker resumes from the last committed day.
        await job.moveToWait(token);
        throw new WaitingError();
      }
      throw outcome.error;
    }
    return { runId: outcome.runId, status: outcome.run.status, touched: outcome.touched };
  });

  const recompute = tracked<RecomputeData, void>(async (job) => {
    await handlers.recompute(job.data.range);
    const { key } = job.data;
    await queues.evaluate.add('evaluate', { asOf: new Date().toISOString(), key }, { jobId: stepJobId('evaluate', key) });
  });

  const evaluate = tracked<EvaluateData, { outboxIds: number[]; notifyAt?: Date }>(async (job) => {
    const result = await handlers.evaluate(new Date(job.data.asOf));
    const { key } = job.data;
    if (result.outboxIds.length > 0) {
      // The group wait is kept by the queue: the job waits delayed in Redis until its rows
      // are due, rather than a worker asleep inside it.
      const delay = result.notifyAt ? Math.max(0, result.notifyAt.getTime() - Date.now()) : 0;
      await queues.notify.add('notify', { outboxIds: result.outboxIds, key }, { jobId: stepJobId('notify', key), ...(delay > 0 ? { delay } : {}) });
    }
    return result;
  });

  const notify = tracked<NotifyData, void>(async (job) => {
    await handlers.notify(job.data.outboxIds);
  });

  const workers = [
    new Worker<SyncJob, SyncJobResult>('sync', sync, { ...common, concurrency: tuning.syncConcurrency }),
    new Worker<RecomputeData, void>('recompute', recompute, { ...common, concurrency: 1 }),
    new Worker<EvaluateData, { outboxIds: number[]; notifyAt?: Date }>('evaluate', evaluate, { ...common, concurrency: 1 }),
    new Worker<NotifyData, void>('notify', notify, { ...common, concurrency: 1 }),
  ] as Worker[];
  for (const w of workers) {
    w.on('error', (err) => deps.log.error({ queue: w.name, err: redactSecrets(errorMessage(err)) }, 'worker error'));
  }
  return { workers, active };
}
