import type { Kysely } from 'kysely';
import type { AlertRule, AlertingConfig } from '../config/index.ts';
import type { AlertInstance } from '../notify/index.ts';
import type { Database, DateString } from '../warehouse/index.ts';
import type { Catalogue } from '../metrics/catalogue.ts';
import type { GoalsAssessment, GoalsConfig } from '../metrics/goals.ts';
import type { Completeness } from '../metrics/completeness.ts';
import type { PeriodSums } from '../metrics/period-sums.ts';
import type { Observed } from './state.ts';

/** What the alert engine needs from the configuration; a loaded Config is one. */
export interface AlertsConfig extends GoalsConfig {
  alerts: readonly AlertRule[];
  alerting: AlertingConfig;
  /** Only the names: delivery_failure rules watch every channel unless told which. */
  channels: Readonly<Record<string, unknown>>;
  /** Where people reach the report page, for the links in messages. */
  server?: { publicUrl?: string | undefined };
  /** Where `kpi connect` records when tokens were obtained (token_expiry rules read it); ./data when left out. */
  dataDir?: string;
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
  /** Which days the data is complete through, read once per evaluation. */
  completeness: Completeness;
  /** Every goal as of `asOf`, assessed once for all the goal rules of one evaluation. */
  goals(): Promise<GoalsAssessment>;
}

export type Evaluator = (ctx: RuleContext) => Promise<Observation[]>;
