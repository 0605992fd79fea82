import type { DateRange } from '../core/dates.ts';
import type { Logger } from '../core/log.ts';
import type { SyncRun } from '../warehouse/index.ts';


/**
 * A chain's range. `owed` marks one started for days whose KPI work was owed, not for days a
 * sync changed: its recompute does what is still owed when it runs, so the chains every idle
 * sync starts for the same owed days do that work once between them.
 */
export type ChainRange = DateRange & { owed?: true };

export interface SyncJob {
  connector: string;
  /** An explicit window (backfill); without it the connector syncs from its checkpoint. */
  window?: DateRange;
  /** What started it: 'schedule', 'once', 'backfill', 'manual'. Recorded on the run. */
  trigger: string;
  /** Apply answers that would delete more than the connector's maxDeleteShare of a day. */
  allowDeletes?: boolean;
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
  /** Dates whose facts changed, also when the sync failed after committing some days; or days owed (see ChainRange). */
  touched: ChainRange | null;
  run: SyncRun;
  error?: unknown;
}

/**
 * The four steps of the pipeline as plain functions. The queue workers, the embedded runner
 * and `kpi run --once` all drive these same functions; only the transport between them differs.
 */
export interface PipelineHandlers {
  sync(job: SyncJob, ctx?: SyncContext): Promise<SyncOutcome>;
  /**
   * Records a job that is not run because its connector is not in the configuration (removed
   * or disabled since the job was queued): a run row with status 'skipped' saying so.
   */
  notConfigured(job: SyncJob, ctx?: Pick<SyncContext, 'jobId' | 'log'>): Promise<SyncRun>;
  recompute(range: ChainRange): Promise<void>;
  /**
   * Records the goals as of `asOf`, then evaluates the alert rules; returns the outbox rows it created and when
   * they are due (their group wait), which is when the notify step is to run.
   */
  evaluate(asOf: Date): Promise<{ outboxIds: number[]; notifyAt?: Date }>;
  /** Sends what is due; reports the messages that failed for good (none when it returns nothing). */
  notify(outboxIds: number[]): Promise<NotifyOutcome | void>;
}

export interface NotifyOutcome {
  failures: Array<{ channel: string; rule: string; error: string }>;
}

export type Step = 'sync' | 'recompute' | 'evaluate' | 'notify';
