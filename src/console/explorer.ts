import { redactSecrets } from '../core/secrets.ts';
import { loadCatalogue, kpiSeries, periodOf, shiftPeriod, type SeriesPoint } from '../metrics/index.ts';
import { dimensionLabel } from '../config/labels.ts';
import type { PageContext } from './context.ts';
import { chart, html, kpiChangeText, kpiValue, select, type Raw } from './html.ts';
import { periodControls } from './overview.ts';
import { noDataNotice } from './connectors.ts';
import { BadRequest, DIMENSIONS, breakdown, lastWholePeriod, checkKpi, periodChoice, periodCount, queryOf, type Breakdown, type PeriodChoice, type Query } from './params.ts';

/**
 * One KPI over time: the periods up to the one `kpi report` shows for the same grain, period
 * and as-of (the last whole one, or the current one to date), the same number of periods
 * before them overlaid, and a breakdown by connector, channel or campaign. The URL holds it
 * all, so a link (an alert's) opens the same view.
 */

const FILTERABLE = ['connector', 'channel', 'campaign'] as const;

interface ExplorerData {
  kpi: string;
  label: string;
  unit: ReturnType<typeof unitOf>;
  choice: PeriodChoice;
  by: Breakdown;
  filter: Partial<Record<(typeof FILTERABLE)[number], string>>;
  /**
   * The periods shown, oldest first, each with the period before it (what `kpi report`
   * compares with) and the one as many periods earlier as are shown (the chart's overlay).
   */
  rows: Array<{ current: SeriesPoint; previous: SeriesPoint | undefined; overlay: SeriesPoint | undefined }>;
  /** By dimension value: its points over the periods shown. */
  breakdown: Array<{ value: string; label: string; points: SeriesPoint[] }>;
}

function unitOf(ctx: PageContext, kpi: string) {
  return loadCatalogue(ctx.config.kpis).get(kpi)!.unit;
}

async function explorerData(ctx: PageContext, kpiName: string, query: Query): Promise<ExplorerData> {
  const { config, db } = ctx;
  const kpi = checkKpi(kpiName, config);
  const choice = periodChoice(query, config);
  const n = periodCount(query, choice.grain);
  const by = breakdown(query);
  const filter: ExplorerData['filter'] = {};
  for (const key of FILTERABLE) if (query[key]) filter[key] = query[key];
  const { weekStart } = config.reporting;
  // The period `kpi report` shows: the current one to date, or the last whole one before as-of.
  const last = choice.period === 'current' ? periodOf(choice.asOf, choice.grain, weekStart) : lastWholePeriod(choice, weekStart);
  const to = choice.period === 'current' ? choice.asOf : last.end;
  const from = shiftPeriod(last.start, choice.grain, -(n - 1));
  const before = shiftPeriod(from, choice.grain, -n);
  const hasFilter = Object.keys(filter).length > 0;
  const [all, split] = await Promise.all([
    kpiSeries(db, config, { kpi, grain: choice.grain, from: before, to, ...(hasFilter ? { filter } : {}) }),
    by === 'all' ? Promise.resolve([]) : kpiSeries(db, config, { kpi, grain: choice.grain, from, to, dimension: by, ...(hasFilter ? { filter } : {}) }),
  ]);
  const byStart = new Map(all.map((p) => [p.periodStart, p]));
  const rows = all
    .filter((p) => p.periodStart >= from)
    .map((current) => ({ current, previous: byStart.get(shiftPeriod(current.periodStart, choice.grain, -1)), overlay: byStart.get(shiftPeriod(current.periodStart, choice.grain, -n)) }));
  const groups = new Map<string, SeriesPoint[]>();
  for (const p of split) groups.set(p.dimensionValue, [...(groups.get(p.dimensionValue) ?? []), p]);
  const labelOf = (p: SeriesPoint) => (by === 'connector' || by === 'channel' ? dimensionLabel(config.connectors, by, p.dimensionValue) : p.dimensionValue === '' ? 'no campaign' : p.dimensionLabel);
  return {
    kpi,
    label: loadCatalogue(config.kpis).get(kpi)!.label,
    unit: unitOf(ctx, kpi),
    choice,
    by,
    filter,
    rows,
    breakdown: [...groups.values()].map((points) => ({ value: points[0]!.dimensionValue, label: labelOf(points[0]!), points })),
  };
}

const periodText = (p: { periodStart: string; periodEnd: string; partial: boolean }) => `${p.periodStart}${p.periodEnd !== p.periodStart ? ` to ${p.periodEnd}` : ''}${p.partial ? ' (to date)' : ''}`;

/** The breakdown's lines: the values with the most in the last period first; a chart of more than ten is unreadable. */
const CHART_SERIES = 10;

export async function explorerPage(ctx: PageContext, kpiName: string, query: Query): Promise<Raw> {
  const [d, noData] = await Promise.all([explorerData(ctx, kpiName, query), noDataNotice(ctx)]);
  const { currency } = ctx.config.reporting;
  const catalogue = loadCatalogue(ctx.config.kpis);
  // Config KPIs, then built-ins, then base metrics (revenue, clicks), as the report lists them.
  const kpis = [...catalogue.list('config'), ...catalogue.list('builtin'), ...catalogue.list('metric')].map((k) => [k.name, k.label] as const);
  const state = { grain: d.choice.grain, period: d.choice.period, as_of: d.choice.asOf, periods: query.periods, by: d.by === 'all' ? undefined : d.by, ...d.filter };
  const csvHref = `/console/kpi/${encodeURIComponent(d.kpi)}/data.csv${queryOf(state)}`;
  const labels = d.rows.map((r) => r.current.periodStart);
  const main = chart(
    {
      labels,
      unit: d.unit,
      currency,
      datasets: [
        { label: `${d.label}`, data: d.rows.map((r) => r.current.value) },
        { label: `the ${d.rows.length} ${d.choice.grain}s before`, data: d.rows.map((r) => r.overlay?.value ?? null), dashed: true, color: '#8c96a8' },
      ],
    },
    `${d.label} by ${d.choice.grain}, with the previous periods overlaid`,
  );
  const ranked = [...d.breakdown].sort((a, b) => (b.points.at(-1)?.value ?? -Infinity) - (a.points.at(-1)?.value ?? -Infinity));
  const split =
    d.by === 'all'
      ? ''
      : html`<h2>By ${d.by}</h2>${chart({ labels, unit: d.unit, currency, datasets: ranked.slice(0, CHART_SERIES).map((g) => ({ label: g.label, data: g.points.map((p) => p.value) })) }, `${d.label} by ${d.by}`)}
${ranked.length > CHART_SERIES ? html`<p class="muted">The chart shows the ${CHART_SERIES} largest of ${ranked.length}; the table has them all.</p>` : ''}
<div class="table-wrap"><table id="breakdown"><caption>${d.label} by ${d.by} and ${d.choice.grain}</caption><thead><tr><th scope="col">${d.by}</th>${labels.map((l) => html`<th scope="col" class="num">${l}</th>`)}</tr></thead>
<tbody>${ranked.map((g) => html`<tr data-value="${g.value}"><th scope="row">${g.label}</th>${g.points.map((p) => html`<td class="num" data-value="${p.value === null ? '' : String(p.value)}">${kpiValue(p.value, d.unit, currency)}</td>`)}</tr>`)}</tbody></table></div>`;
  const filterNote = Object.entries(d.filter).map(([k, v]) => html` <span class="mark">${k} = ${k === 'campaign' ? v : dimensionLabel(ctx.config.connectors, k as 'connector', v)}</span>`);

  return html`${noData}${periodControls(
    '/console/kpi',
    d.choice,
    html`${select('kpi', 'KPI', kpis, d.kpi)}${select('by', 'Break down by', DIMENSIONS.map((x) => [x, x === 'all' ? 'nothing' : x] as const), d.by)}
<label>Periods<input type="number" name="periods" min="2" max="366" value="${String(d.rows.length)}"></label>${Object.entries(d.filter).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}`,
  )}
<p class="muted">${d.label} by ${d.choice.grain}, ${d.rows.length} periods to ${d.rows.at(-1)?.current.periodEnd ?? ''}${filterNote}. <a href="${csvHref}" download>Download CSV</a></p>
${main}
<div class="table-wrap"><table id="series"><caption>${d.label} per ${d.choice.grain}, against the ${d.choice.grain} before</caption>
<thead><tr><th scope="col">period</th><th scope="col" class="num">value</th><th scope="col">previous period</th><th scope="col" class="num">previous value</th><th scope="col" class="num">change</th></tr></thead>
<tbody>${[...d.rows].reverse().map(
    (r) => html`<tr data-period="${r.current.periodStart}"><td>${periodText(r.current)}</td><td class="num" data-value="${r.current.value === null ? '' : String(r.current.value)}">${kpiValue(r.current.value, d.unit, currency)}</td>
<td>${r.previous ? periodText(r.previous) : '-'}</td><td class="num">${kpiValue(r.previous?.value ?? null, d.unit, currency)}</td>
<td class="num">${kpiChangeText({ value: r.current.value, previous: r.previous?.value ?? null, change: relative(r.current.value, r.previous?.value ?? null), unit: d.unit })}</td></tr>`,
  )}</tbody></table></div>
${split}`;
}

function relative(value: number | null, previous: number | null): number | null {
  return value === null || previous === null || previous === 0 ? null : (value - previous) / Math.abs(previous);
}

/** RFC 4180: quoted when it holds a comma, quote or line break; a leading = + - @ is prefixed so a spreadsheet reads text, not a formula; secrets scrubbed, as on the pages. */
function cell(v: string | number | null): string {
  if (v === null) return '';
  let s = typeof v === 'string' ? redactSecrets(v) : String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export async function explorerCsv(ctx: PageContext, kpiName: string, query: Query): Promise<{ filename: string; text: string }> {
  const d = await explorerData(ctx, kpiName, query);
  const lines = [['kpi', 'grain', 'period_start', 'period_end', 'to_date', 'dimension', 'dimension_value', 'label', 'value', 'previous_period_start', 'previous_value', 'overlay_period_start', 'overlay_value'].join(',')];
  for (const r of d.rows) {
    lines.push([d.kpi, d.choice.grain, r.current.periodStart, r.current.periodEnd, String(r.current.partial), 'all', '', '', r.current.value, r.previous?.periodStart ?? null, r.previous?.value ?? null, r.overlay?.periodStart ?? null, r.overlay?.value ?? null].map(cell).join(','));
  }
  for (const g of d.breakdown) {
    for (const p of g.points) lines.push([d.kpi, d.choice.grain, p.periodStart, p.periodEnd, String(p.partial), d.by, g.value, g.label, p.value, null, null, null, null].map(cell).join(','));
  }
  if (!/^[a-z0-9_]+$/i.test(d.kpi)) throw new BadRequest('kpi is no KPI of this configuration');
  return { filename: `${d.kpi}-${d.choice.grain}-${d.choice.asOf}.csv`, text: `${lines.join('\r\n')}\r\n` };
}
