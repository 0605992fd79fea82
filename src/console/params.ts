import type { Config } from '../config/index.ts';
import { isCalendarDate } from '../core/dates.ts';
import { loadCatalogue, periodOf, shiftPeriod, todayIn, type Grain, type Period } from '../metrics/index.ts';

/**
 * The state a page's URL holds, read and checked once: a link shared (or an alert's) shows
 * the same thing to whoever opens it. A bad parameter is a 400 saying which and what it accepts.
 */

export type Query = Readonly<Record<string, string>>;

export const GRAINS: readonly Grain[] = ['day', 'week', 'month', 'quarter'];
export const DIMENSIONS = ['all', 'connector', 'channel', 'campaign'] as const;
export type Breakdown = (typeof DIMENSIONS)[number];

export class BadRequest extends Error {}

const EARLIEST_AS_OF = '1970-01-01';
const LATEST_AS_OF = '2999-12-31';

export interface PeriodChoice {
  grain: Grain;
  period: 'last' | 'current';
  asOf: string;
}

/** grain, period and as_of, with the defaults `kpi report` has. */
export function periodChoice(query: Query, config: Config): PeriodChoice {
  const grain = (query.grain || 'week') as Grain;
  const period = query.period || 'last';
  if (!GRAINS.includes(grain)) throw new BadRequest(`grain must be one of ${GRAINS.join(', ')}`);
  if (period !== 'last' && period !== 'current') throw new BadRequest('period must be last or current');
  return { grain, period, asOf: asOfDate(query, config) };
}

/** as_of: a calendar date in the years a page can step back and forth from; today (in the reporting zone) when left out. */
export function asOfDate(query: Query, config: Config): string {
  const asOf = query.as_of || todayIn(config.reporting.timezone);
  if (!isCalendarDate(asOf)) throw new BadRequest('as_of must be a date as YYYY-MM-DD');
  // Periods before as-of are read too: a year near 0 or 9999 would step off the calendar.
  if (asOf < EARLIEST_AS_OF || asOf > LATEST_AS_OF) throw new BadRequest(`as_of must be a date from ${EARLIEST_AS_OF} to ${LATEST_AS_OF}`);
  return asOf;
}

export function checkKpi(name: string, config: Config): string {
  if (!loadCatalogue(config.kpis).get(name)) throw new BadRequest('kpi is no KPI of this configuration');
  return name;
}

/** How many periods a chart shows, by grain, unless the URL says. */
const DEFAULT_PERIODS: Record<Grain, number> = { day: 28, week: 12, month: 12, quarter: 8 };

export function periodCount(query: Query, grain: Grain): number {
  if (!query.periods) return DEFAULT_PERIODS[grain];
  const n = Number(query.periods);
  if (!Number.isInteger(n) || n < 2 || n > 366) throw new BadRequest('periods must be a whole number from 2 to 366');
  return n;
}

export function breakdown(query: Query): Breakdown {
  const by = (query.by || 'all') as Breakdown;
  if (!DIMENSIONS.includes(by)) throw new BadRequest(`by must be one of ${DIMENSIONS.join(', ')}`);
  return by;
}

/** The query string of a choice, for links between pages. */
export function queryOf(values: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The period `kpi report --period last` shows: the whole one before as-of's. */
export function lastWholePeriod(choice: PeriodChoice, weekStart: 'monday' | 'sunday'): Period {
  return periodOf(shiftPeriod(periodOf(choice.asOf, choice.grain, weekStart).start, choice.grain, -1), choice.grain, weekStart);
}
