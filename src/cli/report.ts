import type { Kysely } from 'kysely';
import type { Config } from '../config/index.ts';
import type { Database } from '../warehouse/index.ts';
import { buildReport, loadCatalogue, todayIn, type GoalResult, type Grain, type KpiComparison, type OkrResult, type Report } from '../metrics/index.ts';
import type { KpiUnit } from '../core/vocabulary.ts';
import { isCalendarDate } from './args.ts';
import { loadCheckedConfig, openConfiguredWarehouse } from './context.ts';
import { ExitCode, line, type CliIo } from './io.ts';
import { dataTable } from './table.ts';

// One fixed locale: the output is read by people and compared by tests, whatever the host's.
const fixed = (digits: number) => new Intl.NumberFormat('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const two = fixed(2);
const upToTwo = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

function formatKpiValue(value: number | null, unit: KpiUnit, currency: string): string {
  if (value === null) return 'n/a';
  switch (unit) {
    case 'percent':
      return `${two.format(value * 100)}%`;
    case 'currency':
      return `${two.format(value)} ${currency}`;
    case 'count':
      return upToTwo.format(value);
    case 'ratio':
      return two.format(value);
  }
}

function formatChange(change: number | null): string {
  if (change === null) return 'n/a';
  const pct = two.format(Math.abs(change) * 100);
  return change > 0 ? `+${pct}%` : change < 0 ? `-${pct}%` : `${pct}%`;
}

/** A percent KPI changes by percentage points: -3.06% against 2.69% is -5.75 pp (a relative change would say -213.75%). */
function kpiChange(l: KpiComparison): string {
  if (l.unit !== 'percent' || l.value === null || l.previous === null) return formatChange(l.change);
  const pp = Math.round((l.value - l.previous) * 10_000) / 100;
  return `${pp > 0 ? '+' : pp < 0 ? '-' : ''}${two.format(Math.abs(pp))} pp`;
}

const percent = (v: number | null): string => (v === null ? 'n/a' : `${Math.round(v * 100)}%`);

function progressBar(progress: number | null, width = 20): string {
  const filled = Math.round(Math.min(1, Math.max(0, progress ?? 0)) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

const statusText = (s: string): string => s.replace(/_/g, ' ');

/** Said after a KPI whose period is not whole yet in the warehouse. */
function partialNote(l: KpiComparison, period: 'last' | 'current'): string {
  if (l.complete) return '';
  if (period === 'current' && l.completeThrough !== null) return ` [so far; complete through ${l.completeThrough}]`;
  return l.completeThrough === null ? ' [partial: no complete day yet]' : ` [partial: complete through ${l.completeThrough}]`;
}

function kpiLineText(l: KpiComparison, currency: string, period: 'last' | 'current'): string {
  return `${l.label} ${formatKpiValue(l.value, l.unit, currency)} (previous ${formatKpiValue(l.previous, l.unit, currency)}, ${kpiChange(l)})${partialNote(l, period)}`;
}

function goalText(g: GoalResult, currency: string): string[] {
  const value = (v: number | null) => formatKpiValue(v, g.unit, currency);
  const criterion = g.criterion === 'reach' ? 'reach' : g.criterion === 'stay_above' ? 'stay above' : 'stay below';
  if (g.status === 'waiting') return [`  ${g.goal}: ${g.label} ${criterion} ${value(g.target)} from ${g.start} to ${g.deadline}`, `    waiting for complete data: no day since ${g.start} is complete yet`];
  const judged = g.dataThrough !== null && g.dataThrough < g.asOf ? `, judged as of ${g.dataThrough} (the last complete day)` : '';
  return [
    `  ${g.goal}: ${g.label} ${criterion} ${value(g.target)} from ${g.start} to ${g.deadline}`,
    `    ${progressBar(g.progress)} ${percent(g.progress)} (expected ${percent(g.expected)})  ${statusText(g.status)}  actual ${value(g.actual)}, forecast ${value(g.forecast)}${judged}`,
  ];
}

function okrText(o: OkrResult): string[] {
  return [
    `  ${o.okr}: ${o.objective}`,
    `    ${progressBar(o.progress)} ${percent(o.progress)}  ${statusText(o.status)}`,
    ...o.keyResults.map((kr) => `      - ${kr.goal} (weight ${upToTwo.format(kr.weight)}): ${percent(kr.progress)} ${statusText(kr.status)}`),
  ];
}

export function renderReport(report: Report): string {
  const { currency } = report;
  const range = (p: { start: string; end: string }) => `${p.start}..${p.end}`;
  const out = [`KPI report, ${report.grain} ${range(report.current)} against ${range(report.previous)} (as of ${report.asOf}, ${currency})`, ''];
  if (report.northStar) out.push(`North Star: ${kpiLineText(report.northStar, currency, report.period)}`, '');
  if (report.kpis.length === 0) {
    out.push('No KPI has a value in these periods.');
  } else {
    const table = dataTable(['KPI', 'value', 'previous', 'change'], {
      colAligns: ['left', 'right', 'right', 'right'],
      // No rule between rows: the catalogue is long, and one line per KPI reads best.
      chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    });
    for (const l of report.kpis) table.push([`${l.label}${l.complete ? '' : ' *'}`, formatKpiValue(l.value, l.unit, currency), formatKpiValue(l.previous, l.unit, currency), kpiChange(l)]);
    out.push(table.toString());
    const partial = report.kpis.filter((l) => !l.complete);
    if (partial.length > 0) {
      const through = [...new Set(partial.map((l) => l.completeThrough ?? 'no complete day yet'))].sort();
      out.push(`* partial: the data of this period is not all in yet (complete through ${through.join(', ')})`);
    }
  }
  if (report.goals.length > 0) out.push('', 'Goals', ...report.goals.flatMap((g) => goalText(g, currency)));
  if (report.okrs.length > 0) out.push('', 'OKRs', ...report.okrs.flatMap(okrText));
  return out.join('\n');
}

export interface ReportCommandOptions {
  grain?: Grain;
  period?: 'last' | 'current';
  asOf?: string;
  json?: boolean;
}

/** `kpi report`: the North Star, KPIs against the previous period, goals and OKRs. */
export async function reportCommand(io: CliIo, file: string, options: ReportCommandOptions): Promise<number> {
  const config = loadCheckedConfig(file, io);
  const wh = await openConfiguredWarehouse(config, io);
  try {
    const report = await buildReport(wh.db, config, {
      grain: options.grain ?? 'week',
      period: options.period ?? 'last',
      asOf: options.asOf ?? todayIn(config.reporting.timezone),
    });
    line(io, options.json ? JSON.stringify(report, null, 2) : renderReport(report));
    return ExitCode.ok;
  } finally {
    await wh.close();
  }
}

const GRAINS: readonly Grain[] = ['day', 'week', 'month', 'quarter'];

/**
 * GET /report on `kpi start`'s server: the report `kpi report` prints, for the parameters the
 * alert messages' links carry: grain, period, as_of, and the series' kpi, shown first (the
 * dimension they also carry is not: the report is of whole KPIs). Served only with
 * server.publicUrl, which is where those links point.
 */
export function reportPage(db: Kysely<Database>, config: Config): (query: Readonly<Record<string, string>>) => Promise<{ status: number; text: string }> {
  return async (query) => {
    const grain = (query.grain ?? 'week') as Grain;
    const period = query.period ?? 'last';
    const asOf = query.as_of ?? todayIn(config.reporting.timezone);
    const bad = !GRAINS.includes(grain)
      ? `grain must be one of ${GRAINS.join(', ')}`
      : period !== 'last' && period !== 'current'
        ? 'period must be last or current'
        : !isCalendarDate(asOf)
          ? 'as_of must be a date as YYYY-MM-DD'
          : query.kpi !== undefined && !loadCatalogue(config.kpis).get(query.kpi)
            ? 'kpi is no KPI of this configuration'
            : undefined;
    if (bad) return { status: 400, text: `${bad}\n` };
    // The series' KPI is shown, first, even when the report leaves it out (a base metric such as clicks).
    const report = await buildReport(db, config, { grain, period: period === 'current' ? 'current' : 'last', asOf, ...(query.kpi ? { also: [query.kpi] } : {}) });
    return { status: 200, text: `${renderReport(report)}\n` };
  };
}

