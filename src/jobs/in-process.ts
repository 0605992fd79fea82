import type { ConnectorConfig } from '../connectors/index.ts';
import { isConfigError } from '../core/errors.ts';
import { JOB_STEP, sleep, withRetry } from '../core/resilience/index.ts';
import { linkSignals } from '../core/signals.ts';
import { isPass, type GateRefusal, type SyncGate } from './gate.ts';
import type { NotifyOutcome, PipelineHandlers, SyncContext, SyncJob, SyncOutcome } from './types.ts';
import type { DateRange } from '../core/dates.ts';

/** One sync under the connector's claim, for the runners that have no queue in between. */
export async function claimedSync(
  handlers: PipelineHandlers,
  gate: SyncGate,
  connector: ConnectorConfig,
  job: SyncJob,
  ctx: SyncContext & { jobId: string },
): Promise<SyncOutcome | GateRefusal> {
  const entry = await gate.enter({ connector: connector.name, source: connector.type, job: ctx.jobId });
  if (!isPass(entry)) return entry;
  const linked = linkSignals(entry.signal, ctx.signal);
  try {
    return await handlers.sync(job, { ...ctx, signal: linked.signal ?? entry.signal, exclusive: true });
  } finally {
    linked.dispose();
    await entry.release();
  }
}

/**
 * claimedSync, tried again every `pollMs` while the connector's source type is at its limit
 * (other connectors' syncs hold every slot), as a queued job would wait for a slot; a busy
 * connector is not waited for. Gives up, returning the refusal, once `stopped` says so.
 */
export async function claimedSyncWhenFree(
  handlers: PipelineHandlers,
  gate: SyncGate,
  connector: ConnectorConfig,
  job: SyncJob,
  ctx: SyncContext & { jobId: string },
  wait: { pollMs: number; stopped?: () => boolean },
): Promise<SyncOutcome | GateRefusal> {
  let outcome = await claimedSync(handlers, gate, connector, job, ctx);
  while (outcome === 'source-full' && !wait.stopped?.()) {
    await sleep(wait.pollMs);
    outcome = await claimedSync(handlers, gate, connector, job, ctx);
  }
  return outcome;
}

/** jobs.attempts and jobs.backoff, as the queue's jobs have them; the rest is JOB_STEP's. */
export interface StepRetry {
  attempts: number;
  baseMs: number;
}

/** A step tried as a queued job would be: anything but a ConfigError again, by JOB_STEP. */
export function retryingStep<T>(fn: () => Promise<T>, retry: StepRetry | undefined, signal?: AbortSignal): Promise<T> {
  return withRetry(fn, {
    policy: JOB_STEP,
    maxRetries: retry ? retry.attempts - 1 : 0,
    baseDelayMs: retry?.baseMs,
    retryable: (err) => !isConfigError(err),
    signal,
  });
}

export interface Downstream {
  recomputed: DateRange[];
  outboxIds: number[];
  /** Messages the notify step could not deliver, for good. */
  notifyFailures: NotifyOutcome['failures'];
}

export interface DownstreamOptions {
  retry?: StepRetry;
  now?: () => Date;
  /**
   * Takes the notify step out of the chain, to run when its rows are due (the embedded
   * runner's timer); without it the step runs at once and the alerts engine waits out the
   * group wait (`kpi run --once`, which has nothing else to wait on).
   */
  scheduleNotify?: (outboxIds: number[], at: Date | undefined) => void;
}

/** recompute → evaluate → notify for data that changed, the same chain the queues run. */
export async function runDownstream(handlers: PipelineHandlers, ranges: DateRange[], options: DownstreamOptions = {}): Promise<Downstream> {
  for (const range of ranges) await retryingStep(() => handlers.recompute(range), options.retry);
  const { outboxIds, notifyAt } = await retryingStep(() => handlers.evaluate(options.now?.() ?? new Date()), options.retry);
  if (outboxIds.length > 0 && options.scheduleNotify) {
    options.scheduleNotify(outboxIds, notifyAt);
    return { recomputed: ranges, outboxIds, notifyFailures: [] };
  }
  const notified = outboxIds.length > 0 ? await retryingStep(() => handlers.notify(outboxIds), options.retry) : undefined;
  return { recomputed: ranges, outboxIds, notifyFailures: notified?.failures ?? [] };
}
