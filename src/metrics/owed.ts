import { sql, type Kysely } from 'kysely';
import type { Database, DateString } from '../warehouse/index.ts';
import { reportingOf, type MetricsConfig } from './context.ts';
import { basisOf } from './day-state.ts';
import { addDays } from './periods.ts';
import { recompute, type RecomputeResult } from './recompute.ts';
import type { DateRange } from '../core/dates.ts';

/**
 * KPI work owed to the facts. Every write to metric_facts moves its dates' facts version
 * (triggers, migration 006), and recompute records the version its day points were computed
 * from, so a day whose two versions differ has facts its KPI values were not computed from:
 * a process killed between a sync's commit and its recompute, a recompute that failed, a
 * manual edit of the facts. Those days are found here, whoever left them, and every recompute
 * takes them along, so nothing depends on the job that touched the data surviving.
 */

/** The runs of consecutive days whose KPI values are behind their facts, oldest first. */
export async function owedRanges(db: Kysely<Database>, config: MetricsConfig): Promise<DateRange[]> {
  const basis = basisOf(reportingOf(config));
  const { rows } = await sql<{ date: DateString }>`
    select date::text as date from kpi_days
    where points_version is distinct from facts_version or basis is distinct from ${basis}
    order by date
  `.execute(db);
  const out: DateRange[] = [];
  for (const { date } of rows) {
    const last = out.at(-1);
    if (last && date === addDays(last.to, 1)) last.to = date;
    else out.push({ from: date, to: date });
  }
  return out;
}

/** Ranges merged where they overlap or touch, in date order. */
function merged(ranges: DateRange[]): DateRange[] {
  const out: DateRange[] = [];
  for (const r of [...ranges].sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0))) {
    const last = out.at(-1);
    if (last && r.from <= addDays(last.to, 1)) {
      if (r.to > last.to) last.to = r.to;
    } else {
      out.push({ ...r });
    }
  }
  return out;
}

/**
 * Recomputes `range` (when given) together with every range of days owed, each run of days
 * on its own so that two owed days a year apart do not recompute the year between them.
 */
export async function recomputeOwed(db: Kysely<Database>, config: MetricsConfig, range?: DateRange): Promise<RecomputeResult[]> {
  const ranges = merged([...(range ? [range] : []), ...(await owedRanges(db, config))]);
  const results: RecomputeResult[] = [];
  for (const r of ranges) results.push(await recompute(db, config, r));
  return results;
}
