import { DateTime } from 'luxon';

/** A date as YYYY-MM-DD: a reporting date in an account's or the report's zone, never a JS Date. */
export type DateString = string;

/** An inclusive range of dates: a sync window, a backfill, the days a recompute revisits. */
export interface DateRange {
  from: DateString;
  to: DateString;
}

/**
 * Whether text is a real YYYY-MM-DD day (2024-02-29 is, 2026-02-30 is not). Plain arithmetic:
 * a sync asks this of every fact, and a luxon parse per fact was most of a sync's CPU.
 */
export function isCalendarDate(value: string): boolean {
  if (value.length !== 10 || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const year = Number(value.slice(0, 4));
  const month = Number(value.slice(5, 7));
  const day = Number(value.slice(8, 10));
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return day <= days;
}

export function addDays(date: string, days: number): string {
  return DateTime.fromISO(date, { zone: 'UTC' }).plus({ days }).toISODate()!;
}

export function todayIn(timeZone: string, now: Date = new Date()): string {
  return DateTime.fromJSDate(now).setZone(timeZone).toISODate()!;
}

/** Every date of the window, in order. */
export function daysOf(window: DateRange): string[] {
  const out: string[] = [];
  for (let d = window.from; d <= window.to; d = addDays(d, 1)) out.push(d);
  return out;
}

export function maxDate(a: string, b: string): string {
  return a > b ? a : b;
}

export function minDate(a: string, b: string): string {
  return a < b ? a : b;
}

/** Splits a window into consecutive windows of at most `days` days (for APIs that refuse long ranges). */
export function splitWindow(window: DateRange, days: number): DateRange[] {
  const out: DateRange[] = [];
  for (let from = window.from; from <= window.to; from = addDays(from, days)) {
    out.push({ from, to: minDate(addDays(from, days - 1), window.to) });
  }
  return out;
}

/**
 * A record's date text, to put records in date order before they are validated; '' for
 * anything else (its schema refuses it afterwards). Never String(): a value nested 100,000
 * deep, which JSON.parse reads, overflows the stack there and fails the whole sync.
 */
export function dateTextOf(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
