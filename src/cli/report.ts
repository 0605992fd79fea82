import Table from 'cli-table3';
import { buildReport, todayIn, type GoalResult, type Grain, type KpiLine, type KpiUnit, type OkrResult, type Report } from '../metrics/index.ts';
import { loadCheckedConfig, openConfiguredWarehouse } from './context.ts';
import { ExitCode, line, type CliIo } from './io.ts';

// One fixed locale: the output is read by people and compared by tests, whatever the host's.
const fixed = (digits: number) => new Intl.NumberFormat('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const two = fixed(2);
const upToTwo = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

export function formatKpiValue(value: number | null, unit: KpiUnit, currency: string): string {
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

const percent = (v: number | null): string => (v === null ? 'n/a' : `${Math.round(v * 100)}%`);

export function progressBar(progress: number | null, width = 20): string {
  const filled = Math.round(Math.min(1, Math.max(0, progress ?? 0)) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

const statusText = (s: string): string => s.replace(/_/g, ' ');

function kpiLineText(l: KpiLine, currency: string): string {
  return `${l.label} ${formatKpiValue(l.value, l.unit, currency)} (previous ${formatKpiValue(l.previous, l.unit, currency)}, ${formatChange(l.change)})`;
}

function goalText(g: GoalResult, currency: string): string[] {
  const value = (v: number | null) => formatKpiValue(v, g.unit, currency);
  const criterion = g.criterion === 'reach' ? 'reach' : g.criterion === 'stay_above' ? 'stay above' : 'stay below';
  return [
    `  ${g.goal}: ${g.label} ${criterion} ${value(g.target)} from ${g.start} to ${g.deadline}`,
    `    ${progressBar(g.progress)} ${percent(g.progress)} (expected ${percent(g.expected)})  ${statusText(g.status)}  actual ${value(g.actual)}, forecast ${value(g.forecast)}`,
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
  if (report.northStar) out.push(`North Star: ${kpiLineText(report.northStar, currency)}`, '');
  if (report.kpis.length === 0) {
    out.push('No KPI has a value in these periods.');
  } else {
    const table = new Table({
      head: ['KPI', 'value', 'previous', 'change'],
      style: { head: [], border: [] },
      colAligns: ['left', 'right', 'right', 'right'],
      // No rule between rows: the catalogue is long, and one line per KPI reads best.
      chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    });
    for (const l of report.kpis) table.push([l.label, formatKpiValue(l.value, l.unit, currency), formatKpiValue(l.previous, l.unit, currency), formatChange(l.change)]);
    out.push(table.toString());
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
