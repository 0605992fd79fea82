import { buildReport, storedTotalsSeries, loadCatalogue, shiftPeriod, toDateWindows, type GoalResult, type KpiComparison, type OkrResult, type Report } from '../metrics/index.ts';
import { countAlertStates, effectiveRules, listAlertStates } from '../alerts/index.ts';
import { GOAL_STATUS_LABEL, formatProgress } from '../notify/format.ts';
import type { PageContext } from './context.ts';
import { changeClass, chart, html, kpiChangeText, kpiValue, raw, select, when, type Raw } from './html.ts';
import { GRAINS, periodChoice, queryOf, type PeriodChoice, type Query } from './params.ts';
import { freshnessSummary, noDataNotice } from './connectors.ts';

/** Firing series the overview lists; the Alerts page has them all. */
const FIRING_SHOWN = 25;

/** Periods in a tile's sparkline, the one shown included. */
const SPARK_PERIODS = 12;

export function completeMark(l: KpiComparison, period: 'last' | 'current'): Raw {
  if (l.complete) return html`<span class="mark complete">complete</span>`;
  const through = l.completeThrough === null ? 'no complete day yet' : `complete through ${l.completeThrough}`;
  return html`<span class="mark partial" title="${through}">${period === 'current' ? 'so far' : 'partial'}: ${through}</span>`;
}

function explorerLink(kpi: string, choice: PeriodChoice): string {
  return `/console/kpi/${encodeURIComponent(kpi)}${queryOf({ grain: choice.grain, period: choice.period, as_of: choice.asOf })}`;
}

function tile(l: KpiComparison, report: Report, choice: PeriodChoice, spark: Array<number | null>, northStar = false): Raw {
  const cls = changeClass(l);
  return html`<article class="card tile${northStar ? ' northstar' : ''}" data-kpi="${l.kpi}">
<h3>${northStar ? 'North Star: ' : ''}<a href="${explorerLink(l.kpi, choice)}">${l.label}</a></h3>
<div class="value" data-value="${l.value === null ? '' : String(l.value)}">${kpiValue(l.value, l.unit, report.currency)}</div>
<div><span class="change ${cls}" data-previous="${l.previous === null ? '' : String(l.previous)}">${kpiChangeText(l)}</span> <span class="muted">vs ${kpiValue(l.previous, l.unit, report.currency)}</span></div>
${chart({ spark: true, labels: spark.map((_, i) => String(i)), datasets: [{ label: l.label, data: spark }], unit: l.unit, currency: report.currency }, `${l.label}, last ${spark.length} periods`, 'spark')}
<div>${completeMark(l, report.period)}</div></article>`;
}

export function goalProgress(g: GoalResult, currency: string): Raw {
  const criterion = g.criterion === 'reach' ? 'reach' : g.criterion === 'stay_above' ? 'stay above' : 'stay below';
  const progress = g.progress === null ? 0 : Math.max(0, Math.min(1, g.progress));
  return html`<article class="card" data-goal="${g.goal}">
<h3><a href="/console/goals#goal-${g.goal}">${g.goal}</a>: ${g.label} ${criterion} ${kpiValue(g.target, g.unit, currency)} by ${g.deadline}</h3>
<p><span class="status-${g.status}">${GOAL_STATUS_LABEL[g.status]}</span> · progress <span data-field="progress">${g.progress === null ? 'n/a' : formatProgress(g.progress)}</span>
against expected <span data-field="expected">${formatProgress(g.expected)}</span> · actual ${kpiValue(g.actual, g.unit, currency)} · forecast <span data-field="forecast">${kpiValue(g.forecast, g.unit, currency)}</span></p>
<progress max="1" value="${progress}" aria-label="${g.goal} progress">${formatProgress(progress)}</progress></article>`;
}

export function okrProgress(o: OkrResult): Raw {
  return html`<article class="card" data-okr="${o.okr}"><h3>${o.okr}: ${o.objective}</h3>
<p><span class="status-${o.status}">${GOAL_STATUS_LABEL[o.status]}</span> · progress <span data-field="progress">${formatProgress(o.progress)}</span></p>
<progress max="1" value="${Math.max(0, Math.min(1, o.progress))}" aria-label="${o.okr} progress">${formatProgress(o.progress)}</progress>
<ul>${o.keyResults.map((kr) => html`<li>${kr.goal} (weight ${kr.weight}): ${kr.progress === null ? 'n/a' : formatProgress(kr.progress)} <span class="status-${kr.status}">${GOAL_STATUS_LABEL[kr.status]}</span></li>`)}</ul></article>`;
}

export function periodControls(action: string, choice: PeriodChoice, extra: Raw | string = ''): Raw {
  return html`<form class="controls" method="get" action="${action}">
${select('grain', 'Grain', GRAINS.map((g) => [g, g] as const), choice.grain)}
${select('period', 'Period', [['last', 'last whole period'], ['current', 'current, to date']], choice.period)}
<label>As of<input type="date" name="as_of" value="${choice.asOf}"></label>${extra}
<button type="submit">Show</button></form>`;
}

export async function overviewPage(ctx: PageContext, query: Query): Promise<Raw> {
  const { config, db } = ctx;
  const choice = periodChoice(query, config);
  // The report, the sparklines, the alert states and the connectors' freshness are read side
  // by side: the page takes about as long as the slowest of them, not their sum. For a whole
  // period the report reads the sparklines' periods too, in its one read.
  // KPI values come from the day points recompute stored (storedPoints), so the page costs the
  // same on any number of facts; they are the values `kpi report` computes from the facts, to
  // the bit. Where KPI work is owed (facts changed since their points were computed: the days
  // `kpi status` counts as behind), or a KPI has a filter of its own, those values are read
  // from the facts, as `kpi report` always does: the page never shows values older than the facts.
  const catalogue = loadCatalogue(config.kpis);
  const names = [...new Set([...(config.northStar ? [config.northStar] : []), ...catalogue.list('config').map((d) => d.name), ...catalogue.list('builtin').map((d) => d.name)])];
  const toDate = choice.period === 'current' ? toDateWindows(choice.asOf, choice.grain, config.reporting.weekStart).current : null;
  const rules = { alerts: effectiveRules(config) };
  const [report, toDatePoints, firing, firingCount, freshness, noData] = await Promise.all([
    // Goals as the last evaluation of as-of judged and stored them (assessed anew when none did).
    buildReport(db, config, { ...choice, storedGoals: true, storedPoints: true, ...(toDate ? {} : { history: SPARK_PERIODS - 2 }) }),
    // To date, the report compares with the same days before: the sparklines are a read of their own.
    toDate ? storedTotalsSeries(db, config, { kpi: names, grain: choice.grain, from: shiftPeriod(toDate.start, choice.grain, -(SPARK_PERIODS - 1)), to: choice.asOf }) : Promise.resolve([]),
    // The firing series shown and how many there are, not all of them: thousands may fire.
    listAlertStates(db, rules, { state: 'firing', limit: FIRING_SHOWN }),
    countAlertStates(db, rules, 'firing'),
    freshnessSummary(ctx),
    noDataNotice(ctx),
  ]);
  const points = report.series ?? toDatePoints;
  const sparks = new Map<string, Array<number | null>>();
  for (const p of points) sparks.set(p.kpi, [...(sparks.get(p.kpi) ?? []), p.value]);
  const zone = config.alerting.timezone ?? config.reporting.timezone;
  const range = (p: { start: string; end: string }) => `${p.start} to ${p.end}`;

  return html`${noData}${periodControls('/console/', choice)}
<p class="muted" id="period">${choice.grain} ${range(report.current)} against ${range(report.previous)} (as of ${report.asOf}, ${report.currency})</p>
${report.northStar ? tile(report.northStar, report, choice, sparks.get(report.northStar.kpi) ?? [], true) : ''}
<h2>KPIs</h2>
${report.kpis.length === 0 ? html`<p>No KPI has a value in these periods.</p>` : html`<div class="tiles">${report.kpis.map((l) => tile(l, report, choice, sparks.get(l.kpi) ?? []))}</div>`}
<h2>Goals and OKRs</h2>
${report.goals.length + report.okrs.length === 0 ? html`<p>No goals configured.</p>` : html`<div class="grid2">${report.goals.map((g) => goalProgress(g, report.currency))}${report.okrs.map(okrProgress)}</div>`}
<h2>Firing alerts</h2>
${firing.length === 0
    ? html`<p>No alert is firing.</p>`
    : html`<ul id="firing">${firing.map((s) => html`<li><a href="/console/alerts${queryOf({ rule: s.rule, state: 'firing' })}#states-title"><strong>${s.rule}</strong>${s.instance ? ` (${s.instance})` : ''}</a>: ${s.reason} <span class="muted">since ${when(s.firingSince ?? s.since, zone)}</span></li>`)}</ul>
${firingCount > firing.length ? html`<p><a href="/console/alerts?state=firing#states-title">All ${firingCount} firing series</a></p>` : ''}`}
<h2>Connectors</h2>
${freshness}
${raw('')}`;
}
