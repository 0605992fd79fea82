import type { DateRange } from '../core/dates.ts';

/** BullMQ rejects ':' in custom job ids (it uses ':' in its own keys). */
function part(value: string): string {
  return value.replace(/[:\s]+/g, '_');
}

/** A backfill of one window: asking twice for the same window while it is queued is a no-op. */
export function syncJobId(connector: string, window: DateRange): string {
  return `sync.${part(connector)}.${window.from}.${window.to}`;
}

/**
 * Everything downstream of a sync is keyed by the run that touched the data: a retried or
 * recovered step re-enqueues the same ids (no-op), while the next run gets new ones.
 */
export function chainKey(connector: string, range: DateRange, runId: number): string {
  return `${part(connector)}.${range.from}.${range.to}.run${runId}`;
}

export function stepJobId(step: 'recompute' | 'evaluate' | 'notify', key: string): string {
  return `${step}.${part(key)}`;
}
