import type { ConnectorConfig } from '../connectors/index.ts';
import { isConfigError } from '../errors.ts';
import { linkSignals } from '../signals.ts';
import { isPass, type GateRefusal, type SyncGate } from './gate.ts';
import type { DateRange, PipelineHandlers, SyncContext, SyncJob, SyncOutcome } from './types.ts';

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
    await new Promise((resolve) => setTimeout(resolve, wait.pollMs));
    outcome = await claimedSync(handlers, gate, connector, job, ctx);
  }
  return outcome;
}

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
}

async function retrying<T>(fn: () => Promise<T>, policy: RetryPolicy | undefined): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (isConfigError(err) || !policy || attempt >= policy.attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, policy.baseMs * 2 ** (attempt - 1)));
    }
  }
}

export interface Downstream {
  recomputed: DateRange[];
  outboxIds: number[];
}

/** recompute → evaluate → notify for data that changed, the same chain the queues run. */
export async function runDownstream(handlers: PipelineHandlers, ranges: DateRange[], options: { retry?: RetryPolicy; now?: () => Date } = {}): Promise<Downstream> {
  for (const range of ranges) await retrying(() => handlers.recompute(range), options.retry);
  const { outboxIds } = await retrying(() => handlers.evaluate(options.now?.() ?? new Date()), options.retry);
  if (outboxIds.length > 0) await retrying(() => handlers.notify(outboxIds), options.retry);
  return { recomputed: ranges, outboxIds };
}
