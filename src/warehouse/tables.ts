import type { ColumnType, Generated, Kysely, Selectable, Transaction } from 'kysely';

import type { DateString } from '../core/dates.ts';

export type { DateString };

export interface MetricFactsTable {
  date: DateString;
  connector: string;
  account: string;
  /** The campaign's name as the source gave it when the day was written (the key too, where campaign_id is ''). */
  campaign: ColumnType<string, string | undefined, string>;
  /** The platform's id of the campaign, which keys the fact; '' for facts keyed by name (see migration 011). */
  campaign_id: ColumnType<string, string | undefined, string>;
  channel: ColumnType<string, string | undefined, string>;
  metric: string;
  value: number;
  currency: string | null;
  sync_run_id: number | null;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** One campaign of one connector and account, by the platform's id: its latest name and the days it had facts. */
export interface CampaignsTable {
  connector: string;
  account: string;
  campaign_id: string;
  name: string;
  first_seen: DateString;
  last_seen: DateString;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/**
 * 'held': the source's answer would have deleted more stored facts than the connector allows
 * (see held_days); nothing of the held day was applied.
 * 'skipped': a queued job for a connector the configuration no longer has (removed or
 * disabled); nothing was read. The column is text, so no migration was needed for it.
 */
export type SyncRunStatus = 'running' | 'succeeded' | 'failed' | 'abandoned' | 'held' | 'skipped';

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
  /** Requests sent to the source, retries and token requests included (migration 015). */
  requests: ColumnType<number, number | undefined, number>;
  /** Quota the source reported, by unit (src/core/request-meter.ts), e.g. { ga4_tokens: 120 }. */
  quota: ColumnType<Record<string, number>, string | undefined, string>;
}

export interface CheckpointsTable {
  connector: string;
  stream: string;
  /** Last date fully written for this stream. */
  cursor: string;
  /** What the stream's reader keeps between syncs (files it loaded), as JSON; null for most sources. */
  state: ColumnType<unknown, string | null | undefined, string | null>;
  /** The currency and time zone the source last reported for the stream (migration 015); null until then. */
  info: ColumnType<unknown, string | null | undefined, string | null>;
  /** The last day of this stream that is synced and settled (see src/metrics/completeness.ts). */
  complete_through: ColumnType<DateString | null, DateString | null | undefined, DateString | null>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** The streams a connector has, and the backfill it runs (see migration 010). */
export interface ConnectorProgressTable {
  connector: string;
  streams: ColumnType<string[], string[] | undefined, string[]>;
  backfill_run_id: number | null;
  backfill_from: DateString | null;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** Which connectors feed each KPI. */
export interface KpiSourcesTable {
  kpi: string;
  connector: string;
}

/** Views: the last complete day of each connector and KPI; null when none is complete yet. */
export interface ConnectorCompletenessView {
  connector: ColumnType<string, never, never>;
  complete_through: ColumnType<DateString | null, never, never>;
}
export interface KpiCompletenessView {
  kpi: ColumnType<string, never, never>;
  complete_through: ColumnType<DateString | null, never, never>;
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

/** A day whose answer from the source was not applied because it would delete too much. */
export interface HeldDaysTable {
  connector: string;
  account: string;
  date: DateString;
  /** Digest of the answer's rows for the day, to recognise the same answer on a later read. */
  fingerprint: string;
  stored_rows: number;
  answer_rows: number;
  sync_run_id: number | null;
  held_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface Database {
  held_days: HeldDaysTable;
  metric_facts: MetricFactsTable;
  campaigns: CampaignsTable;
  sync_runs: SyncRunsTable;
  checkpoints: CheckpointsTable;
  quarantine: QuarantineTable;
  kpi_points: KpiPointsTable;
  kpi_values: KpiValuesTable;
  connector_progress: ConnectorProgressTable;
  kpi_sources: KpiSourcesTable;
  connector_completeness: ConnectorCompletenessView;
  kpi_completeness: KpiCompletenessView;
  kpi_days: KpiDaysTable;
  goal_snapshots: GoalSnapshotsTable;
  okr_snapshots: OkrSnapshotsTable;
  alert_instances: AlertInstancesTable;
  alert_transitions: AlertTransitionsTable;
  alert_outbox: AlertOutboxTable;
  alert_silences: AlertSilencesTable;
  digest_sends: DigestSendsTable;
  channel_health: ChannelHealthTable;
  kpi_catalogue: KpiCatalogueTable;
  okr_key_results: OkrKeyResultsTable;
}

/** The warehouse or a transaction on it: what a function that runs statements accepts. */
export type Executor = Kysely<Database> | Transaction<Database>;

export type SyncRun = Selectable<SyncRunsTable>;
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
  /** Whether the day's stored total base sums each have at most 15 significant digits (migration 017); null when not known. */
  exact_sums: boolean | null;
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
  /** Whether every connector feeding the value (the one named, for connector rows) is complete through period_end. */
  complete: ColumnType<boolean, never, never>;
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
  /** Digest of what the assessment was computed from besides the facts (migration 018); null before it. */
  definition: ColumnType<string | null, string | null | undefined, string | null>;
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
  /**
   * 'silence:<id>' or 'mute:<name>' while one holds the row, and on a row one dropped;
   * 'inhibited' while its series is inhibited (src/alerts/inhibition.ts).
   */
  held_by: ColumnType<string | null, string | null | undefined, string | null>;
  /** When it was marked failed (for good). */
  failed_at: NullableTimestamp;
}

/** Each notification channel's delivery streak (migration 012). */
export interface ChannelHealthTable {
  channel: string;
  failures: ColumnType<number, number | undefined, number>;
  failing_since: NullableTimestamp;
  last_failure_at: NullableTimestamp;
  last_error: ColumnType<string | null, string | null | undefined, string | null>;
  last_success_at: NullableTimestamp;
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

/** 'sending' (claimed), 'sent', 'retrying' (failed for now; tried again at not_before) or 'failed' (for good). */
/** waiting: not sent yet, because its data is not complete (retried every hour, never counted as sent). */
type DigestSendStatus = 'sending' | 'sent' | 'retrying' | 'failed' | 'waiting';

export interface DigestSendsTable {
  /** The report's name (src/config/reports.ts); 'digest' for the old `digest:` section. */
  report: string;
  grain: string;
  period_start: DateString;
  channel: string;
  status: ColumnType<DigestSendStatus, DigestSendStatus, DigestSendStatus>;
  claimed_by: ColumnType<string | null, string | null | undefined, string | null>;
  claimed_until: NullableTimestamp;
  attempts: ColumnType<number, number | undefined, number>;
  sent_at: NullableTimestamp;
  error: ColumnType<string | null, string | null | undefined, string | null>;
  /** 'retrying': when the next attempt is due. */
  not_before: NullableTimestamp;
  /** 'failed': when it failed for good. */
  failed_at: NullableTimestamp;
}

/** The KPI catalogue as the configuration last loaded had it, for the BI views (migration 014). */
export interface KpiCatalogueTable {
  kpi: string;
  position: number;
  label: string;
  unit: string;
  direction: string;
  /** A display unit in Grafana's vocabulary: percentunit, currencyEUR, short, none. */
  format: string;
  currency: string | null;
  description: string | null;
  formula: string;
  source: string;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** Each OKR's objective and key results, as the configuration last loaded had them (migration 014). */
export interface OkrKeyResultsTable {
  okr: string;
  objective: string;
  position: number;
  goal: string;
  weight: number;
}
