import { DateTime, IANAZone } from 'luxon';
import type { KpiUnit } from '../core/vocabulary.ts';
import type { AlertInstance, ChangeTone } from './types.ts';

// One fixed locale: alerts go to shared channels, and tests must not depend on the host's.
const LOCALE = 'en-US';

const count = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
const percent = new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const ratio = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 2 });
const plain2 = new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const points = plain2;

export const NO_DATA = 'n/a';

/** A value as people read it: percent 1 decimal (from a fraction), currency with its code, counts grouped. */
export function formatValue(value: number | null | undefined, unit: KpiUnit, currency?: string): string {
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

/** "+5.75 pp" / "−5.75 pp": the difference of two percent values (fractions) in percentage points. */
export function formatPoints(diff: number | null | undefined): string {
  if (diff === null || diff === undefined || !Number.isFinite(diff)) return NO_DATA;
  const pp = Math.round(diff * 10_000) / 100;
  const sign = pp > 0 ? '+' : pp < 0 ? '−' : '±';
  return `${sign}${points.format(Math.abs(pp))} pp`;
}

/**
 * A KPI's change as people read it: percentage points for a percent KPI (−3.1% against 2.7%
 * is −5.75 pp, where a relative change would say −215%), percent for everything else.
 */
export function formatKpiChange(c: { value?: number | null; previous?: number | null; changePct?: number | null; unit: KpiUnit }): string {
  if (c.unit === 'percent' && isNum(c.value) && isNum(c.previous)) return formatPoints(c.value - c.previous);
  return formatChange(c.changePct);
}

const isNum = (v: number | null | undefined): v is number => v !== null && v !== undefined && Number.isFinite(v);

/** Changes smaller than these are shown without good or bad colour: percent of the previous value, and percentage points for percent KPIs. */
export interface Significance {
  percent: number;
  points: number;
}

export const DEFAULT_SIGNIFICANCE: Significance = { percent: 2, points: 1 };

/**
 * Good or bad news given which way the KPI should move (CAC down is good), or neutral when
 * the change is below the significance threshold or cannot be said.
 */
export function changeTone(c: { value: number | null; previous: number | null; changePct: number | null; unit: KpiUnit; direction: 'higher' | 'lower' }, significance: Significance = DEFAULT_SIGNIFICANCE): ChangeTone {
  const pp = c.unit === 'percent' && isNum(c.value) && isNum(c.previous) ? (c.value - c.previous) * 100 : undefined;
  const size = pp ?? c.changePct;
  if (!isNum(size) || size === 0) return 'neutral';
  if (Math.abs(size) < (pp !== undefined ? significance.points : significance.percent)) return 'neutral';
  return (c.direction === 'higher') === size > 0 ? 'good' : 'bad';
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

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/**
 * One line for a header or subject: no CR/LF (header injection, Slack headers), nor the
 * other control characters and Unicode line breaks that some clients also break lines at.
 */
export function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f\u0085\u2028\u2029]+/g, ' ').trim();
}


export const GOAL_STATUS_LABEL = {
  on_track: 'on track',
  at_risk: 'at risk',
  off_track: 'off track',
  achieved: 'achieved',
  missed: 'missed',
  waiting: 'waiting for complete data',
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
  waiting: '#98a2b3',
} as const;

export function formatProgress(progress: number): string {
  return Number.isFinite(progress) ? `${Math.round(progress * 100)}%` : NO_DATA;
}

/** One figure of an alert's series as messages show it: "Value 1.2%", "Usual range 500–900 (median 700)". */
export interface InstanceFact {
  title: string;
  text: string;
}

/** The figures of a series, in the order every channel shows them; an anomaly's is its usual range, not a "previous" value. */
export function instanceFacts(i: AlertInstance): InstanceFact[] {
  const fmt = (v: number | null | undefined) => formatValue(v, i.unit, i.currency);
  const facts: InstanceFact[] = [{ title: 'Value', text: fmt(i.value) }];
  if (i.usual) {
    facts.push({ title: 'Usual range', text: `${fmt(i.usual.lower)}–${fmt(i.usual.upper)} (median ${fmt(i.previous)})` });
  } else {
    if (isNum(i.threshold)) facts.push({ title: 'Threshold', text: fmt(i.threshold) });
    if (isNum(i.previous)) facts.push({ title: 'Previous', text: fmt(i.previous) });
  }
  const change = formatKpiChange(i);
  if (change !== NO_DATA) facts.push({ title: i.usual ? 'Change against the median' : 'Change', text: change });
  return facts;
}

/** A report that is a link, rather than a command line to run. */
export function isLink(report: string | undefined): report is string {
  return !!report && /^https?:\/\/\S+$/i.test(report);
}
