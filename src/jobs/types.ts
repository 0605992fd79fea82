import type { DateWindow } from '../connectors/index.ts';
import type { Logger } from '../log.ts';
import type { SyncRun } from '../warehouse/index.ts';

/** Inclusive range of reporting dates (YYYY-MM-DD). */
export type DateRange = DateWindow;

export interface SyncJob {
  connector: string;
  /** An explicit window (backfill); without it the connector syncs from its checkpoint. */
  window?: DateRange;
  /** What started it: 'schedule', 'once', 'backfill', 'manual'. Recorded on the run. */
  trigger: string;
}

export interface SyncContext {
  /** Recorded on the run, so a run can be traced back to its job. */
  jobId?: string;
  signal?: AbortSignal;
  /** The caller holds the connector's claim, so a run of it still marked running is dead. */
  exclusive?: boolean;
  /** Carries the job's fields (queue, job id) into the run's log lines. */
  log?: Logger;
  onDay?: (progress: { stream: string; date: string; window: DateRange }) => void;
}

export interface SyncOutcome {
  ok: boolean;
  runId: number;
  /** Dates whose facts changed, also when the sync failed after committing some days. */
  touched: DateRange | null;
  run: SyncRun;
  error?: unknown;
}

/**
 * The four steps of the pipeline as plain functions. The queue workers, the embedded runner
 * and `kpi run --once` all drive these same functions; only the transport between them differs.
 */
export interface PipelineHandlers {
  sync(job: SyncJob, ctx?: SyncContext): Promise<SyncOutcome>;
  recompute(range: DateRange): Promise<void>;
  /** Goal evaluation and alert rules as of `asOf`; returns the outbox rows it created. */
  evaluate(asOf: Date): Promise<{ outboxIds: number[] }>;
  notify(outboxIds: number[]): Promise<void>;
}

export type Step = 'sync' | 'recompute' | 'evaluate' | 'notify';
