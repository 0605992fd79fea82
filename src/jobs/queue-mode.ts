import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { Redis } from 'ioredis';
import type { Worker } from 'bullmq';
import type { ConnectorConfig } from '../connectors/index.ts';
import { TransientError, errorMessage } from '../core/errors.ts';
import { waitForService, type ServiceWait } from '../core/resilience/index.ts';
import type { Logger } from '../core/log.ts';
import { redisGate } from './gate.ts';
import { defaultTuning, openQueues, type PipelineQueues, type QueueTuning } from './queues.ts';
import { reconcileSchedulers, type Reconciled } from './schedulers.ts';
import { settledWithin } from './settle.ts';
import { stepJobId } from './ids.ts';
import type { ChainRange, PipelineHandlers } from './types.ts';
import type { DateRange } from '../core/dates.ts';
import { OWED_CHAIN, startWorkers } from './workers.ts';

export type Role = 'scheduler' | 'worker' | 'all';

export interface QueueModeOptions {
  redisUrl: string;
  prefix: string;
  connectors: readonly ConnectorConfig[];
  /** See WorkerDeps.reread: the configuration file read again for a job naming an unknown connector. */
  reread?: () => Promise<unknown>;
  handlers: PipelineHandlers;
  log: Logger;
  role?: Role;
  tuning?: Partial<QueueTuning>;
  /**
   * Runs once the queues exist and before any job can be taken: binding the HTTP port here
   * means a process that cannot serve fails before it holds a job, not in the middle of one.
   */
  beforeWork?: (queue: { queues: PipelineQueues; redis: Redis }) => Promise<void>;
  /**
   * Wait for an unreachable Redis (with backoff, until the deadline) instead of failing at
   * once; `onWaiting` is told what it waits for.
   */
  waitForRedis?: Pick<ServiceWait, 'deadline' | 'onWaiting' | 'signal'>;
}

export interface QueueMode {
  queues: PipelineQueues;
  /** The producers' connection (queues, claims); readiness checks use it too. */
  redis: Redis;
  schedulers: Reconciled | null;
  workers: Worker[];
  /** Queues recompute → evaluate → notify for `range`, as a sync that changed it would. */
  chain(range: ChainRange): Promise<void>;
  /**
   * A reloaded configuration's connectors: workers take them for the next job, and a
   * scheduler makes the job schedulers match them (null for a worker, which has none).
   */
  reconfigure(connectors: readonly ConnectorConfig[]): Promise<Reconciled | null>;
  /** Stops taking jobs, waits up to `timeoutMs` for running ones, then releases them. */
  stop(timeoutMs?: number): Promise<void>;
}

/** Host and port only: the URL may carry a password. */
function redisHost(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 6379}`;
  } catch {
    return 'the configured URL';
  }
}

/** Redis refusing the credentials: no wait will change that. */
function isAuthRefusal(err: unknown): boolean {
  return /^(NOAUTH|WRONGPASS)\b/.test(errorMessage(err));
}

export async function startQueueMode(options: QueueModeOptions): Promise<QueueMode> {
  const tuning: QueueTuning = { ...defaultTuning, ...options.tuning };
  const role = options.role ?? 'all';
  const log = options.log.child({ mode: 'queue', role });
  // The producers' connection may fail a command rather than wait forever; workers may not.
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 3 });
  // Until Redis has answered once, each failed connection attempt is the start-up wait's to
  // report (a line now and then), not one warning per reconnection.
  let answered = false;
  redis.on('error', (err) => answered && log.warn({ err: err.message }, 'redis connection error'));
  // BullMQ waits for a connection forever; at start-up an unreachable Redis fails the start
  // instead, at once or when waiting for it has run out of time.
  try {
    if (options.waitForRedis) {
      await waitForService({ service: `Redis at ${redisHost(options.redisUrl)}`, reach: async () => void (await redis.ping()), hopeless: isAuthRefusal, log, ...options.waitForRedis });
    } else {
      await redis.ping();
    }
  } catch (err) {
    redis.disconnect();
    if (options.waitForRedis && !isAuthRefusal(err)) throw err;
    throw new TransientError(`cannot reach Redis at ${redisHost(options.redisUrl)}: ${errorMessage(err)}`, { cause: err });
  }
  answered = true;
  const queues = openQueues(redis, options.prefix, tuning);
  // The queues share `redis`, whose errors are logged above; without a listener of their own
  // BullMQ writes each reconnect attempt's error to stderr.
  for (const q of queues.all) q.on('error', () => {});
  try {
    await options.beforeWork?.({ queues, redis });
  } catch (err) {
    await queues.close();
    redis.disconnect();
    throw err;
  }

  let schedulers: Reconciled | null = null;
  let stopped = false;
  // Replaced by reconfigure (a reload); everything below reads it when it needs it.
  let connectors = options.connectors;
  if (role !== 'worker') {
    try {
      schedulers = await reconcileSchedulers(queues.sync, connectors, tuning);
    } catch (err) {
      await queues.close();
      redis.disconnect();
      throw err;
    }
    log.info(schedulers, 'job schedulers reconciled');
    // A Redis that comes back without its data (no persistence, a failover to an empty
    // replica) has lost the job schedulers, and nothing would ever sync again: each
    // reconnection puts back whatever is missing (unchanged ones are left alone).
    redis.on('ready', () => {
      if (stopped) return;
      reconcileSchedulers(queues.sync, connectors, tuning).then(
        (r) => {
          if (r.upserted.length > 0) log.warn({ restored: r.upserted }, 'job schedulers were missing after Redis reconnected; restored');
        },
        (err: unknown) => log.warn({ err: errorMessage(err) }, 'could not check the job schedulers after Redis reconnected; next reconnection tries again'),
      );
    });
  }

  const shutdown = new AbortController();
  // Every running sync listens on it, and more than ten may run at once.
  setMaxListeners(0, shutdown.signal);
  let workers: Worker[] = [];
  let active = new Set<Promise<unknown>>();
  if (role !== 'scheduler') {
    ({ workers, active } = startWorkers({
      queues,
      connection: { url: options.redisUrl, maxRetriesPerRequest: null },
      prefix: options.prefix,
      handlers: options.handlers,
      gate: redisGate(redis, { prefix: options.prefix, ttlMs: tuning.gateTtlMs, sourceLimits: tuning.sourceLimits }),
      connectors: () => connectors,
      ...(options.reread ? { reread: options.reread } : {}),
      tuning,
      log,
      shutdown: shutdown.signal,
    }));
  }

  let stopping: Promise<void> | undefined;
  const stop = (timeoutMs = 30_000) => {
    stopping ??= (async () => {
      stopped = true;
      log.info({ running: active.size, timeoutMs }, 'stopping: taking no new jobs');
      await Promise.allSettled(workers.map((w) => w.pause(true)));
      let finished = await settledWithin(active, timeoutMs);
      if (!finished) {
        log.warn({ running: active.size }, 'shutdown timeout: releasing running jobs');
        shutdown.abort(new TransientError('the worker is shutting down; the job goes back to the queue'));
        // A connector that ignores the abort keeps its job until the lock expires; another
        // worker then recovers it as a stalled job, as after a crash.
        finished = await settledWithin(active, Math.min(5_000, timeoutMs));
      }
      await Promise.allSettled(workers.map((w) => w.close(!finished)));
      await queues.close();
      redis.disconnect();
      log.info({ clean: finished }, 'stopped');
    })();
    return stopping;
  };

  const chain = async (range: ChainRange) => {
    const key = `owed.${range.from}.${range.to}.${randomUUID().slice(0, 8)}`;
    await queues.recompute.add('recompute', { range, key }, { jobId: stepJobId('recompute', key), ...(range.owed ? OWED_CHAIN : {}) });
  };

  const reconfigure = async (next: readonly ConnectorConfig[]): Promise<Reconciled | null> => {
    connectors = next;
    if (role === 'worker' || stopped) return null;
    const r = await reconcileSchedulers(queues.sync, next, tuning);
    schedulers = r;
    return r;
  };

  return {
    queues,
    redis,
    get schedulers() {
      return schedulers;
    },
    workers,
    chain,
    reconfigure,
    stop,
  };
}
