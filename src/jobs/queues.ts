import { Queue, type BackoffStrategy, type ConnectionOptions, type DefaultJobOptions, type KeepJobs } from 'bullmq';
import { backoffDelay, JOB_STEP } from '../core/resilience/index.ts';
import { syncJobId } from './ids.ts';
import { repeatStrategy } from '../core/schedule.ts';
import type { ChainRange, SyncJob } from './types.ts';
import type { DateRange } from '../core/dates.ts';

export interface RecomputeData {
  range: ChainRange;
  /** Names the run whose data this follows; the next steps' job ids are derived from it. */
  key: string;
}

export interface EvaluateData {
  /** ISO timestamp fixed when the job is enqueued, so a retry evaluates the same moment. */
  asOf: string;
  key: string;
}

export interface NotifyData {
  outboxIds: number[];
  key: string;
}

export interface PipelineQueues {
  sync: Queue<SyncJob>;
  recompute: Queue<RecomputeData>;
  evaluate: Queue<EvaluateData>;
  notify: Queue<NotifyData>;
  all: Queue[];
  close(): Promise<void>;
}

export interface QueueTuning {
  /** BullMQ's job lock; a job whose worker died is handed out again after about this long. */
  lockDurationMs: number;
  stalledIntervalMs: number;
  /** How many times a job may be recovered from a dead worker before it fails. */
  maxStalledCount: number;
  attempts: number;
  /** First retry delay; it doubles with each attempt, with jitter (JOB_STEP in src/core/resilience/policies.ts). */
  backoffMs: number;
  /** A backfill that finds its connector busy (or its source full) tries again after this. */
  busyDelayMs: number;
  /**
   * TTL of a connector's sync claim, renewed every third of it while the sync runs. Longer
   * than the job lock plus a stalled check, so a dead worker's job is recovered (and takes
   * its claim over) before the claim expires and another tick can slip in.
   */
  gateTtlMs: number;
  /** Sync jobs one worker process runs at once, across connectors. */
  syncConcurrency: number;
  /** Most syncs of one connector type running at once across all workers, e.g. { google_ads: 2 }. */
  sourceLimits: Record<string, number>;
  keepCompleted: KeepJobs;
  keepFailed: KeepJobs;
}

const DAY = 24 * 3600;

export const defaultTuning: QueueTuning = {
  lockDurationMs: 30_000,
  stalledIntervalMs: 30_000,
  maxStalledCount: 2,
  attempts: 5,
  backoffMs: 10_000,
  busyDelayMs: 15_000,
  gateTtlMs: 90_000,
  syncConcurrency: 4,
  sourceLimits: {},
  keepCompleted: { age: 7 * DAY, count: 1000 },
  keepFailed: { age: 30 * DAY, count: 5000 },
};

/** The name job options give the backoff the workers compute (jobBackoff), instead of one of BullMQ's own. */
export const JOB_BACKOFF = 'resilience';

/**
 * The Worker's backoffStrategy: the resilience formula with JOB_STEP's spread and cap, from
 * the first delay the job was queued with, so BullMQ and the embedded runner wait alike.
 */
export const jobBackoff: BackoffStrategy = (attemptsMade, _type, _err, job) => {
  const backoff = job?.opts.backoff;
  const first = typeof backoff === 'object' && backoff.delay !== undefined ? backoff.delay : JOB_STEP.baseDelayMs;
  return backoffDelay(attemptsMade, { ...JOB_STEP, baseDelayMs: first });
};

export function jobOptions(tuning: QueueTuning): DefaultJobOptions {
  return {
    attempts: tuning.attempts,
    backoff: { type: JOB_BACKOFF, delay: tuning.backoffMs },
    removeOnComplete: tuning.keepCompleted,
    removeOnFail: tuning.keepFailed,
  };
}

export const queueNames = ['sync', 'recompute', 'evaluate', 'notify'] as const;

export function openQueues(connection: ConnectionOptions, prefix: string, tuning: QueueTuning): PipelineQueues {
  // Job schedulers' ticks follow schedule.ts, as the embedded runner's do (see workers.ts too).
  const opts = { connection, prefix, defaultJobOptions: jobOptions(tuning), settings: { repeatStrategy } };
  const sync = new Queue<SyncJob>('sync', opts);
  const recompute = new Queue<RecomputeData>('recompute', opts);
  const evaluate = new Queue<EvaluateData>('evaluate', opts);
  const notify = new Queue<NotifyData>('notify', opts);
  const all = [sync, recompute, evaluate, notify] as Queue[];
  return {
    sync,
    recompute,
    evaluate,
    notify,
    all,
    async close() {
      await Promise.allSettled(all.map((q) => q.close()));
    },
  };
}

/** A sync outside the schedule, e.g. a backfill; asking twice for one window queues one job. */
export async function enqueueBackfill(queues: PipelineQueues, connector: string, window: DateRange): Promise<string> {
  const job = await queues.sync.add('sync', { connector, window, trigger: 'backfill' }, { jobId: syncJobId(connector, window) });
  return job.id!;
}
