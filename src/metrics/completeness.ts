import type { Kysely } from 'kysely';
import { connectorMetrics, settlingDaysOf, type ConnectorConfig } from '../config/index.ts';
import type { DateString } from '../core/dates.ts';
import { baseMetricNames } from '../core/vocabulary.ts';
import { connectorCompleteness, replaceKpiSources, type Database } from '../warehouse/index.ts';
import { loadCatalogue, type Catalogue } from './catalogue.ts';
import { metricSources, type MetricsConfig } from './context.ts';
import { addDays, periodOf, shiftPeriod, type Grain, type Period, type WeekStart } from './periods.ts';

/**
 * Which days the warehouse holds all of. A day is complete for a connector when every stream
 * of it (account, property, file) has synced through that day, the day is older than the
 * source's settling delay, and no backfill of it is running (the sync keeps this in
 * checkpoints.complete_through and connector_progress; the connector_completeness view reads
 * it). A KPI's day is complete when every enabled connector that feeds it is: the connectors
 * whose metrics (known from the config, before any sync) the KPI's formula uses. A connector
 * that has never synced feeds nothing complete, so a new installation or a new connector
 * makes the KPIs it feeds wait. A KPI that no configured connector feeds has nothing to wait
 * for: its facts came from elsewhere (a manual load, an import), and are taken as they are.
 *
 * Alert rules, goal assessments and the digest read complete days only; reports mark the
 * periods that are not.
 */

/** Later than any date: what `through` says of a KPI with nothing to wait for. */
export const ALL_COMPLETE: DateString = '9999-12-31';

export interface CompletenessConfig extends MetricsConfig {
  connectors: readonly ConnectorConfig[];
}

export interface Completeness {
  /** The last complete day of each enabled connector; null while none is. */
  readonly connectors: ReadonlyMap<string, DateString | null>;
  /** The enabled connectors feeding `kpi`. */
  sourcesOf(kpi: string): readonly string[];
  /**
   * The last day through which every connector feeding `kpi` is complete; null when no day
   * is; ALL_COMPLETE when no configured connector feeds it.
   */
  through(kpi: string): DateString | null;
  /**
   * The last day that should be complete for `kpi` when its sources are on time: the day
   * before yesterday, less the longest settling delay among them. A KPI complete through an
   * earlier day is behind.
   */
  due(kpi: string, asOf: DateString): DateString;
}

/**
 * The enabled connectors whose metrics a KPI reads (through its filter's connectors, if it
 * names any). A metric with a choice of connectors (config `metrics`) is fed by those only.
 */
function feeding(config: CompletenessConfig, catalogue: Catalogue, kpi: string): string[] {
  // A base metric is a KPI of its own, summing itself.
  const metrics = new Set(catalogue.compiled(kpi)?.baseMetrics ?? (baseMetricNames.has(kpi) ? [kpi] : []));
  const only = catalogue.get(kpi)?.filter?.connector;
  const named = only === undefined ? undefined : new Set(typeof only === 'string' ? [only] : only);
  const chosen = metricSources(config);
  const counts = (name: string, metric: string) => metrics.has(metric) && (chosen[metric] === undefined || chosen[metric].includes(name));
  return config.connectors.filter((c) => c.enabled && (!named || named.has(c.name)) && connectorMetrics(c).some((m) => counts(c.name, m))).map((c) => c.name);
}

export async function loadCompleteness(db: Kysely<Database>, config: CompletenessConfig, catalogue: Catalogue = loadCatalogue(config.kpis)): Promise<Completeness> {
  const stored = await connectorCompleteness(db);
  const connectors = new Map(config.connectors.filter((c) => c.enabled).map((c) => [c.name, stored.get(c.name) ?? null] as const));
  const sources = new Map<string, string[]>();
  const sourcesOf = (kpi: string) => {
    let found = sources.get(kpi);
    if (!found) sources.set(kpi, (found = feeding(config, catalogue, kpi)));
    return found;
  };
  const settling = new Map(config.connectors.map((c) => [c.name, settlingDaysOf(c)] as const));
  return {
    connectors,
    sourcesOf,
    due(kpi, asOf) {
      const lag = Math.max(0, ...sourcesOf(kpi).map((name) => settling.get(name) ?? 0));
      // A source's days are its account's (a Google Ads account in Los Angeles), which end up
      // to a day after the reporting zone's (Auckland): at 01:00 on the 11th in Auckland the
      // account's 10th is not over, and through the 9th is on time. Asking for yesterday in
      // the reporting zone kept every rule on such a source waiting most of each day.
      return addDays(asOf, -2 - lag);
    },
    through(kpi) {
      const from = sourcesOf(kpi);
      if (from.length === 0) return ALL_COMPLETE;
      let least: DateString | null = null;
      for (const name of from) {
        const day = connectors.get(name) ?? null;
        if (day === null) return null;
        if (least === null || day < least) least = day;
      }
      return least;
    },
  };
}

/** Which connectors feed each KPI, as the kpi_sources rows the kpi_values view's `complete` column reads. */
export function kpiSourceRows(config: CompletenessConfig): Array<{ kpi: string; connector: string }> {
  const catalogue = loadCatalogue(config.kpis);
  return catalogue.list().flatMap((d) => {
    const from = feeding(config, catalogue, d.name);
    // '' says "no source": the view takes such a KPI as complete, and one without rows (never refreshed) as not.
    return (from.length > 0 ? from : ['']).map((connector) => ({ kpi: d.name, connector }));
  });
}

/** Writes which connectors feed each KPI, for the kpi_values view's `complete` column. */
export async function refreshKpiSources(db: Kysely<Database>, config: CompletenessConfig): Promise<void> {
  await replaceKpiSources(db, kpiSourceRows(config));
}

/** The last period of `grain` that ends by `day`. */
function lastPeriodBy(day: DateString, grain: Grain, weekStart: WeekStart): Period {
  const containing = periodOf(day, grain, weekStart);
  return containing.end <= day ? containing : periodOf(shiftPeriod(containing.start, grain, -1), grain, weekStart);
}

/**
 * The last complete period of `grain` for `kpi` as of `asOf`: the last that ends by the day
 * its data is complete through. Null while there is none, and while the KPI is behind: when
 * that period is older than the one its sources should have completed by now (a source
 * failing, a backfill rewriting recent days), an older period is not what a rule or a report
 * on "the last period" means, and judging it would resolve alerts on stale days.
 */
export function lastCompletePeriod(completeness: Completeness, kpi: string, asOf: DateString, grain: Grain, weekStart: WeekStart): Period | null {
  const through = completeness.through(kpi);
  if (through === null) return null;
  const yesterday = addDays(asOf, -1);
  const latest = lastPeriodBy(through < yesterday ? through : yesterday, grain, weekStart);
  const due = lastPeriodBy(completeness.due(kpi, asOf), grain, weekStart);
  return latest.end < due.end ? null : latest;
}
