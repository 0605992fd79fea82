import { dimensionLabel, type AlertCondition, type AlertSeries } from '../config/index.ts';
import { formatChange, formatPoints, formatValue, type AlertInstance } from '../notify/index.ts';
import type { DateString } from '../warehouse/index.ts';
import type { Filter } from '../metrics/filters.ts';
import { addDays, daysBetween, periodOf, periodStart, shiftPeriod, type Grain, type Period } from '../metrics/periods.ts';
import type { PeriodsQuery } from '../metrics/period-sums.ts';
import { lastCompletePeriod } from '../metrics/completeness.ts';
import { kpiSeries, kpiWindows, type WindowValues } from '../metrics/series.ts';
import { judge } from './anomaly.ts';
import { reportLink } from './report-link.ts';
import { stripRuleLabels } from './store.ts';
import type { Observation, RuleContext } from './types.ts';

type Condition<K extends AlertCondition['kind']> = Extract<AlertCondition, { kind: K }>;

interface SeriesInfo {
  label: string;
  unit: AlertInstance['unit'];
  currency?: string;
  /** A dimension value in words ("Google Ads" for the connector google-ads). */
  words: (dimension: Exclude<AlertSeries['dimension'], 'all'>, value: string) => string;
}

function seriesInfo(ctx: RuleContext, kpi: string): SeriesInfo {
  const def = ctx.catalogue.get(kpi);
  if (!def) throw new Error(`KPI '${kpi}' is not in the catalogue`);
  const words = (dimension: Exclude<AlertSeries['dimension'], 'all'>, value: string) => (dimension === 'campaign' && value ? `campaign ${value}` : dimensionLabel(ctx.config.connectors, dimension, value));
  return { label: def.label, unit: def.unit, words, ...(def.unit === 'currency' ? { currency: ctx.config.reporting.currency } : {}) };
}

/**
 * The instance is keyed by the dimension value (a campaign's id key survives a rename); people
 * see its label in words: "Clicks, Google Ads".
 */
function instanceOf(info: SeriesInfo, series: AlertSeries, dimensionValue: string, label: string): { instance: string; labels: Record<string, string>; name: string } {
  if (series.dimension === 'all') return { instance: '', labels: {}, name: info.label };
  return {
    instance: `${series.dimension}=${dimensionValue}`,
    labels: { [series.dimension]: label },
    name: `${info.label}, ${info.words(series.dimension, label)}`,
  };
}

/** The series in a sentence: "Clicks (Google Ads)". */
function titled(info: SeriesInfo, series: AlertSeries, label: string): string {
  return series.dimension === 'all' ? info.label : `${info.label} (${info.words(series.dimension, label)})`;
}

/** The report of the period judged, for one series of the rule. */
function seriesReport(ctx: RuleContext, series: AlertSeries, dimensionValue: string, period: { end: DateString; toDate: boolean }): string {
  return reportLink(ctx.config, { grain: series.grain, end: period.end, toDate: period.toDate, kpi: series.kpi, dimension: series.dimension, value: dimensionValue });
}

function describePeriod(p: Period, grain: Grain, partial: boolean): string {
  const soFar = partial ? ' so far' : '';
  switch (grain) {
    case 'day':
      return `on ${p.start}${soFar}`;
    case 'week':
      return `in the week of ${p.start}${soFar}`;
    case 'month':
      return `in ${p.start.slice(0, 7)}${soFar}`;
    case 'quarter':
      return `in ${p.start.slice(0, 4)}-Q${Math.floor(Number(p.start.slice(5, 7)) / 3) + 1}${soFar}`;
  }
}

type Watched = { period: Period; to: DateString; partial: boolean } | { waiting: string };

/**
 * The period a rule looks at: the last one over (or the current one so far), read only as far
 * as the data is complete (src/metrics/completeness.ts) unless the rule opts in to partial
 * data. 'last' is the last period that ends by the last complete day; 'current' is the
 * current period up to that day. Nothing complete yet: the rule waits.
 */
function watchedPeriod(ctx: RuleContext, series: AlertSeries): Watched {
  const weekStart = ctx.config.reporting.weekStart;
  const current = periodOf(ctx.asOf, series.grain, weekStart);
  if (ctx.rule.partialData) {
    if (series.period === 'current') return { period: current, to: ctx.asOf, partial: current.end > ctx.asOf };
    const last = periodOf(shiftPeriod(current.start, series.grain, -1), series.grain, weekStart);
    return { period: last, to: last.end, partial: false };
  }
  const through = ctx.completeness.through(series.kpi);
  const due = ctx.completeness.due(series.kpi, ctx.asOf);
  if (series.period === 'current') {
    // So far, as far as the data is in; a source behind would make "so far" misleading.
    if (through === null || through < current.start || through < due) return { waiting: waitingReason(ctx, series.kpi, through, due) };
    const to = through < ctx.asOf ? through : ctx.asOf;
    return { period: current, to, partial: current.end > to };
  }
  const last = lastCompletePeriod(ctx.completeness, series.kpi, ctx.asOf, series.grain, weekStart);
  if (!last) return { waiting: waitingReason(ctx, series.kpi, through, due) };
  return { period: last, to: last.end, partial: false };
}

/** Why a series waits: which of its sources are not complete far enough, in words. */
function waitingReason(ctx: RuleContext, kpi: string, through: DateString | null, needed: DateString | null): string {
  const label = ctx.catalogue.get(kpi)?.label ?? kpi;
  const behind = ctx.completeness
    .sourcesOf(kpi)
    .map((name) => ({ name, day: ctx.completeness.connectors.get(name) ?? null }))
    .filter((s) => s.day === null || (needed !== null && s.day < needed) || s.day === through)
    .map((s) => (s.day === null ? `${s.name} has no complete day yet` : `${s.name} is complete through ${s.day}`));
  return `${label}: waiting for complete data (${behind.join('; ') || `complete through ${through ?? 'no day yet'}`})`;
}

/** The rule's known series, waiting: their state stays as it is, and a new rule sends nothing. */
async function waitingFor(ctx: RuleContext, reason: string): Promise<Observation[]> {
  const known = await ctx.db.selectFrom('alert_instances').select(['instance', 'labels']).where('rule', '=', ctx.rule.name).execute();
  return known.map((k) => ({ instance: k.instance, labels: stripRuleLabels(k.labels, ctx.rule), seen: { kind: 'waiting', reason }, alert: { series: k.instance || ctx.rule.name, value: null, unit: 'count' }, summary: reason }));
}

const filterOf = (series: AlertSeries): { filter?: Filter } => (series.filter ? { filter: series.filter as Filter } : {});

/** Whole periods of the rule's series, read through the evaluation's shared sums. */
function periodsQuery(series: AlertSeries, kpi: string, periods: DateString[]): PeriodsQuery {
  return { kpi, grain: series.grain, periods, dimension: series.dimension, ...filterOf(series) };
}

/** Whether the KPI uses previous(), directly or through the KPIs it is made of. */
const looksBack = (ctx: RuleContext, kpi: string): boolean => (ctx.catalogue.compiled(kpi)?.usesPrevious ?? 0) > 0;

/** What the series rules read through ctx.sums; announced before the first rule reads, so rules on the same periods read them once. */
export function plannedReads(ctx: RuleContext): PeriodsQuery[] {
  const series = ctx.rule.series;
  const cond = ctx.rule.condition;
  if (!series) return [];
  switch (cond.kind) {
    case 'threshold':
      return [thresholdQuery(ctx, series)].filter((q) => q !== undefined);
    case 'change':
      return [changeQuery(ctx, series, cond)].filter((q) => q !== undefined);
    case 'anomaly': {
      const queries = anomalyQueries(ctx, series, cond);
      if ('waiting' in queries) return [];
      return queries.volume ? [queries.current, queries.volume] : [queries.current];
    }
    default:
      return [];
  }
}

interface SeriesValue {
  dimensionValue: string;
  dimensionLabel: string;
  value: number | null;
}

/** Dimension values seen before but absent now still get an observation: they have no data. */
function noData(series: AlertSeries, info: SeriesInfo, dimensionValue: string, label: string, when: string): Observation {
  const id = instanceOf(info, series, dimensionValue, label);
  const summary = `${titled(info, series, label)} has no value ${when}`;
  return { instance: id.instance, labels: id.labels, seen: { kind: 'no_data', reason: summary }, alert: { series: id.name, value: null, unit: info.unit, ...(info.currency ? { currency: info.currency } : {}) }, summary };
}

/** The watched period when it is complete; one still running is read up to today with kpiSeries. */
function thresholdQuery(ctx: RuleContext, series: AlertSeries): PeriodsQuery | undefined {
  const watched = watchedPeriod(ctx, series);
  return 'waiting' in watched || watched.partial ? undefined : periodsQuery(series, series.kpi, [watched.period.start]);
}

async function thresholdValues(ctx: RuleContext, series: AlertSeries, to: DateString, period: Period): Promise<SeriesValue[]> {
  const query = thresholdQuery(ctx, series);
  if (query) return (await ctx.sums.values(query)).map((r) => ({ dimensionValue: r.dimensionValue, dimensionLabel: r.dimensionLabel, value: r.values[0] ?? null }));
  const points = await kpiSeries(ctx.db, ctx.config, { kpi: series.kpi, grain: series.grain, dimension: series.dimension, from: period.start, to, ...filterOf(series) });
  return points.map((p) => ({ dimensionValue: p.dimensionValue, dimensionLabel: p.dimensionLabel, value: p.value }));
}

export async function thresholdRule(ctx: RuleContext): Promise<Observation[]> {
  const series = ctx.rule.series!;
  const cond = ctx.rule.condition as Condition<'threshold'>;
  const info = seriesInfo(ctx, series.kpi);
  const watched = watchedPeriod(ctx, series);
  if ('waiting' in watched) return waitingFor(ctx, watched.waiting);
  const { period, to, partial } = watched;
  const when = describePeriod(period, series.grain, partial);
  const points = await thresholdValues(ctx, series, to, period);
  const fmt = (v: number) => formatValue(v, info.unit, info.currency);
  return points.map((p) => {
    if (p.value === null) return noData(series, info, p.dimensionValue, p.dimensionLabel, when);
    const v = p.value;
    const id = instanceOf(info, series, p.dimensionValue, p.dimensionLabel);
    const breach = cond.op === 'below' ? v < cond.threshold : v > cond.threshold;
    const recovery = cond.recovery ?? cond.threshold;
    const clear = cond.op === 'below' ? v >= recovery : v <= recovery;
    const relation = breach
      ? `is ${cond.op} ${fmt(cond.threshold)}`
      : clear
        ? `is not ${cond.op} ${fmt(cond.threshold)}`
        : `is not ${cond.op} ${fmt(cond.threshold)} but not back to ${fmt(recovery)} yet`;
    const summary = `${titled(info, series, p.dimensionLabel)} ${fmt(v)} ${relation} ${when}`;
    return {
      instance: id.instance,
      labels: id.labels,
      seen: { kind: 'value', breach, clear: breach ? false : clear, reason: summary },
      alert: {
        series: id.name,
        value: v,
        threshold: cond.threshold,
        unit: info.unit,
        ...(info.currency ? { currency: info.currency } : {}),
        report: seriesReport(ctx, series, p.dimensionValue, { end: to, toDate: partial || series.period === 'current' }),
      },
      summary,
    };
  });
}

/** The window compared with the watched one: the same stretch `against` periods earlier. */
function comparisonWindows(ctx: RuleContext, series: AlertSeries, cond: Condition<'change'>): { current: Period; earlier: Period; partial: boolean } | { waiting: string } {
  const weekStart = ctx.config.reporting.weekStart;
  if (cond.toDate) {
    const watched = watchedPeriod(ctx, { ...series, period: 'current' });
    if ('waiting' in watched) return watched;
    const current = { start: watched.period.start, end: watched.to };
    const earlierPeriod = periodOf(shiftPeriod(current.start, series.grain, -cond.against), series.grain, weekStart);
    const sameLength = addDays(earlierPeriod.start, daysBetween(current.start, current.end));
    return { current, earlier: { start: earlierPeriod.start, end: sameLength < earlierPeriod.end ? sameLength : earlierPeriod.end }, partial: true };
  }
  const watched = watchedPeriod(ctx, { ...series, period: 'last' });
  if ('waiting' in watched) return watched;
  const { period } = watched;
  return { current: period, earlier: periodOf(shiftPeriod(period.start, series.grain, -cond.against), series.grain, weekStart), partial: false };
}

/**
 * Whole periods compared are shared sums. Not to date (the windows are not whole periods),
 * and not for a KPI with previous(), which in kpiWindows sees the earlier window instead of
 * the period before.
 */
function changeQuery(ctx: RuleContext, series: AlertSeries, cond: Condition<'change'>): PeriodsQuery | undefined {
  if (cond.toDate || looksBack(ctx, series.kpi)) return undefined;
  const windows = comparisonWindows(ctx, series, cond);
  if ('waiting' in windows) return undefined;
  return periodsQuery(series, series.kpi, [windows.earlier.start, windows.current.start]);
}

async function changeValues(ctx: RuleContext, series: AlertSeries, cond: Condition<'change'>, windows: [Period, Period]): Promise<WindowValues[]> {
  const query = changeQuery(ctx, series, cond);
  if (query) return ctx.sums.values(query);
  return kpiWindows(ctx.db, ctx.config, { kpi: series.kpi, windows, dimension: series.dimension, ...filterOf(series) });
}

export async function changeRule(ctx: RuleContext): Promise<Observation[]> {
  const series = ctx.rule.series!;
  const cond = ctx.rule.condition as Condition<'change'>;
  const info = seriesInfo(ctx, series.kpi);
  const windows = comparisonWindows(ctx, series, cond);
  if ('waiting' in windows) return waitingFor(ctx, windows.waiting);
  const { current, earlier, partial } = windows;
  const when = describePeriod(current, series.grain, partial);
  const rows = await changeValues(ctx, series, cond, [earlier, current]);
  const fmt = (v: number) => formatValue(v, info.unit, info.currency);
  const against = cond.against === 1 ? `the ${series.grain} before` : `${cond.against} ${series.grain}s before`;
  return rows.map((row) => {
    const [previous = null, value = null] = row.values;
    const id = instanceOf(info, series, row.dimensionValue, row.dimensionLabel);
    const pct = value !== null && previous !== null && previous !== 0 ? ((value - previous) / Math.abs(previous)) * 100 : null;
    const measured = cond.by === 'percent' ? pct : value !== null && previous !== null ? value - previous : null;
    if (value === null || previous === null || measured === null) {
      const o = noData(series, info, row.dimensionValue, row.dimensionLabel, `${when} or ${against} to compare with`);
      return { ...o, alert: { ...o.alert, value, previous } };
    }
    // Positive when the change goes the watched way.
    const signed = cond.op === 'drop' ? -measured : cond.op === 'rise' ? measured : Math.abs(measured);
    const breach = signed >= cond.threshold;
    const clear = !breach && (cond.recovery === undefined || signed < cond.recovery);
    const amount = changeAmount(info, cond, value, previous, measured);
    const limit = cond.by === 'percent' ? `${cond.threshold}%` : info.unit === 'percent' ? formatPoints(cond.threshold).slice(1) : fmt(cond.threshold);
    const summary = `${titled(info, series, row.dimensionLabel)} ${fmt(value)} ${when}, ${amount} against ${fmt(previous)} ${against} (limit ${cond.op === 'any' ? '±' : cond.op === 'drop' ? '−' : '+'}${limit})`;
    return {
      instance: id.instance,
      labels: id.labels,
      seen: { kind: 'value', breach, clear, reason: summary },
      alert: {
        series: id.name,
        value,
        previous,
        changePct: pct,
        unit: info.unit,
        ...(info.currency ? { currency: info.currency } : {}),
        report: seriesReport(ctx, series, row.dimensionValue, { end: current.end, toDate: partial }),
      },
      summary,
    };
  });
}

/**
 * The change in the summary: percentage points for a percent KPI (a relative change of a rate
 * that crosses zero says −215%), with the relative change the rule judged when it is by percent.
 */
function changeAmount(info: SeriesInfo, cond: Condition<'change'>, value: number, previous: number, measured: number): string {
  if (info.unit === 'percent') return `${formatPoints(value - previous)}${cond.by === 'percent' ? ` (${formatChange(measured)} relative)` : ''}`;
  return cond.by === 'percent' ? formatChange(measured) : `${measured >= 0 ? '+' : '−'}${formatValue(Math.abs(measured), info.unit, info.currency)}`;
}

/**
 * The watched period and its history: the same weekday of earlier weeks for daily series,
 * the periods just before for longer grains. Only those periods are read, not the days
 * between them, so a day series has instances for the values seen on those days.
 */
function anomalyQueries(ctx: RuleContext, series: AlertSeries, cond: Condition<'anomaly'>): { period: Period; current: PeriodsQuery; volume?: PeriodsQuery } | { waiting: string } {
  const watched = watchedPeriod(ctx, series);
  if ('waiting' in watched) return watched;
  const { period } = watched;
  const lag = series.grain === 'day' ? 7 : 1;
  const history = Array.from({ length: cond.lookback }, (_, k) => shiftPeriod(period.start, series.grain, -lag * (cond.lookback - k)));
  const current = periodsQuery(series, series.kpi, [...history, period.start]);
  return cond.minVolume ? { period, current, volume: periodsQuery(series, cond.minVolume.kpi ?? series.kpi, [period.start]) } : { period, current };
}

export async function anomalyRule(ctx: RuleContext): Promise<Observation[]> {
  const series = ctx.rule.series!;
  const cond = ctx.rule.condition as Condition<'anomaly'>;
  const queries = anomalyQueries(ctx, series, cond);
  if ('waiting' in queries) return waitingFor(ctx, queries.waiting);
  const rows = await ctx.sums.values(queries.current);
  const volumes = new Map<string, number | null>();
  if (queries.volume) for (const r of await ctx.sums.values(queries.volume)) volumes.set(r.dimensionValue, r.values[0] ?? null);
  const judged = anomalyJudge(ctx, series, cond, queries.period);
  return rows.map((r) => {
    const value = r.values[r.values.length - 1] ?? null;
    const history = r.values.slice(0, -1).filter((v): v is number => v !== null);
    return judged(r.dimensionValue, r.dimensionLabel, value, history, volumes.get(r.dimensionValue) ?? null);
  });
}

/** The observation of one series of an anomaly rule from its value, its history and its volume. */
function anomalyJudge(ctx: RuleContext, series: AlertSeries, cond: Condition<'anomaly'>, period: Period) {
  const info = seriesInfo(ctx, series.kpi);
  const volumeKpi = cond.minVolume?.kpi ?? series.kpi;
  const when = describePeriod(period, series.grain, false);
  const fmt = (v: number) => formatValue(v, info.unit, info.currency);
  const usual = series.grain === 'day' ? `the same weekday over ${cond.lookback} weeks` : `the ${cond.lookback} ${series.grain}s before`;
  const rules = { sensitivity: cond.sensitivity, minHistory: cond.minHistory ?? Math.min(cond.lookback, 4), direction: cond.direction, minDelta: cond.minDelta, minDeltaPct: cond.minDeltaPct };
  return (dimensionValue: string, label: string, value: number | null, history: number[], volume: number | null): Observation => {
    if (value === null) return noData(series, info, dimensionValue, label, when);
    const id = instanceOf(info, series, dimensionValue, label);
    const name = titled(info, series, label);
    const verdict = judge(value, history, rules);
    const report = seriesReport(ctx, series, dimensionValue, { end: period.end, toDate: false });
    const alert: AlertInstance = { series: id.name, value, unit: info.unit, ...(info.currency ? { currency: info.currency } : {}), report };
    if (verdict.kind === 'insufficient') {
      const summary = `${name} ${fmt(value)} ${when}: ${verdict.have} of ${verdict.need} earlier values needed to judge it`;
      return { instance: id.instance, labels: id.labels, seen: { kind: 'value', breach: false, clear: true, reason: summary }, alert, summary };
    }
    const { band: b } = verdict;
    const range = `${fmt(b.lower)}–${fmt(b.upper)}`;
    const lowVolume = cond.minVolume !== undefined && (volume === null || volume < cond.minVolume.value);
    const breach = verdict.kind === 'anomaly' && !lowVolume;
    let summary = `${name} ${fmt(value)} ${when} is ${verdict.side === 'inside' ? 'within' : verdict.side} its usual range ${range} (median ${fmt(b.median)} of ${usual})`;
    if (verdict.kind === 'small') summary += '; too small a change to alert';
    else if (verdict.kind === 'anomaly' && lowVolume) summary += `; ignored: ${volumeKpi} ${volume ?? 'n/a'} is under the minimum volume ${cond.minVolume!.value}`;
    return {
      instance: id.instance,
      labels: id.labels,
      seen: { kind: 'value', breach, clear: !breach, reason: summary },
      alert: { ...alert, usual: { lower: b.lower, upper: b.upper }, previous: b.median, changePct: verdict.deltaPct },
      summary,
    };
  };
}
