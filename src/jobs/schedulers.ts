import type { Queue } from 'bullmq';
import type { ConnectorConfig } from '../connectors/index.ts';
import type { QueueTuning } from './queues.ts';
import { jobOptions } from './queues.ts';
import type { SyncJob } from './types.ts';

export interface Reconciled {
  upserted: string[];
  unchanged: string[];
  removed: string[];
}

/**
 * Makes the sync queue's job schedulers match the config: one per enabled connector, keyed
 * by its name so a changed schedule is updated in place, and none for removed or disabled
 * connectors. Unchanged schedulers are left alone, so replicas starting at once do not keep
 * replacing each other's next tick.
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
      JSON.stringify(current.template?.opts?.backoff) === JSON.stringify(opts.backoff);
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
