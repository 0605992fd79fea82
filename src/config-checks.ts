import type { ConfigCheck } from './config/index.ts';
// The check modules themselves, not the packages' index files: every command loads these
// checks with the config, and the indexes bring the whole engines (and notification channels).
import { metricsChecks, metricsWarnings } from './metrics/config-checks.ts';
import { alertChecks } from './alerts/config-checks.ts';

/**
 * Whole-config checks that need more than one module (KPI formulas against the metric
 * vocabulary, goals against KPIs, alert rules against channels). Each module adds its own.
 */
export const configChecks: ConfigCheck[] = [...metricsChecks, ...alertChecks];

/** Whole-config findings that load anyway (`kpi validate` prints them as warnings). */
export const configWarnings: ConfigCheck[] = [...metricsWarnings];
