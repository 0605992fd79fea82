import type { KpiConfig } from '../config/index.ts';
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
}
