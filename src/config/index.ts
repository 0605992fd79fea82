export { loadConfig, parseConfig, resolveConfigPath, formatPath, parsePath, type Config, type ConfigCheck, type LoadOptions } from './loader.ts';
export { configSchema, kpiConfigSchema, goalConfigSchema, okrConfigSchema, type KpiConfig, type GoalConfig, type OkrConfig } from './schema.ts';
export {
  alertRuleSchema,
  alertingSchema,
  channelsSchema,
  parseDuration,
  weekdays,
  type AlertCondition,
  type AlertRule,
  type AlertSeries,
  type AlertingConfig,
  type MuteWindow,
  type Weekday,
} from './alerts.ts';
