import type { Grain } from '../metrics/periods.ts';
import { addDays } from '../metrics/periods.ts';
import type { DateString } from '../warehouse/index.ts';

/**
 * Where an alert sends its reader for the whole picture: the period it judged in the web
 * console when `server.publicUrl` says where people reach this server (the series' KPI in the
 * explorer, restricted to its dimension value; the overview for a rule of no KPI), else the
 * `kpi report` command line that prints the report of that period.
 */

export interface ReportLinkConfig {
  server?: { publicUrl?: string | undefined };
}

export interface DashboardLinkConfig extends ReportLinkConfig {
  alerting: { link?: string | undefined };
}

/** The "Open dashboard" link of messages and digests: `alerting.link`, else the console at server.publicUrl, else none. */
export function dashboardLink(config: DashboardLinkConfig): string | undefined {
  if (config.alerting.link) return config.alerting.link;
  const base = config.server?.publicUrl;
  return base ? `${base.replace(/\/+$/, '')}/console/` : undefined;
}

export interface ReportTarget {
  grain: Grain;
  /** The last day of the period judged. */
  end: DateString;
  /** The period so far (to date), rather than a whole one. */
  toDate: boolean;
  /** The series: its KPI and dimension value, for the page to point out. */
  kpi?: string;
  dimension?: string;
  value?: string;
}

export function reportLink(config: ReportLinkConfig, t: ReportTarget): string {
  // `kpi report` reports the last whole period before --as-of, or the current one up to it.
  const asOf = t.toDate ? t.end : addDays(t.end, 1);
  const base = config.server?.publicUrl;
  if (base) {
    const query = new URLSearchParams({ grain: t.grain, period: t.toDate ? 'current' : 'last', as_of: asOf });
    if (t.kpi && t.dimension && t.dimension !== 'all') query.set(t.dimension, t.value ?? '');
    const root = base.replace(/\/+$/, '');
    return t.kpi ? `${root}/console/kpi/${encodeURIComponent(t.kpi)}?${query.toString()}` : `${root}/console/?${query.toString()}`;
  }
  return `kpi report --grain ${t.grain}${t.toDate ? ' --period current' : ''} --as-of ${asOf}`;
}
