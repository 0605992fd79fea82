import { setMaxListeners } from 'node:events';
import { Redis } from 'ioredis';
import type { Worker } from 'bullmq';
import type { ConnectorConfig } from '../connectors/index.ts';
import { TransientError, errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { redisGate } from './gate.ts';
import { defaultTuning, openQueues, type PipelineQueues, type QueueTuning } from './queues.ts';
import { reconcileSchedulers, type Reconciled } from './schedulers.ts';
import { settledWithin } from './settle.ts';
import type { PipelineHandlers } from './types.ts';
import { startWorkers } from './workers.ts';

export type Role = 'scheduler' | 'worker' | 'all';

export interface QueueModeOptions {
  redisUrl: string;
  prefix: string;
  connectors: readonly ConnectorConfig[];
  handlers: PipelineHandlers;
  log: Logger;
  role?: Role;
  tuning?: Partial<QueueTuning>;
}

export interface QueueMode {
  queues: PipelineQueues;
  /** The producers' connection (queues, claims); readiness checks use it too. */
  redis: Redis;
  schedulers: Reconciled | null;
  workers: Worker[];
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

export async function startQueueMode(options: QueueModeOptions): Promise<QueueMode> {
  const tuning: QueueTuning = { ...defaultTuning, ...options.tuning };
  const role = options.role ?? 'all';
  const log = options.log.child({ mode: 'queue', role });
  // The producers' connection may fail a command rather than wait forever; workers may not.
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 3 });
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  // BullMQ waits for a connection forever; at start-up an unreachable Redis should fail the start instead.
  try {
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw new TransientError(`cannot reach Redis at ${redisHost(options.redisUrl)}: ${errorMessage(err)}`, { cause: err });
  }
  const queues = openQueues(redis, options.prefix, tuning);
  // The queues share `redis`, whose errors are logged above; without a listener of their own
  // BullMQ writes each reconnect attempt's error to stderr.
  for (const q of queues.all) q.on('error', () => {});

  let schedulers: Reconciled | null = null;
  let stopped = false;
  if (role !== 'worker') {
    try {
      schedulers = await reconcileSchedulers(queues.sync, options.connectors, tuning);
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
      reconcileSchedulers(queues.sync, options.connectors, tuning).then(
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
      connectors: options.connectors,
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

  return { queues, redis, schedulers, workers, stop };
}
