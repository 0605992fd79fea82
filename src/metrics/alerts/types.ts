import type { Kysely } from 'kysely';
import type { AlertRule, AlertingConfig } from '../../config/index.ts';
import type { AlertInstance } from '../../notify/index.ts';
import type { Database, DateString } from '../../warehouse/index.ts';
import type { Catalogue } from '../catalogue.ts';
import type { GoalsConfig } from '../goals.ts';
import type { PeriodSums } from '../period-sums.ts';
import type { Observed } from './state.ts';

/** What the alert engine needs from the configuration; a loaded Config is one. */
export interface AlertsConfig extends GoalsConfig {
  alerts: readonly AlertRule[];
  alerting: AlertingConfig;
  connectors: ReadonlyArray<{ name: string; enabled: boolean; freshnessHours: number }>;
}

/** What one rule saw for one of its series in one evaluation. */
export interface Observation {
  /** '' for a rule's single series; 'channel=email', 'connector=ga4', 'goal=q2' otherwise. */
  instance: string;
  /** The instance's own labels (its dimension value); the rule's are added later. */
  labels: Record<string, string>;
  seen: Observed;
  /** The series as the message shows it. */
  alert: AlertInstance;
  /** One line for the message, e.g. "Click-through rate (channel paid_search) 1.2% is below 2.0% on 2026-03-09". */
  summary: string;
}

export interface RuleContext {
  db: Kysely<Database>;
  config: AlertsConfig;
  rule: AlertRule;
  now: Date;
  /** Today in the reporting time zone. */
  asOf: DateString;
  catalogue: Catalogue;
  /** Period sums shared by the rules of one evaluation. */
  sums: PeriodSums;
}

export type Evaluator = (ctx: RuleContext) => Promise<Observation[]>;
