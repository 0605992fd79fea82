import { randomUUID } from 'node:crypto';
import type { ConnectorConfig } from '../connectors/index.ts';
import type { Logger } from '../core/log.ts';
import type { GateRefusal, SyncGate } from './gate.ts';
import { claimedSyncWhenFree, runDownstream, type Downstream } from './in-process.ts';
import { mergeRanges } from './ranges.ts';
import type { PipelineHandlers, SyncOutcome } from './types.ts';

export interface CycleSync {
  connector: string;
  outcome?: SyncOutcome;
  /** Set when another process was syncing the connector. */
  skipped?: GateRefusal;
  ms: number;
}

export interface CycleReport {
  syncs: CycleSync[];
  downstream?: Downstream;
  downstreamError?: unknown;
  /** Every sync succeeded (or was already running elsewhere), the chain ran, and no notification failed for good. */
  ok: boolean;
}

export interface CycleOptions {
  connectors: readonly ConnectorConfig[];
  handlers: PipelineHandlers;
  gate: SyncGate;
  log: Logger;
  /** Syncs running at once; each connector still runs one at a time. */
  concurrency?: number;
  signal?: AbortSignal;
  now?: () => Date;
}

const SOURCE_FULL_POLL_MS = 500;

/** `kpi run --once`: every enabled connector, then one chain over everything they touched. */
export async function runCycle(options: CycleOptions): Promise<CycleReport> {
  const started = (options.now?.() ?? new Date()).toISOString();
  // A job id of its own per cycle, even under a fixed clock (the demo's): a sync takes the
  // runs of an earlier attempt of its job id as its own to carry into the chain.
  const cycleId = randomUUID().slice(0, 8);
  const enabled = options.connectors.filter((c) => c.enabled);
  const syncs: CycleSync[] = [];
  let next = 0;
  const lane = async () => {
    while (next < enabled.length) {
      const c = enabled[next++]!;
      const t0 = Date.now();
      // A full source frees a slot when one of its syncs ends; a busy connector is left alone.
      const result = await claimedSyncWhenFree(
        options.handlers,
        options.gate,
        c,
        { connector: c.name, trigger: 'once' },
        { jobId: `once.${c.name}.${started}.${cycleId}`, ...(options.signal ? { signal: options.signal } : {}) },
        { pollMs: SOURCE_FULL_POLL_MS },
      );
      const entry: CycleSync = typeof result === 'string' ? { connector: c.name, skipped: result, ms: Date.now() - t0 } : { connector: c.name, outcome: result, ms: Date.now() - t0 };
      if (entry.skipped) options.log.info({ connector: c.name }, 'connector is syncing in another process; skipped');
      syncs.push(entry);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 4, enabled.length)) }, lane));
  syncs.sort((a, b) => enabled.findIndex((c) => c.name === a.connector) - enabled.findIndex((c) => c.name === b.connector));

  const report: CycleReport = { syncs, ok: syncs.every((s) => s.skipped || s.outcome?.ok) };
  try {
    report.downstream = await runDownstream(options.handlers, mergeRanges(syncs.map((s) => s.outcome?.touched)), options.now ? { now: options.now } : {});
    if (report.downstream.notifyFailures.length > 0) report.ok = false;
  } catch (err) {
    report.downstreamError = err;
    report.ok = false;
  }
  return report;
}
