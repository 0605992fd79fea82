import { readStatus, type ConnectorStatus, type Status } from '../metrics/index.ts';
import type { PageContext } from './context.ts';
import { html, when, type Raw } from './html.ts';
import { listQuarantine } from '../warehouse/index.ts';
import { BadRequest, type Query } from './params.ts';

/** Quarantined records one page lists for a connector, newest first. */
const QUARANTINE_PAGE = 100;

/**
 * Connector health as `kpi status` judges it (readStatus): the overview's glance and the
 * Connectors page, where each connector shows its last success, next run, lag, failing since,
 * last error in full, its latest runs' rows and its quarantined records with their reasons.
 */

const VERDICT_CLASS: Record<ConnectorStatus['verdict'], string> = { ok: 'state-ok', warning: 'status-at_risk', failing: 'state-firing', inactive: 'muted' };

function lag(c: ConnectorStatus): string {
  if (c.lagDays === null) return c.completeThrough === null ? 'no complete day yet' : '-';
  return c.lagDays <= 0 ? 'up to date' : `${c.lagDays} day${c.lagDays === 1 ? '' : 's'} behind`;
}

const zoneOf = (ctx: PageContext) => ctx.config.alerting.timezone ?? ctx.config.reporting.timezone;
const at = (iso: string | null, zone: string) => when(iso === null ? null : new Date(iso), zone);

function summaryTable(status: Status, zone: string, linked: boolean): Raw {
  return html`<div class="table-wrap"><table id="connectors"><thead><tr><th scope="col">connector</th><th scope="col">verdict</th><th scope="col">last success</th><th scope="col">complete through</th><th scope="col">lag</th><th scope="col">next run</th><th scope="col">why</th></tr></thead>
<tbody>${status.connectors.map(
    (c) => html`<tr data-connector="${c.name}" data-verdict="${c.verdict}"><th scope="row">${linked ? html`<a href="/console/connectors#connector-${c.name}">${c.label}</a>` : c.label}</th><td><span class="${VERDICT_CLASS[c.verdict]}">${c.verdict}</span></td>
<td>${at(c.lastSuccessAt, zone)}</td><td>${c.completeThrough ?? '-'}</td><td>${lag(c)}</td><td>${at(c.nextRunAt, zone)}</td><td>${c.reasons.join('; ') || '-'}</td></tr>`,
  )}</tbody></table></div>`;
}

/**
 * On a first start (no fact in the warehouse), a page says so rather than show a wall of
 * dashes: the numbers come with the first sync.
 */
export async function noDataNotice(ctx: PageContext): Promise<Raw | ''> {
  const any = await ctx.db.selectFrom('metric_facts').select('date').limit(1).executeTakeFirst();
  return any ? '' : html`<p class="notice" role="status" id="no-data">No data yet: no connector has written any facts. The numbers appear after the first sync (<code>kpi run --once</code>, <code>kpi sync CONNECTOR</code>, or the schedules of <code>kpi start</code>).</p>`;
}

/** The overview's glance: one line per connector. */
export async function freshnessSummary(ctx: PageContext): Promise<Raw> {
  const status = await readStatus(ctx.db, ctx.config, ctx.now);
  if (status.connectors.length === 0) return html`<p>No connectors configured.</p>`;
  return html`${summaryTable(status, zoneOf(ctx), true)}${status.kpis.behind ? html`<p class="notice">KPI values are behind their facts on ${status.kpis.owedDays} day(s): a recompute is owed.</p>` : ''}`;
}

type QuarantineRow = Awaited<ReturnType<typeof listQuarantine>>[number];

function quarantineTable(c: ConnectorStatus, rows: ReadonlyArray<{ at: string; runId: number | null; stream: string; reason: string; record?: unknown }>, zone: string, all: boolean): Raw {
  const shown = all ? `the latest ${rows.length} of ${c.quarantine.count}` : `${c.quarantine.count} in all, the latest ${rows.length}`;
  return html`<div class="table-wrap"><table class="quarantine" id="quarantine-${c.name}"><caption>Quarantined records: ${shown}${!all && c.quarantine.count > rows.length ? html` (<a href="/console/connectors?quarantine=${encodeURIComponent(c.name)}#quarantine-${c.name}">show ${Math.min(c.quarantine.count, QUARANTINE_PAGE)}</a>)` : ''}</caption>
<thead><tr><th scope="col">when</th><th scope="col">run</th><th scope="col">stream</th><th scope="col">reason</th>${all ? html`<th scope="col">record</th>` : ''}</tr></thead>
<tbody>${rows.map((q) => html`<tr><td class="time">${at(q.at, zone)}</td><td>${q.runId === null ? '-' : String(q.runId)}</td><td>${q.stream}</td><td>${q.reason}</td>${all ? html`<td><pre class="full">${JSON.stringify(q.record)}</pre></td>` : ''}</tr>`)}</tbody></table></div>`;
}

function connectorSection(c: ConnectorStatus, zone: string, quarantined: QuarantineRow[] | undefined): Raw {
  return html`<section class="card" id="connector-${c.name}" aria-labelledby="connector-${c.name}-title"><h2 id="connector-${c.name}-title">${c.label} <span class="muted">(${c.name}${c.type ? `, ${c.type}` : ''})</span></h2>
<p><span class="${VERDICT_CLASS[c.verdict]}">${c.verdict}</span>${c.reasons.length ? `: ${c.reasons.join('; ')}` : ''}</p>
<dl class="facts">
<dt>Last success</dt><dd data-field="last-success">${at(c.lastSuccessAt, zone)}</dd>
<dt>Next scheduled run</dt><dd data-field="next-run">${at(c.nextRunAt, zone)}${c.schedule ? ` (${c.schedule.pattern}, ${c.schedule.timezone})` : ''}</dd>
<dt>Complete through</dt><dd>${c.completeThrough ?? 'no complete day yet'} (${lag(c)})</dd>
<dt>Failing since</dt><dd data-field="failing-since">${at(c.failingSince, zone)}</dd>
</dl>
${c.lastError ? html`<details${c.verdict === 'failing' ? html` open` : ''}><summary>Last error (run ${String(c.lastError.runId)}, ${at(c.lastError.at, zone)}${c.lastError.kind ? `, ${c.lastError.kind}` : ''})</summary><pre class="full" data-field="last-error">${c.lastError.message}</pre></details>` : ''}
${c.runs.length === 0
    ? html`<p>No runs yet.</p>`
    : html`<div class="table-wrap"><table class="runs"><caption>Latest runs</caption><thead><tr><th scope="col">run</th><th scope="col">started</th><th scope="col">status</th><th scope="col">trigger</th><th scope="col" class="num">read</th><th scope="col" class="num">written</th><th scope="col" class="num">deleted</th><th scope="col" class="num">quarantined</th></tr></thead>
<tbody>${c.runs.map((r) => html`<tr data-run="${String(r.id)}"><td>${String(r.id)}</td><td>${at(r.startedAt, zone)}</td><td>${r.status}</td><td>${r.trigger}</td><td class="num">${r.rowsRead}</td><td class="num">${r.rowsWritten}</td><td class="num">${r.rowsDeleted}</td><td class="num">${r.rowsQuarantined}</td></tr>`)}</tbody></table></div>`}
${c.quarantine.count === 0
    ? ''
    : quarantined
      ? quarantineTable(c, quarantined.map((q) => ({ at: new Date(q.created_at).toISOString(), runId: q.sync_run_id === null ? null : Number(q.sync_run_id), stream: q.stream, reason: q.reason, record: q.record })), zone, true)
      : quarantineTable(c, c.quarantine.latest.map((q) => ({ at: q.at, runId: q.syncRunId, stream: q.stream, reason: q.reason })), zone, false)}
</section>`;
}

export async function connectorsPage(ctx: PageContext, query: Query): Promise<Raw> {
  const status = await readStatus(ctx.db, ctx.config, ctx.now);
  const asked = query.quarantine;
  if (asked !== undefined && !status.connectors.some((c) => c.name === asked)) throw new BadRequest('quarantine must name a connector');
  const quarantined = asked === undefined ? undefined : await listQuarantine(ctx.db, { connector: asked, limit: QUARANTINE_PAGE });
  const zone = zoneOf(ctx);
  return html`<p>Overall: <span class="${VERDICT_CLASS[status.verdict]}" id="verdict">${status.verdict}</span>. Times in ${zone}.</p>
${status.connectors.length === 0 ? html`<p>No connectors configured.</p>` : summaryTable(status, zone, true)}
${status.kpis.behind ? html`<p class="notice">KPI values are behind their facts on ${status.kpis.owedDays} day(s): a recompute is owed.</p>` : ''}
${status.connectors.map((c) => connectorSection(c, zone, c.name === asked ? quarantined : undefined))}`;
}
