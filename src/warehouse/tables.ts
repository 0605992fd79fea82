import type { ColumnType, Generated, Kysely, Selectable, Transaction } from 'kysely';

/** A date as YYYY-MM-DD; the reporting date in the account's time zone. */
export type DateString = string;

export interface MetricFactsTable {
  date: DateString;
  connector: string;
  account: string;
  campaign: ColumnType<string, string | undefined, string>;
  channel: ColumnType<string, string | undefined, string>;
  metric: string;
  value: number;
  currency: string | null;
  sync_run_id: number | null;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export type SyncRunStatus = 'running' | 'succeeded' | 'failed' | 'abandoned';

export interface SyncRunsTable {
  id: Generated<number>;
  connector: string;
  trigger: string;
  job_id: string | null;
  window_from: DateString | null;
  window_to: DateString | null;
  status: SyncRunStatus;
  started_at: ColumnType<Date, Date | string | undefined, Date | string>;
  heartbeat_at: ColumnType<Date, Date | string | undefined, Date | string>;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  rows_read: ColumnType<number, number | undefined, number>;
  rows_written: ColumnType<number, number | undefined, number>;
  rows_deleted: ColumnType<number, number | undefined, number>;
  rows_rejected: ColumnType<number, number | undefined, number>;
  /** First and last date whose facts changed; what recompute has to revisit. */
  touched_from: DateString | null;
  touched_to: DateString | null;
  error_kind: string | null;
  error: string | null;
  /** Things worth knowing about the data, e.g. { sampled: true } from GA4. */
  flags: ColumnType<Record<string, unknown>, string | undefined, string>;
}

export interface CheckpointsTable {
  connector: string;
  stream: string;
  /** Last date fully written for this stream. */
  cursor: string;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface QuarantineTable {
  id: Generated<number>;
  sync_run_id: number | null;
  connector: string;
  stream: string;
  reason: string;
  record: ColumnType<unknown, string, string>;
  created_at: ColumnType<Date, Date | string | undefined, never>;
}

export interface SourceFilesTable {
  connector: string;
  path: string;
  sha256: string;
  size: number;
  min_date: DateString | null;
  max_date: DateString | null;
  rows: ColumnType<number, number | undefined, number>;
  loaded_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface Database {
  source_files: SourceFilesTable;
  metric_facts: MetricFactsTable;
  sync_runs: SyncRunsTable;
  checkpoints: CheckpointsTable;
  quarantine: QuarantineTable;
  kpi_points: KpiPointsTable;
  kpi_values: KpiValuesTable;
  kpi_days: KpiDaysTable;
  goal_snapshots: GoalSnapshotsTable;
  okr_snapshots: OkrSnapshotsTable;
  alert_instances: AlertInstancesTable;
  alert_transitions: AlertTransitionsTable;
  alert_outbox: AlertOutboxTable;
  alert_silences: AlertSilencesTable;
  digest_sends: DigestSendsTable;
}

/** The warehouse or a transaction on it: what a function that runs statements accepts. */
export type Executor = Kysely<Database> | Transaction<Database>;

export type SyncRun = Selectable<SyncRunsTable>;
export type MetricFact = Selectable<MetricFactsTable>;

/** One KPI value per (grain, period, dimension value); written by recompute, never a NULL row. */
/** One point (grain, period, dimension value) with all its KPI values: what recompute writes. */
export interface KpiPointsTable {
  grain: string;
  period_start: DateString;
  period_end: DateString;
  /** 'all', 'connector', 'channel' or 'campaign'; dimension_value is '' for 'all'. */
  dimension: string;
  dimension_value: string;
  /** KPI names and their values, position by position. */
  kpis: string[];
  vals: number[];
  computed_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/**
 * Per date, the version of its facts (bumped by triggers on every write to metric_facts) and
 * the version and basis its stored day points were computed from; see migration 006.
 */
export interface KpiDaysTable {
  date: DateString;
  facts_version: ColumnType<number, number | undefined, number>;
  points_version: number | null;
  basis: string | null;
}

/** The view over kpi_points with one row per KPI value; read-only. */
export interface KpiValuesTable {
  kpi: ColumnType<string, never, never>;
  grain: ColumnType<string, never, never>;
  period_start: ColumnType<DateString, never, never>;
  period_end: ColumnType<DateString, never, never>;
  dimension: ColumnType<string, never, never>;
  dimension_value: ColumnType<string, never, never>;
  value: ColumnType<number, never, never>;
  computed_at: ColumnType<Date, never, never>;
}

export interface GoalSnapshotsTable {
  goal: string;
  as_of: DateString;
  kpi: string;
  criterion: string;
  actual: number | null;
  baseline: number | null;
  target: number;
  progress: number | null;
  expected: number;
  forecast: number | null;
  status: string;
  evaluated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface OkrSnapshotsTable {
  okr: string;
  as_of: DateString;
  progress: number;
  status: string;
  evaluated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

/** One series of one alert rule and where its state machine stands. */
export interface AlertInstancesTable {
  rule: string;
  /** '' for a rule's single series, e.g. 'channel=email' per dimension value. */
  instance: string;
  labels: ColumnType<Record<string, string>, string, string>;
  state: string;
  state_since: Timestamp;
  reason: ColumnType<string, string | undefined, string>;
  breaches: ColumnType<number, number | undefined, number>;
  clears: ColumnType<number, number | undefined, number>;
  seq: ColumnType<number, number | undefined, number>;
  episode: ColumnType<number | null, number | null | undefined, number | null>;
  firing_since: NullableTimestamp;
  last_notified_at: NullableTimestamp;
  repeats: ColumnType<number, number | undefined, number>;
  last_tick: ColumnType<number | null, number | null | undefined, number | null>;
  last_evaluated_at: NullableTimestamp;
  last_value: ColumnType<number | null, number | null | undefined, number | null>;
  last_summary: ColumnType<string | null, string | null | undefined, string | null>;
  last_data_at: NullableTimestamp;
  no_data_since: NullableTimestamp;
}

export interface AlertTransitionsTable {
  id: Generated<number>;
  rule: string;
  instance: string;
  seq: number;
  from_state: string;
  to_state: string;
  reason: string;
  value: number | null;
  at: Timestamp;
}

export type OutboxStatus = 'pending' | 'sent' | 'failed' | 'dropped';

export interface AlertOutboxTable {
  id: Generated<number>;
  rule: string;
  instance: string;
  episode: number;
  event: string;
  ordinal: ColumnType<number, number | undefined, number>;
  channel: string;
  status: ColumnType<OutboxStatus, OutboxStatus | undefined, OutboxStatus>;
  payload: ColumnType<unknown, string, string>;
  created_at: Timestamp;
  due_at: Timestamp;
  not_before: Timestamp;
  attempts: ColumnType<number, number | undefined, number>;
  claimed_by: ColumnType<string | null, string | null | undefined, string | null>;
  claimed_until: NullableTimestamp;
  delivered_at: NullableTimestamp;
  last_error: ColumnType<string | null, string | null | undefined, string | null>;
  held_by: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface AlertSilencesTable {
  id: Generated<number>;
  matchers: ColumnType<unknown, string, string>;
  starts_at: Timestamp;
  ends_at: Timestamp;
  action: ColumnType<string, string | undefined, string>;
  comment: ColumnType<string, string | undefined, string>;
  created_by: ColumnType<string, string | undefined, string>;
  created_at: ColumnType<Date, Date | string | undefined, never>;
}

export interface DigestSendsTable {
  grain: string;
  period_start: DateString;
  channel: string;
  status: string;
  claimed_by: ColumnType<string | null, string | null | undefined, string | null>;
  claimed_until: NullableTimestamp;
  attempts: ColumnType<number, number | undefined, number>;
  sent_at: NullableTimestamp;
  error: ColumnType<string | null, string | null | undefined, string | null>;
}
