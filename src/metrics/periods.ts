import { DateTime } from 'luxon';
import type { DateString } from '../warehouse/index.ts';

export type Grain = 'day' | 'week' | 'month' | 'quarter';
export const grains: readonly Grain[] = ['day', 'week', 'month', 'quarter'];
export type WeekStart = 'monday' | 'sunday';

/** Both ends inclusive, as the dates facts carry. */
export interface Period {
  start: DateString;
  end: DateString;
}

const DAY_MS = 86_400_000;

/*
 * Facts carry local dates already (the source's reporting day), so periods are plain
 * calendar arithmetic on dates. Working in UTC days keeps a DST change or the host's
 * time zone from ever moving a date.
 */

function dayNumber(date: DateString): number {
  return Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10))) / DAY_MS;
}

function fromDayNumber(day: number): DateString {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

export function addDays(date: DateString, days: number): DateString {
  return fromDayNumber(dayNumber(date) + days);
}

/** Days from `a` to `b`; 0 when equal. */
export function daysBetween(a: DateString, b: DateString): number {
  return dayNumber(b) - dayNumber(a);
}

function addMonths(date: DateString, months: number): DateString {
  const index = Number(date.slice(0, 4)) * 12 + Number(date.slice(5, 7)) - 1 + months;
  const year = Math.floor(index / 12);
  return `${String(year).padStart(4, '0')}-${String(index - year * 12 + 1).padStart(2, '0')}-01`;
}

export function periodStart(date: DateString, grain: Grain, weekStart: WeekStart = 'monday'): DateString {
  switch (grain) {
    case 'day':
      return date;
    case 'week': {
      const day = dayNumber(date);
      // 1970-01-01 was a Thursday: (day + 4) % 7 is 0 on Sundays.
      const dow = (((day + 4) % 7) + 7) % 7;
      return fromDayNumber(day - (weekStart === 'monday' ? (dow + 6) % 7 : dow));
    }
    case 'month':
      return `${date.slice(0, 7)}-01`;
    case 'quarter': {
      const month = Number(date.slice(5, 7));
      return `${date.slice(0, 4)}-${String(month - ((month - 1) % 3)).padStart(2, '0')}-01`;
    }
  }
}

/** The start of the period `n` periods after the one starting at `start` (n may be negative). */
export function shiftPeriod(start: DateString, grain: Grain, n: number): DateString {
  switch (grain) {
    case 'day':
      return addDays(start, n);
    case 'week':
      return addDays(start, 7 * n);
    case 'month':
      return addMonths(start, n);
    case 'quarter':
      return addMonths(start, 3 * n);
  }
}

export function periodEnd(start: DateString, grain: Grain): DateString {
  return addDays(shiftPeriod(start, grain, 1), -1);
}

export function periodOf(date: DateString, grain: Grain, weekStart: WeekStart = 'monday'): Period {
  const start = periodStart(date, grain, weekStart);
  return { start, end: periodEnd(start, grain) };
}

/** Every period of the grain that intersects [from, to], oldest first. */
export function periodsBetween(from: DateString, to: DateString, grain: Grain, weekStart: WeekStart = 'monday'): Period[] {
  const out: Period[] = [];
  for (let start = periodStart(from, grain, weekStart); start <= to; start = shiftPeriod(start, grain, 1)) {
    out.push({ start, end: periodEnd(start, grain) });
  }
  return out;
}

/** Today's date where the business reports, which is not the server's date near midnight. */
export function todayIn(timeZone: string): DateString {
  return dateIn(new Date(), timeZone);
}

/** The local date of an instant in a zone. */
export function dateIn(instant: Date, timeZone: string): DateString {
  return DateTime.fromJSDate(instant).setZone(timeZone).toISODate() ?? instant.toISOString().slice(0, 10);
}

export function isDateString(value: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(value) && fromDayNumber(dayNumber(value)) === value;
}
