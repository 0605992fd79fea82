import type { RawConfig } from './schema.ts';

/** One scheduled report as the rest of the service sees it, whichever section it came from. */
export interface Report {
  name: string;
  /** Where it is configured, for errors: `reports[1]` or `digest`. */
  path: string;
  title?: string | undefined;
  kpis?: readonly string[] | undefined;
  northStar: boolean;
  grain: 'day' | 'week' | 'month';
  schedule: string;
  timezone: string;
  channels: readonly string[];
  periods: number;
}

/** The name the old `digest:` section's report goes by (its rows in digest_sends carry it). */
export const DIGEST_REPORT = 'digest';

/**
 * The reports of a config: each entry of `reports`, then the old `digest:` section as the
 * report named `digest`, with what it always meant (North Star first, its time zone's default
 * of UTC), so a config written before reports existed sends exactly what it sent before.
 */
export function reportsOf(raw: Pick<RawConfig, 'reports' | 'digest' | 'reporting'>): Report[] {
  const reports: Report[] = raw.reports.map((r, i) => ({
    name: r.name,
    path: `reports[${i}]`,
    title: r.title,
    kpis: r.kpis,
    northStar: r.northStar,
    grain: r.grain,
    schedule: r.schedule,
    timezone: r.timezone ?? raw.reporting.timezone,
    channels: r.channels,
    periods: r.periods,
  }));
  const d = raw.digest;
  if (d) {
    reports.push({ name: DIGEST_REPORT, path: 'digest', title: d.title, kpis: d.kpis, northStar: true, grain: d.grain, schedule: d.schedule, timezone: d.timezone, channels: d.channels, periods: d.periods });
  }
  return reports;
}
