export { loadConfig, parseConfig, type Config, type ConfigCheck } from './loader.ts';
export type { KpiConfig, GoalConfig, OkrConfig, ReportConfig } from './schema.ts';
export { DIGEST_REPORT, reportsOf, type Report } from './reports.ts';
export type { AlertCondition, AlertRule, AlertSeries, AlertingConfig, MuteWindow, Weekday } from './alerts.ts';
export { alertRuleSchema, INHIBITABLE_KINDS, INHIBITING_KINDS } from './alerts.ts';
/** The base metrics a connector's config writes (its type's, or what csv/http_json map). */
export { connectorMetrics, settlingDaysOf, type ConnectorConfig } from '../connectors/catalog.ts';
export { connectorLabel, dimensionLabel } from './labels.ts';
export { configSummary, diffSummaries, formatDiff, isEmptyDiff, SECTIONS, SECTION_TITLES, type ConfigSummary, type ConfigDiff, type SectionName } from './summary.ts';
