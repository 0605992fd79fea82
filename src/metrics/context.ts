import type { KpiConfig } from '../config/index.ts';
import type { Reporting } from './aggregate.ts';
import type { WeekStart } from './periods.ts';

/** What KPI computation needs from the configuration; a loaded Config is one. */
export interface MetricsConfig {
  kpis: readonly KpiConfig[];
  reporting: {
    currency: string;
    timezone: string;
    weekStart: WeekStart;
    /** Units of the reporting currency per unit of each other currency. */
    fxRates: Readonly<Record<string, number>>;
  };
  /** Which connectors count for a base metric that several write; every writer when left out. */
  metrics?: Readonly<Record<string, { readonly from: readonly string[] }>>;
}

/** The chosen connectors of each base metric that has a choice. */
export function metricSources(config: Pick<MetricsConfig, 'metrics'>): Readonly<Record<string, readonly string[]>> {
  return Object.fromEntries(Object.entries(config.metrics ?? {}).map(([metric, c]) => [metric, c.from]));
}

/** What the sums of base metrics depend on: the money conversion and which connectors count. */
export function reportingOf(config: MetricsConfig): Reporting {
  return { currency: config.reporting.currency, fxRates: config.reporting.fxRates, sources: metricSources(config) };
}
