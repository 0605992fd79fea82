export type Unit = 'percent' | 'currency' | 'count' | 'ratio';
export type Severity = 'critical' | 'warning' | 'info';

export interface AlertInstance {
  series: string;
  /** For unit 'percent', a fraction: 0.012 is shown as 1.2%. */
  value: number | null;
  threshold?: number | null;
  previous?: number | null;
  /** Already in percent: -12.5 means a 12.5% drop. */
  changePct?: number | null;
  unit: Unit;
  /** ISO 4217 code, for unit 'currency'. */
  currency?: string;
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

export type GoalStatus = 'on_track' | 'at_risk' | 'off_track' | 'achieved' | 'missed';

export interface KpiLine {
  name: string;
  label: string;
  unit: Unit;
  currency?: string;
  value: number | null;
  previous: number | null;
  /** Already in percent, like AlertInstance.changePct. */
  changePct: number | null;
  /** Which way is good. */
  direction: 'higher' | 'lower';
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
  northStar?: KpiLine;
  kpis: KpiLine[];
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
