import { DateTime } from 'luxon';
import type { DateWindow } from './connector.ts';

export function addDays(date: string, days: number): string {
  return DateTime.fromISO(date, { zone: 'UTC' }).plus({ days }).toISODate()!;
}

export function todayIn(timeZone: string, now: Date = new Date()): string {
  return DateTime.fromJSDate(now).setZone(timeZone).toISODate()!;
}

/** Every date of the window, in order. */
export function daysOf(window: DateWindow): string[] {
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
export function splitWindow(window: DateWindow, days: number): DateWindow[] {
  const out: DateWindow[] = [];
  for (let from = window.from; from <= window.to; from = addDays(from, days)) {
    out.push({ from, to: minDate(addDays(from, days - 1), window.to) });
  }
  return out;
}
