import { DateTime, IANAZone } from 'luxon';
import type { Unit } from './types.ts';

// One fixed locale: alerts go to shared channels, and tests must not depend on the host's.
const LOCALE = 'en-US';

const count = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
const percent = new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const ratio = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 2 });
const plain2 = new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 2, maximumFractionDigits: 2 });

export const NO_DATA = 'n/a';

/** A value as people read it: percent 1 decimal (from a fraction), currency with its code, counts grouped. */
export function formatValue(value: number | null | undefined, unit: Unit, currency?: string): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return NO_DATA;
  switch (unit) {
    case 'percent':
      return `${percent.format(value * 100)}%`;
    case 'count':
      return count.format(value);
    case 'ratio':
      return ratio.format(value);
    case 'currency':
      return formatMoney(value, currency);
  }
}

/** One formatter per currency: building an Intl.NumberFormat costs tens of microseconds, and an alert evaluation formats thousands of values. */
const moneyFormats = new Map<string, Intl.NumberFormat>();

function formatMoney(value: number, currency: string | undefined): string {
  if (!currency) return plain2.format(value);
  try {
    let format = moneyFormats.get(currency);
    if (!format) {
      // Intl knows each currency's minor units (JPY has none); the code avoids "$" meaning several currencies.
      format = new Intl.NumberFormat(LOCALE, { style: 'currency', currency, currencyDisplay: 'code' });
      moneyFormats.set(currency, format);
    }
    return format.format(value).replace(/\u00a0/g, ' ');
  } catch {
    return `${currency} ${plain2.format(value)}`;
  }
}

/** "+12.5%" / "−3.0%"; changePct is already in percent. */
export function formatChange(changePct: number | null | undefined): string {
  if (changePct === null || changePct === undefined || !Number.isFinite(changePct)) return NO_DATA;
  const sign = changePct > 0 ? '+' : changePct < 0 ? '−' : '±';
  return `${sign}${percent.format(Math.abs(changePct))}%`;
}

/** "2024-05-06 14:30 GMT+2 (Europe/Berlin)"; an unknown zone falls back to UTC, and says so. */
export function formatTime(iso: string, timeZone: string): string {
  const zone = IANAZone.isValidZone(timeZone) ? timeZone : 'UTC';
  const t = DateTime.fromISO(iso, { setZone: true });
  if (!t.isValid) return iso;
  const local = t.setZone(zone);
  return `${local.toFormat('yyyy-MM-dd HH:mm', { locale: LOCALE })} ${local.toFormat('ZZZZ', { locale: LOCALE })} (${zone})`;
}

/** "2h 5m"; for how long a resolved alert was firing. */
export function formatDuration(fromIso: string, toIso: string): string | undefined {
  const ms = DateTime.fromISO(toIso).toMillis() - DateTime.fromISO(fromIso).toMillis();
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  const minutes = Math.round(ms / 60_000);
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  return [d ? `${d}d` : '', h ? `${h}h` : '', m || (!d && !h) ? `${m}m` : ''].filter(Boolean).join(' ');
}

/** Cuts to at most `max` UTF-16 units, ending with "…", without splitting a surrogate pair. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= 0) return '';
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** One line for a header or subject: no CR/LF (header injection, Slack headers). */
export function oneLine(text: string): string {
  return text.replace(/[\r\n\t]+/g, ' ').trim();
}

/** Whether a change is good news given which way the KPI should move; undefined when flat or unknown. */
export function isGoodChange(changePct: number | null | undefined, direction: 'higher' | 'lower'): boolean | undefined {
  if (changePct === null || changePct === undefined || !Number.isFinite(changePct) || changePct === 0) return undefined;
  return direction === 'higher' ? changePct > 0 : changePct < 0;
}

export const GOAL_STATUS_LABEL = {
  on_track: 'on track',
  at_risk: 'at risk',
  off_track: 'off track',
  achieved: 'achieved',
  missed: 'missed',
} as const;

/** Shared by Slack's colour bar and the emails, so one alert looks the same everywhere. */
export const ALERT_COLORS = {
  critical: '#d92d20',
  warning: '#f79009',
  info: '#439fe0',
  resolved: '#2eb886',
} as const;

export const GOAL_STATUS_COLOR = {
  on_track: ALERT_COLORS.resolved,
  at_risk: ALERT_COLORS.warning,
  off_track: ALERT_COLORS.critical,
  achieved: ALERT_COLORS.resolved,
  missed: ALERT_COLORS.critical,
} as const;

export function formatProgress(progress: number): string {
  return Number.isFinite(progress) ? `${Math.round(progress * 100)}%` : NO_DATA;
}
