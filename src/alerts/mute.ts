import { DateTime } from 'luxon';
import type { MuteWindow, Weekday } from '../config/index.ts';

const WEEKDAY_NUMBER: Record<Weekday, number> = { mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6, sun: 7 };

interface ActiveMute {
  name: string;
  window: MuteWindow;
  /** When notifications may go out again (after any windows that follow on directly). */
  endsAt: Date;
}

/** The window's stretches that touch [now - 1 day, now + 8 days], as instants. */
function stretches(window: MuteWindow, now: Date): Array<[number, number]> {
  const days = new Set(window.weekdays.map((d) => WEEKDAY_NUMBER[d]));
  const today = DateTime.fromJSDate(now).setZone(window.timezone).startOf('day');
  const out: Array<[number, number]> = [];
  for (let offset = -1; offset <= 8; offset++) {
    const day = today.plus({ days: offset });
    if (!days.has(day.weekday)) continue;
    for (const range of window.hours) {
      const [sh, sm, eh, em] = range.split(/[:-]/).map(Number) as [number, number, number, number];
      const start = day.set({ hour: sh, minute: sm });
      // An end at or before the start runs into the next day; 24:00 is the next midnight.
      const endDay = eh * 60 + em <= sh * 60 + sm ? day.plus({ days: 1 }) : day;
      // Calendar arithmetic, not hours: a DST day has 23 or 25 of them.
      const end = eh === 24 ? endDay.plus({ days: 1 }).startOf('day') : endDay.set({ hour: eh, minute: em });
      out.push([start.toMillis(), end.toMillis()]);
    }
  }
  return out;
}

/** Merged stretches, so "until" runs across a Friday-night window into a weekend one. */
function merged(list: Array<[number, number]>): Array<[number, number]> {
  const sorted = [...list].sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const [s, e] of sorted) {
    const last = out.at(-1);
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

export function muteEnd(window: MuteWindow, now: Date): Date | undefined {
  const t = now.getTime();
  const hit = merged(stretches(window, now)).find(([s, e]) => s <= t && t < e);
  return hit ? new Date(hit[1]) : undefined;
}

/** The first of the named windows in force at `now`, if any. */
export function activeMute(windows: Readonly<Record<string, MuteWindow>>, names: readonly string[], now: Date): ActiveMute | undefined {
  for (const name of names) {
    const window = windows[name];
    if (!window) continue;
    const endsAt = muteEnd(window, now);
    if (endsAt) return { name, window, endsAt };
  }
  return undefined;
}

export function describeMute(m: ActiveMute): string {
  const days = m.window.weekdays.length === 7 ? 'every day' : m.window.weekdays.join(',');
  return `mute window '${m.name}' (${days} ${m.window.hours.join(', ')} ${m.window.timezone})`;
}
