import type { GoalStatus, KpiDirection, KpiUnit } from '../core/vocabulary.ts';

export type Severity = 'critical' | 'warning' | 'info';

/** How a change reads given the KPI's direction: good or bad news, or too small to matter. */
export type ChangeTone = 'good' | 'bad' | 'neutral';

export interface AlertInstance {
  /** The series in words: "Clicks, Google Ads". */
  series: string;
  /** For unit 'percent', a fraction: 0.012 is shown as 1.2%. */
  value: number | null;
  threshold?: number | null;
  previous?: number | null;
  /** Already in percent: -12.5 means a 12.5% drop. Percent KPIs show their change in percentage points instead. */
  changePct?: number | null;
  unit: KpiUnit;
  /** ISO 4217 code, for unit 'currency'. */
  currency?: string;
  /** An anomaly's usual range; `previous` is then its median. */
  usual?: { lower: number; upper: number };
  /** What this series is about (a goal's description). */
  description?: string;
  /** The report for this series: an http(s) link, or the `kpi report` command line that prints it. */
  report?: string;
}

/** One outbox row, as the alert engine hands it over. */
export interface AlertNotification {
  /** Outbox row id; the idempotency key of the delivery. */
  id: string;
  status: 'firing' | 'resolved';
  ruleName: string;
  severity: Severity;
  /** One line, e.g. "CTR (paid_search) 1.2% is below 2%". */
  summary: string;
  /** The rule's description: what it watches and why it matters. */
  description?: string;
  /** An http(s) link to what to do about it. */
  runbook?: string;
  labels: Record<string, string>;
  /** Several series of one rule grouped into one message. */
  instances: AlertInstance[];
  /** ISO timestamps. */
  startsAt: string;
  endsAt?: string;
  link?: string;
  /** IANA zone the message shows times in. */
  timeZone: string;
}

/** A KPI as the digest shows it: its value against the period before, and its recent trend. */
export interface DigestKpi {
  name: string;
  label: string;
  unit: KpiUnit;
  currency?: string;
  value: number | null;
  previous: number | null;
  /** Already in percent, like AlertInstance.changePct. */
  changePct: number | null;
  direction: KpiDirection;
  /** Whether the change is good or bad news, or too small to say (reporting.significantChange); judged with the defaults when left out. */
  tone?: ChangeTone;
  /** Oldest first; null where a period has no data. */
  series: Array<number | null>;
}

export interface DigestGoal {
  name: string;
  /** Fraction of the target reached: 0..1, above 1 when exceeded. */
  progress: number;
  /** Fraction that should have been reached by now. */
  expected: number;
  status: GoalStatus;
}

export interface DigestOkr {
  objective: string;
  progress: number;
  status: GoalStatus;
  keyResults: DigestGoal[];
}

export interface Digest {
  title: string;
  /** e.g. "Week 19, 6–12 May 2024". */
  periodLabel: string;
  timeZone: string;
  northStar?: DigestKpi;
  kpis: DigestKpi[];
  goals: DigestGoal[];
  okrs: DigestOkr[];
  firing: Array<{ ruleName: string; summary: string; since: string }>;
  link?: string;
}

export interface Channel {
  readonly name: string;
  readonly kind: 'slack' | 'email';
  /** Throws ConfigError (do not retry) or TransientError (retry later). */
  send(message: AlertNotification): Promise<void>;
  sendDigest(digest: Digest): Promise<void>;
}
