import { DateTime } from 'luxon';
import { isCalendarDate } from '../core/dates.ts';
import { parseDuration } from '../core/duration.ts';
import { addSilence, effectiveRules, endSilence, formatMatcher, listAlertStates, listHistory, listSilences, matchesAll, parseMatcher, type HistoryEntry, type Matcher } from '../alerts/index.ts';
import type { PageContext } from './context.ts';
import { html, raw, when, type Raw } from './html.ts';
import { BadRequest, queryOf, type Query } from './params.ts';

/**
 * Every rule and series with its state, the transitions and notifications of the last days
 * (what `kpi alerts list` and `kpi alerts history` print), and the silences: the one page
 * that writes, and only for a signed-in user.
 */

/** How far back the history goes unless `since` says, as `kpi alerts history` without --since. */
const HISTORY_DEFAULT = '7d';
const MAX_HISTORY_MS = 3650 * 86_400_000;

/** `since`: how long back (2h, 7d) or a day (YYYY-MM-DD, from its start in `zone`), as `kpi alerts history --since` takes it. */
function historySince(text: string, now: Date, zone: string): Date {
  if (isCalendarDate(text)) return DateTime.fromISO(text, { zone }).startOf('day').toJSDate();
  const ms = parseDuration(text);
  if (ms === undefined || ms < 60_000 || ms > MAX_HISTORY_MS) throw new BadRequest('since must be how long back, from 1m to 3650d (such as 2h or 7d), or a date as YYYY-MM-DD');
  return new Date(now.getTime() - ms);
}
const MIN_SILENCE_MS = 60_000;
const MAX_SILENCE_MS = 365 * 86_400_000;
const MAX_MATCHERS = 20;

const series = (e: { rule: string; instance: string }) => `${e.rule}${e.instance ? ` (${e.instance})` : ''}`;

/** A firing series' matchers, to start a silence of it from: its rule, and its dimension value when it has one. */
function silenceMatchers(s: { rule: string; instance: string }): string {
  return [`alertname=${s.rule}`, ...(s.instance && /^[a-zA-Z_][a-zA-Z0-9_]*=/.test(s.instance) ? [s.instance] : [])].join('\n');
}

function historyRow(e: HistoryEntry, zone: string): Raw {
  if (e.kind === 'transition') {
    return html`<tr data-kind="transition"><td class="time">${when(e.at, zone)}</td><td>${series(e)}</td><td>state</td><td><span class="state-${e.from}">${e.from}</span> → <span class="state-${e.to}">${e.to}</span></td><td>${e.reason}</td></tr>`;
  }
  return html`<tr data-kind="notification" data-rule="${e.rule}" data-result="${e.result}"><td class="time">${when(e.at, zone)}</td><td>${series(e)}</td><td>${e.event} to ${e.channel}</td><td><span class="result-${e.result}">${e.result}</span>${e.attempts > 1 ? ` after ${e.attempts} attempts` : ''}</td><td>${e.detail}</td></tr>`;
}

/** Series one page of the table lists: a warehouse with thousands of campaigns has thousands. */
export const SERIES_PAGE = 100;

/** Firing first, then pending, then the rest, each in the rules' order: what needs a look comes first. */
const STATE_RANK: Record<string, number> = { firing: 0, pending: 1 };
const rankOf = (state: string | null) => STATE_RANK[state ?? ''] ?? 2;

type SeriesState = Awaited<ReturnType<typeof listAlertStates>>[number];

/** `page`: a whole number from 1 to the last page. */
function pageNumber(text: string | undefined, pages: number): number {
  if (text === undefined || text === '') return 1;
  const n = Number(text);
  if (!/^\d{1,9}$/.test(text) || n < 1 || n > pages) throw new BadRequest(`page must be a whole number from 1 to ${pages}`);
  return n;
}

/**
 * The rules' series, paged: a count by state, then SERIES_PAGE rows a page (firing and
 * pending first); `rule` narrows to one rule (the overview links a firing series there) and
 * `state` to one state. Every link keeps the rest of the URL (since, rule, state).
 */
function seriesTable(all: SeriesState[], query: Query, viewer: PageContext['viewer'], zone: string): Raw {
  const rules = new Set(all.map((s) => s.rule));
  if (query.rule && !rules.has(query.rule)) throw new BadRequest('rule must name a rule of this configuration');
  const states = ['firing', 'pending', 'ok', 'not evaluated'];
  if (query.state && !states.includes(query.state)) throw new BadRequest(`state must be one of ${states.join(', ')}`);
  const stateOf = (s: SeriesState) => s.state ?? 'not evaluated';
  const ofRule = all.filter((s) => !query.rule || s.rule === query.rule);
  const chosen = ofRule.filter((s) => !query.state || stateOf(s) === query.state).map((s, i) => [s, i] as const).sort((a, b) => rankOf(a[0].state) - rankOf(b[0].state) || a[1] - b[1]).map(([s]) => s);
  const pages = Math.max(1, Math.ceil(chosen.length / SERIES_PAGE));
  const pageNo = pageNumber(query.page, pages);
  const shown = chosen.slice((pageNo - 1) * SERIES_PAGE, pageNo * SERIES_PAGE);
  const keep = { since: query.since, rule: query.rule, state: query.state };
  const link = (values: Record<string, string | number | undefined>) => `/console/alerts${queryOf({ ...keep, ...values })}#states-title`;
  const counts = states.map((st) => [st, ofRule.filter((s) => stateOf(s) === st).length] as const).filter(([, n]) => n > 0);
  const summary = html`<p id="series-count">${ofRule.length} series${query.rule ? html` of ${query.rule}` : ''}: ${counts.map(([st, n], i) => html`${i ? ', ' : ''}<a href="${link({ state: st, page: undefined })}"${raw(query.state === st ? ' aria-current="true"' : '')}>${String(n)} ${st}</a>`)}${query.rule || query.state ? html` · <a href="${link({ rule: undefined, state: undefined, page: undefined })}">all series</a>` : ''}</p>`;
  const pager = pages === 1
    ? ''
    : html`<nav class="pager" aria-label="Series pages"><span>Page ${String(pageNo)} of ${String(pages)} (series ${String((pageNo - 1) * SERIES_PAGE + 1)}–${String((pageNo - 1) * SERIES_PAGE + shown.length)} of ${String(chosen.length)})</span>${pageNo > 1 ? html` <a href="${link({ page: pageNo - 1 })}" rel="prev">previous</a>` : ''}${pageNo < pages ? html` <a href="${link({ page: pageNo + 1 })}" rel="next">next</a>` : ''}</nav>`;
  if (all.length === 0) return html`<p>No alert rules configured.</p>`;
  return html`${summary}${pager}
<div class="table-wrap"><table id="states"><thead><tr><th scope="col">rule</th><th scope="col">severity</th><th scope="col">series</th><th scope="col">state</th><th scope="col">since</th><th scope="col">reason</th></tr></thead>
<tbody>${shown.map(
    (s) => html`<tr data-rule="${s.rule}" data-state="${stateOf(s)}"><td><a href="${link({ rule: s.rule, state: undefined, page: undefined })}">${s.rule}</a></td><td>${s.severity}</td><td>${s.state ? s.instance || '(all)' : ''}</td>
<td><span class="state-${s.state ?? 'none'}">${s.state ?? 'not evaluated yet'}</span>${viewer.user && s.state === 'firing' ? html` <a href="/console/alerts?matchers=${encodeURIComponent(silenceMatchers(s))}#new-silence" aria-label="Silence ${series(s)}">silence…</a>` : ''}</td><td class="time">${when(s.since, zone)}</td><td>${s.reason}</td></tr>`,
  )}</tbody></table></div>${pager}`;
}

export async function alertsPage(ctx: PageContext, query: Query): Promise<Raw> {
  const { config, db, viewer, now } = ctx;
  const zone = config.alerting.timezone ?? config.reporting.timezone;
  const rules = effectiveRules(config);
  const sinceText = query.since || HISTORY_DEFAULT;
  const since = historySince(sinceText, now, zone);
  const [states, history, silences] = await Promise.all([
    listAlertStates(db, { alerts: rules }),
    listHistory(db, { since }),
    listSilences(db, { now }),
  ]);
  const byRule = new Map<string, typeof states>();
  for (const s of states) byRule.set(s.rule, [...(byRule.get(s.rule) ?? []), s]);
  const notice = query.created ? html`<p class="notice" role="status">Silence ${query.created} created.</p>` : query.expired ? html`<p class="notice" role="status">Silence ${query.expired} expired.</p>` : '';

  const silenceForm = viewer.user
    ? html`<form class="stack card" method="post" action="/console/alerts/silences" id="new-silence"><input type="hidden" name="csrf" value="${viewer.csrf ?? ''}">
<h3>New silence</h3>
<label>Matchers, one a line (name=value, name!=value, name=~regex, name!~regex; all must match)<textarea name="matchers" rows="3" required placeholder="alertname=ad-clicks-anomaly">${query.matchers ?? ''}</textarea></label>
<label>For (1m to 365d, e.g. 30m, 2h, 1d)<input name="for" required value="2h" pattern="\\d+(\\.\\d+)?(m|h|d|w)"></label>
<label>Comment<input name="comment" maxlength="500"></label>
<label><span><input type="checkbox" name="hold" value="1"> Hold the notifications until it ends (instead of dropping them)</span></label>
<button type="submit">Create silence</button></form>`
    : html`<p>${viewer.canSignIn ? html`<a href="/console/login?next=${encodeURIComponent('/console/alerts#silences')}">Sign in</a> to create or expire silences.` : raw('Creating silences needs a sign-in: set <code>server.dashboard</code> in the configuration.')}</p>`;

  const table = seriesTable(rules.flatMap((r) => byRule.get(r.name) ?? []), query, viewer, zone);
  return html`${notice}
<h2 id="states-title">Rules and series</h2>
${table}
<p class="muted">Times in ${zone}.</p>
<h2 id="history-title">History since ${when(since, zone)}</h2>
<form class="controls" method="get" action="/console/alerts"><label>Since (how long back, such as 2h or 30d, or a date)<input name="since" value="${sinceText}" required></label><button type="submit">Show</button></form>
${history.olderLeftOut ? html`<p class="notice">Older entries were left out: the list holds what came after ${when(history.olderLeftOut, zone)}.</p>` : ''}
${history.entries.length === 0
    ? html`<p>No transition or notification since then.</p>`
    : html`<div class="table-wrap"><table id="history"><thead><tr><th scope="col">when</th><th scope="col">series</th><th scope="col">what</th><th scope="col">result</th><th scope="col">detail</th></tr></thead><tbody>${history.entries.map((e) => historyRow(e, zone))}</tbody></table></div>`}
<h2 id="silences">Silences</h2>
${silences.length === 0
    ? html`<p>No silence in force or to come.</p>`
    : html`<div class="table-wrap"><table id="silence-list"><thead><tr><th scope="col">id</th><th scope="col">matchers</th><th scope="col">from</th><th scope="col">until</th><th scope="col">action</th><th scope="col">comment</th><th scope="col">by</th><th scope="col">matches firing</th>${viewer.user ? html`<th scope="col"><span class="muted">expire</span></th>` : ''}</tr></thead>
<tbody>${silences.map(
        (s) => html`<tr data-silence="${String(s.id)}"><td>${String(s.id)}</td><td>${s.matchers.map(formatMatcher).join(', ')}</td><td class="time">${when(s.startsAt, zone)}</td><td class="time">${when(s.endsAt, zone)}</td><td>${s.action}</td><td>${s.comment}</td><td>${s.createdBy}</td>
<td>${states.filter((st) => st.state === 'firing' && matchesAll(s.matchers, st.labels)).map(series).join(', ') || '-'}</td>
${viewer.user ? html`<td><form method="post" action="/console/alerts/silences/${String(s.id)}/expire"><input type="hidden" name="csrf" value="${viewer.csrf ?? ''}"><button type="submit" class="secondary" aria-label="Expire silence ${String(s.id)}">Expire</button></form></td>` : ''}</tr>`,
      )}</tbody></table></div>`}
${silenceForm}`;
}

/** The form's silence, checked as `kpi alerts silence` checks its arguments; an error says what is wrong. */
export async function createSilence(ctx: PageContext, form: URLSearchParams, user: string): Promise<{ id: number } | { error: string }> {
  const lines = (form.get('matchers') ?? '').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  if (lines.length === 0) return { error: 'give at least one matcher, like alertname=ad-clicks-anomaly' };
  if (lines.length > MAX_MATCHERS) return { error: `at most ${MAX_MATCHERS} matchers` };
  const matchers: Matcher[] = [];
  for (const line of lines) {
    if (line.length > 500 || /[\u0000-\u001f\u007f]/.test(line)) return { error: 'a matcher is at most 500 characters, with no control characters' };
    try {
      matchers.push(parseMatcher(line));
    } catch (err) {
      return { error: (err as Error).message };
    }
  }
  const ms = parseDuration((form.get('for') ?? '').trim());
  if (ms === undefined || ms < MIN_SILENCE_MS || ms > MAX_SILENCE_MS) return { error: 'for must be a duration from 1m to 365d, e.g. 30m, 2h, 1d' };
  const comment = form.get('comment') ?? '';
  if (comment.length > 500 || /[\u0000-\u001f\u007f]/.test(comment)) return { error: 'the comment is at most 500 characters, with no control characters' };
  const startsAt = ctx.now;
  const silence = await addSilence(ctx.db, { matchers, startsAt, endsAt: new Date(startsAt.getTime() + ms), action: form.get('hold') ? 'hold' : 'drop', comment, createdBy: user });
  return { id: silence.id };
}

export async function expireSilence(ctx: PageContext, idText: string): Promise<{ ok: true } | { error: string }> {
  const id = Number(idText);
  if (!/^\d{1,16}$/.test(idText) || !Number.isSafeInteger(id) || id < 1) return { error: 'no such silence' };
  return (await endSilence(ctx.db, id, ctx.now)) ? { ok: true } : { error: `no active silence with id ${id}` };
}
