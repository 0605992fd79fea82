import { assessGoals, goalHistory, loadCompleteness, storedGoals, type GoalResult, type GoalSnapshot } from '../metrics/index.ts';
import { addDays } from '../core/dates.ts';
import type { PageContext } from './context.ts';
import { chart, html, type Raw } from './html.ts';
import { goalProgress, okrProgress } from './overview.ts';
import { asOfDate, type Query } from './params.ts';

/** More days than this are drawn a point every few days: a chart a few hundred points wide says the same. */
const MAX_POINTS = 400;

function daysFrom(start: string, end: string): string[] {
  const out: string[] = [];
  for (let d = start; d <= end; d = addDays(d, 1)) out.push(d);
  return out;
}

/**
 * The goal's line over its span: the value each stored evaluation judged (and the assessment
 * of as-of, the report's), the pace that reaches the target on the deadline (reach) or the
 * target itself (stay above/below), and the forecast from the last judged day to the deadline.
 */
function goalChart(g: GoalResult, history: GoalSnapshot[], currency: string): Raw {
  const all = daysFrom(g.start, g.deadline);
  const step = Math.max(1, Math.ceil(all.length / MAX_POINTS));
  const days = all.filter((d, i) => i % step === 0 || d === g.deadline);
  const judged = new Map(history.filter((h) => h.actual !== null).map((h) => [h.asOf, h.actual]));
  const lastDay = g.dataThrough ?? g.asOf;
  if (g.actual !== null) judged.set(lastDay, g.actual);
  // Points between the drawn days are kept on the nearest drawn day at or after them.
  const actual = days.map(() => null as number | null);
  for (const [day, value] of judged) {
    const i = days.findIndex((d) => d >= day);
    if (i >= 0) actual[i] = value;
  }
  const span = Math.max(1, all.length - 1);
  const expected = days.map((d) => (g.criterion === 'reach' ? g.baseline + ((g.target - g.baseline) * (all.indexOf(d) / span)) : g.target));
  const lastIndex = actual.reduce<number>((last, v, i) => (v === null ? last : i), -1);
  const forecast = days.map((_, i) => {
    if (g.forecast === null || lastIndex < 0 || i < lastIndex) return null;
    const from = actual[lastIndex]!;
    const t = days.length - 1 === lastIndex ? 1 : (i - lastIndex) / (days.length - 1 - lastIndex);
    return from + (g.forecast - from) * t;
  });
  return chart(
    {
      labels: days,
      unit: g.unit,
      currency,
      zero: g.criterion === 'reach',
      datasets: [
        { label: 'judged value', data: actual, spanGaps: true },
        { label: g.criterion === 'reach' ? 'expected pace' : 'target', data: expected, color: '#8c96a8', points: false },
        { label: 'forecast', data: forecast, dashed: true, color: '#d9480f', points: false, spanGaps: true },
      ],
    },
    `${g.goal}: judged value, ${g.criterion === 'reach' ? 'expected pace' : 'target'} and forecast from ${g.start} to ${g.deadline}`,
    'goal-chart',
  );
}

export async function goalsPage(ctx: PageContext, query: Query): Promise<Raw> {
  const { config, db } = ctx;
  const asOf = asOfDate(query, config);
  // The assessment the evaluation of this as-of stored (the one `kpi report` makes, made anew
  // when none is stored), and the stored ones of the evaluations before it.
  const completeness = await loadCompleteness(db, config);
  const [assessment, history] = await Promise.all([
    storedGoals(db, config, asOf, completeness).then((stored) => stored ?? assessGoals(db, config, asOf, completeness)),
    goalHistory(db, config.goals.map((g) => g.name), asOf),
  ]);
  const { currency } = config.reporting;
  return html`<form class="controls" method="get" action="/console/goals"><label>As of<input type="date" name="as_of" value="${asOf}"></label><button type="submit">Show</button></form>
${assessment.goals.length === 0 ? html`<p>No goals configured.</p>` : ''}
${assessment.goals.map(
  (g) => html`<section id="goal-${g.goal}" aria-labelledby="goal-${g.goal}-title"><h2 id="goal-${g.goal}-title">${g.goal}</h2>${goalProgress(g, currency)}
${g.status === 'waiting' ? html`<p class="notice">Waiting for complete data: no day since ${g.start} is complete yet.</p>` : goalChart(g, history.filter((h) => h.goal === g.goal), currency)}
${g.dataThrough !== null && g.dataThrough < g.asOf ? html`<p class="muted">Judged as of ${g.dataThrough}, the last complete day.</p>` : ''}</section>`,
)}
${assessment.okrs.length > 0 ? html`<h2>OKRs</h2><div class="grid2">${assessment.okrs.map(okrProgress)}</div>` : ''}`;
}
