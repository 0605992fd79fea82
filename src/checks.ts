import type { ConfigCheck } from './config/index.ts';
import { metricsChecks } from './metrics/index.ts';
import { alertChecks } from './metrics/alerts/index.ts';

/**
 * Whole-config checks that need more than one module (KPI formulas against the metric
 * vocabulary, goals against KPIs, alert rules against channels). Each module adds its own.
 */
export const configChecks: ConfigCheck[] = [...metricsChecks, ...alertChecks];
