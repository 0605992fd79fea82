import type { DefaultJobOptions, Queue } from 'bullmq';
import type { ConnectorConfig } from '../connectors/index.ts';
import type { QueueTuning } from './queues.ts';
import { jobOptions } from './queues.ts';
import { isFireTime } from '../core/schedule.ts';
import type { SyncJob } from './types.ts';

export interface Reconciled {
  upserted: string[];
  unchanged: string[];
  removed: string[];
}

/** Field by field: Redis hands a custom backoff back with its keys in another order. */
function sameBackoff(a: DefaultJobOptions['backoff'], b: DefaultJobOptions['backoff']): boolean {
  if (typeof a !== 'object' || typeof b !== 'object') return a === b;
  return a.type === b.type && a.delay === b.delay && a.jitter === b.jitter;
}

/**
 * Makes the sync queue's job schedulers match the config: one per enabled connector, keyed
 * by its name so a changed schedule is updated in place, and none for removed or disabled
 * connectors. Unchanged schedulers are left alone, so replicas starting at once do not keep
 * replacing each other's next tick. Ticks are computed by schedule.ts (see queues.ts).
 */
export async function reconcileSchedulers(queue: Queue<SyncJob>, connectors: readonly ConnectorConfig[], tuning: QueueTuning): Promise<Reconciled> {
  const out: Reconciled = { upserted: [], unchanged: [], removed: [] };
  const existing = new Map((await queue.getJobSchedulers()).map((s) => [s.key, s]));
  const wanted = connectors.filter((c) => c.enabled);
  const opts = jobOptions(tuning);
  for (const c of wanted) {
    const data: SyncJob = { connector: c.name, trigger: 'schedule' };
    const current = existing.get(c.name);
    const same =
      current?.pattern === c.schedule &&
      (current.tz ?? 'UTC') === c.timezone &&
      JSON.stringify(current.template?.data) === JSON.stringify(data) &&
      current.template?.opts?.attempts === opts.attempts &&
      sameBackoff(current.template?.opts?.backoff, opts.backoff) &&
      // A tick planned before ticks came from schedule.ts (BullMQ's own cron-parser call) at
      // a time this schedule does not fire, e.g. 03:30 for a 02:30 skipped by DST, is planned again.
      current.next != null &&
      isFireTime({ pattern: c.schedule, timezone: c.timezone }, current.next);
    if (same) {
      out.unchanged.push(c.name);
      continue;
    }
    await queue.upsertJobScheduler(c.name, { pattern: c.schedule, tz: c.timezone }, { name: 'sync', data, opts });
    out.upserted.push(c.name);
  }
  const names = new Set(wanted.map((c) => c.name));
  for (const key of existing.keys()) {
    if (names.has(key)) continue;
    await queue.removeJobScheduler(key);
    out.removed.push(key);
  }
  return out;
}
