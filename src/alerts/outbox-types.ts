import type { AlertInstance, Severity } from '../notify/types.ts';

/** What the alert engine writes into alert_outbox.payload; one series of one rule, for one channel. */
export interface OutboxPayload {
  status: 'firing' | 'resolved';
  /** Shown in subjects and headers. */
  ruleName: string;
  severity: Severity;
  summary: string;
  /** The rule's description and runbook link, as configured when the row was written. */
  description?: string;
  runbook?: string;
  labels: Record<string, string>;
  instance: AlertInstance;
  /** ISO timestamps. */
  startsAt: string;
  endsAt?: string;
  /** Set on reminders of a still-firing alert. */
  repeat?: number;
}
