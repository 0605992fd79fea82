import type { Kysely } from 'kysely';
import { connectorLabel } from '../config/labels.ts';
import { settlingDaysOf } from '../config/index.ts';
import { addDays, daysOf, todayIn, type DateRange, type DateString } from '../core/dates.ts';
import { nextFireTime } from '../core/schedule.ts';
import { redactSecrets } from '../core/secrets.ts';
import {
  connectorCompleteness,
  connectorRunSummaries,
  FAILED_RUN_STATUSES,
  latestRowsByConnector,
  quarantineCounts,
  STALE_RUN_MS,
  type Database,
  type SyncRun,
  type SyncRunStatus,
} from '../warehouse/index.ts';
import type { CompletenessConfig } from './completeness.ts';
import { owedRanges } from './owed.ts';
import { daysBetween } from './periods.ts';

/**
 * Connector health and KPI freshness as one plain, JSON-able object: what `kpi status` prints
 * and `--json` returns, and what the web console shows. Every consumer asks `readStatus`, so
 * the terminal, the browser and scripts never disagree about a verdict.
 *
 * The verdict of a connector (enabled and in the configuration):
 * - failing: its latest run that says something of the source (not running, not skipped)
 *   failed, was abandoned or was held, as the sync_failure rule counts them;
 * - warning: not failing, but it has never synced successfully, has no complete day since it
 *   did, its data lags more than its sources allow (lag > 1 + settlingDays: a day is complete
 *   once it is over and settled), its latest run quarantined records, or its latest run is
 *   still running with no heartbeat for STALE_RUN_MS (its process was killed);
 * - ok otherwise.
 * A connector that is disabled, or has runs but is no longer configured, is `inactive`: listed,
 * never counted. The overall verdict is failing when any connector is, warning when any is or
 * when KPI values are behind their facts (owed days), ok otherwise.
 */

export type Verdict = 'ok' | 'warning' | 'failing';
export type ConnectorVerdict = Verdict | 'inactive';

/** How many of its latest runs each connector lists, and how many quarantined records. */
export const STATUS_RUNS = 5;
export const STATUS_QUARANTINED = 5;

export interface StatusRun {
  id: number;
  status: SyncRunStatus;
  trigger: string;
  startedAt: string;
  finishedAt: string | null;
  rowsRead: number;
  rowsWritten: number;
  rowsDeleted: number;
  /** Records the run could not store, kept in quarantine with their reasons (sync_runs.rows_rejected). */
  rowsQuarantined: number;
  error: string | null;
}

export interface QuarantinedStatus {
  id: number;
  syncRunId: number | null;
  stream: string;
  reason: string;
  at: string;
}

export interface ConnectorStatus {
  name: string;
  /** The connector's label in messages; its name when it is no longer configured. */
  label: string;
  /** Null when it is no longer configured. */
  type: string | null;
  configured: boolean;
  enabled: boolean;
  verdict: ConnectorVerdict;
  /** Why the verdict is not ok, in words; empty when it is. */
  reasons: string[];
  lastSuccessAt: string | null;
  lastRun: { id: number; status: SyncRunStatus; startedAt: string; finishedAt: string | null } | null;
  /** The schedule and its zone, and when it next fires; null when the connector does not sync on its own. */
  schedule: { pattern: string; timezone: string } | null;
  nextRunAt: string | null;
  /** The last day the warehouse holds all of (every stream synced and settled); null while none. */
  completeThrough: DateString | null;
  /** Yesterday in the connector's zone: what an up-to-date source is complete through, settling aside. */
  yesterday: DateString | null;
  /** Days between completeThrough and yesterday; null while nothing is complete. */
  lagDays: number | null;
  /** When the first failed run after the last success started; null unless failing. */
  failingSince: string | null;
  /** The latest error a run stored, whole (scrubbed of secrets when stored, and again here). */
  lastError: { runId: number; at: string; kind: string | null; message: string } | null;
  runs: StatusRun[];
  quarantine: { count: number; latest: QuarantinedStatus[] };
}

export interface Status {
  asOf: string;
  verdict: Verdict;
  connectors: ConnectorStatus[];
  /** Whether KPI values are behind their facts: the days recompute owes (kpi_days versions). */
  kpis: { behind: boolean; owedDays: number; owedRanges: DateRange[] };
}

const iso = (d: Date | string | null | undefined): string | null => (d === null || d === undefined ? null : new Date(d).toISOString());

function runOf(r: SyncRun): StatusRun {
  return {
    id: Number(r.id),
    status: r.status,
    trigger: r.trigger,
    startedAt: iso(r.started_at)!,
    finishedAt: iso(r.finished_at),
    rowsRead: Number(r.rows_read),
    rowsWritten: Number(r.rows_written),
    rowsDeleted: Number(r.rows_deleted),
    rowsQuarantined: Number(r.rows_rejected),
    error: r.error === null ? null : redactSecrets(r.error),
  };
}

/** Why a still-running latest run looks dead: no heartbeat for STALE_RUN_MS. */
function deadRun(run: SyncRun | undefined, now: Date): string | null {
  if (run?.status !== 'running' || now.getTime() - new Date(run.heartbeat_at).getTime() < STALE_RUN_MS) return null;
  const minutes = Math.floor((now.getTime() - new Date(run.heartbeat_at).getTime()) / 60_000);
  return `run ${run.id} has been running with no sign of life for ${minutes >= 120 ? plural(Math.floor(minutes / 60), 'hour') : plural(minutes, 'minute')} (its process stopped?)`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export async function readStatus(db: Kysely<Database>, config: CompletenessConfig, now: Date): Promise<Status> {
  const configured = new Map(config.connectors.map((c) => [c.name, c] as const));
  const [summaries, complete, quarantined, owed] = await Promise.all([connectorRunSummaries(db, [...configured.keys()]), connectorCompleteness(db), quarantineCounts(db), owedRanges(db, config)]);
  const names = [...configured.keys(), ...[...summaries.keys()].filter((n) => !configured.has(n)).sort()];
  const [latestRuns, latestQuarantined] = await Promise.all([
    latestRowsByConnector(db, 'sync_runs', names, STATUS_RUNS),
    latestRowsByConnector(db, 'quarantine', names.filter((n) => (quarantined.get(n) ?? 0) > 0), STATUS_QUARANTINED),
  ]);

  const connectors = names.map((name): ConnectorStatus => {
    const c = configured.get(name);
    const summary = summaries.get(name);
    const runs = latestRuns.get(name) ?? [];
    const active = c !== undefined && c.enabled;
    const completeThrough = complete.get(name) ?? null;
    const yesterday = c ? addDays(todayIn(c.timezone, now), -1) : null;
    const lagDays = completeThrough !== null && yesterday !== null ? daysBetween(completeThrough, yesterday) : null;
    const last = summary?.lastFinished ?? null;
    const failing = last !== null && FAILED_RUN_STATUSES.includes(last.status);

    const reasons: string[] = [];
    if (!c) reasons.push('no longer configured');
    else if (!c.enabled) reasons.push('disabled');
    else if (failing) reasons.push(`last sync ${last.status}`);
    else {
      if (!summary?.lastSuccessAt) reasons.push('never synced successfully');
      const allowed = 1 + settlingDaysOf(c);
      if (summary?.lastSuccessAt && lagDays === null) reasons.push('no complete day yet');
      else if (lagDays !== null && lagDays > allowed) reasons.push(`data ${plural(lagDays, 'day')} behind (allowed ${allowed})`);
      if (last && Number(last.rows_rejected) > 0) reasons.push(`last sync quarantined ${plural(Number(last.rows_rejected), 'record')}`);
    }
    // A run its process never closed (killed mid-sync): no finished run says anything yet, and
    // nothing syncs the connector until the next start or sync abandons it.
    const silent = active ? deadRun(runs[0], now) : null;
    if (silent) reasons.push(silent);
    const verdict: ConnectorVerdict = !active ? 'inactive' : failing ? 'failing' : reasons.length > 0 ? 'warning' : 'ok';
    const errorRun = summary?.lastErrorRun ?? null;
    const latestRun = runs[0] ?? null;
    return {
      name,
      label: c ? connectorLabel(config.connectors, name) : name,
      type: c?.type ?? null,
      configured: c !== undefined,
      enabled: c?.enabled ?? false,
      verdict,
      reasons,
      lastSuccessAt: iso(summary?.lastSuccessAt),
      lastRun: latestRun ? { id: Number(latestRun.id), status: latestRun.status, startedAt: iso(latestRun.started_at)!, finishedAt: iso(latestRun.finished_at) } : null,
      schedule: active ? { pattern: c.schedule, timezone: c.timezone } : null,
      nextRunAt: active ? new Date(nextFireTime({ pattern: c.schedule, timezone: c.timezone }, now.getTime())).toISOString() : null,
      completeThrough,
      yesterday,
      lagDays,
      failingSince: failing ? iso(summary?.firstFailureAfterSuccess?.started_at) : null,
      lastError: errorRun && errorRun.error !== null ? { runId: Number(errorRun.id), at: iso(errorRun.finished_at ?? errorRun.started_at)!, kind: errorRun.error_kind, message: redactSecrets(errorRun.error) } : null,
      runs: runs.map(runOf),
      quarantine: {
        count: quarantined.get(name) ?? 0,
        latest: (latestQuarantined.get(name) ?? []).map((q) => ({ id: Number(q.id), syncRunId: q.sync_run_id === null ? null : Number(q.sync_run_id), stream: q.stream, reason: redactSecrets(q.reason), at: iso(q.created_at)! })),
      },
    };
  });

  const owedDays = owed.reduce((n, r) => n + daysOf(r).length, 0);
  const counted = connectors.filter((c) => c.verdict !== 'inactive');
  const verdict: Verdict = counted.some((c) => c.verdict === 'failing') ? 'failing' : counted.some((c) => c.verdict === 'warning') || owedDays > 0 ? 'warning' : 'ok';
  return { asOf: now.toISOString(), verdict, connectors, kpis: { behind: owedDays > 0, owedDays, owedRanges: owed } };
}
