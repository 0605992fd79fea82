import {
  ALERT_COLORS,
  GOAL_STATUS_COLOR,
  GOAL_STATUS_LABEL,
  changeTone,
  escapeHtml,
  formatDuration,
  formatKpiChange,
  formatProgress,
  formatTime,
  formatValue,
  instanceFacts,
  isLink,
  NO_DATA,
  oneLine,
} from './format.ts';
import { redactAndCut, redactSecrets } from '../core/secrets.ts';
import { sparklinePng } from './sparkline.ts';
import type { GoalStatus } from '../core/vocabulary.ts';
import type { AlertInstance, AlertNotification, Digest, DigestGoal, DigestKpi } from './types.ts';

export interface InlineImage {
  filename: string;
  content: Buffer;
  /** Referenced from the HTML as src="cid:<cid>". */
  cid: string;
  contentType: 'image/png';
}

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
  attachments: InlineImage[];
}

/**
 * Text from outside (campaign names, series, labels, summaries) for the HTML: secrets scrubbed
 * first, as Slack's are, since once escaped (`&amp;` for `&`) a secret no longer reads the same.
 */
const h = (text: string): string => escapeHtml(redactSecrets(text));

// Long subjects are folded by mailers and clipped by clients anyway.
const MAX_SUBJECT = 200;

const FONT = 'font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif';
const MUTED = '#57606a';
const GOOD = ALERT_COLORS.resolved;
const BAD = ALERT_COLORS.critical;
const NEUTRAL = '#6b7280';

function page(accent: string, body: string): string {
  // Tables and inline styles only: most mail clients ignore <style> and flexbox.
  return `<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"></head>
<body style="margin:0;padding:16px;background:#f6f8fa;${FONT};color:#1f2328">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:680px;background:#ffffff;border-left:6px solid ${accent};border-radius:4px">
<tr><td style="padding:16px 20px">
${body}
</td></tr></table>
</body></html>`;
}

function link(url: string | undefined, label: string): string {
  return url && /^https?:\/\//i.test(url) ? `<p style="margin:16px 0 0"><a href="${h(url)}" style="color:#0969da">${h(label)}</a></p>` : '';
}

const cell = 'padding:6px 10px;border-bottom:1px solid #d0d7de;text-align:left';

// ---- alert ----

export function alertSubject(n: AlertNotification): string {
  const name = oneLine(n.ruleName);
  return redactAndCut(n.status === 'firing' ? `[FIRING] ${name} (${n.severity})` : `[RESOLVED] ${name}`, MAX_SUBJECT);
}

/** The table's columns: the series, then every figure any of the series has (instanceFacts), in their order. */
function columns(instances: AlertInstance[]): Array<{ title: string; get: (i: AlertInstance) => string }> {
  const facts = new Map(instances.map((i) => [i, new Map(instanceFacts(i).map((f) => [f.title, f.text]))] as const));
  const titles = [...new Set(instances.flatMap((i) => [...facts.get(i)!.keys()]))];
  return [{ title: 'Series', get: (i: AlertInstance) => i.series }, ...titles.map((title) => ({ title, get: (i: AlertInstance) => facts.get(i)!.get(title) ?? '' }))];
}

/** Under the series' name: what it is about, and its report (a link, or the command that prints it). */
function instanceNotes(i: AlertInstance): string {
  const notes = [
    i.description ? `<i>${h(i.description)}</i>` : '',
    !i.report ? '' : isLink(i.report) ? `<a href="${h(i.report)}" style="color:#0969da">Open the report</a>` : `Report: <code>${h(i.report)}</code>`,
  ].filter(Boolean);
  return notes.length > 0 ? `<br><span style="font-size:12px;color:${MUTED}">${notes.join('<br>')}</span>` : '';
}

function instanceText(i: AlertInstance, cols: ReturnType<typeof columns>): string[] {
  const figures = cols.map((c, idx) => (idx === 0 ? c.get(i) : `${c.title.toLowerCase()} ${c.get(i)}`)).filter((t, idx) => idx === 0 || !t.endsWith(' '));
  return [
    `- ${figures.join(', ')}`,
    ...(i.description ? [`  ${oneLine(i.description)}`] : []),
    ...(i.report ? [`  Report: ${oneLine(i.report)}`] : []),
  ];
}

function alertTimes(n: AlertNotification): string[] {
  const lines = [`Started: ${formatTime(n.startsAt, n.timeZone)}`];
  if (n.status === 'resolved' && n.endsAt) {
    const lasted = formatDuration(n.startsAt, n.endsAt);
    lines.push(`Resolved: ${formatTime(n.endsAt, n.timeZone)}${lasted ? ` (lasted ${lasted})` : ''}`);
  }
  return lines;
}

export function renderEmail(n: AlertNotification): RenderedEmail {
  const firing = n.status === 'firing';
  const color = firing ? ALERT_COLORS[n.severity] : ALERT_COLORS.resolved;
  const cols = columns(n.instances);
  const labels = Object.entries(n.labels);
  const times = alertTimes(n);

  const html = page(
    color,
    `<div><span style="display:inline-block;background:${color};color:#ffffff;font-weight:bold;padding:2px 8px;border-radius:3px;font-size:12px">${firing ? 'FIRING' : 'RESOLVED'}</span>
<span style="color:${MUTED};font-size:12px;margin-left:6px">severity ${h(n.severity)}</span></div>
<h2 style="margin:10px 0 6px;font-size:20px">${h(n.ruleName)}</h2>
<p style="margin:0 0 14px;font-size:15px">${h(n.summary)}</p>
${n.description ? `<p style="margin:0 0 14px;font-size:14px;color:${MUTED}"><i>${h(n.description)}</i></p>` : ''}
<table cellpadding="0" cellspacing="0" style="border-collapse:collapse;font-size:14px">
<tr>${cols.map((c) => `<th style="${cell};background:#f6f8fa">${h(c.title)}</th>`).join('')}</tr>
${n.instances.map((i) => `<tr>${cols.map((c, idx) => `<td style="${cell}">${h(c.get(i))}${idx === 0 ? instanceNotes(i) : ''}</td>`).join('')}</tr>`).join('\n')}
</table>
${labels.length > 0 ? `<p style="margin:14px 0 0;color:${MUTED};font-size:12px">${labels.map(([k, v]) => `${h(k)}: <b>${h(v)}</b>`).join(' &middot; ')}</p>` : ''}
<p style="margin:8px 0 0;color:${MUTED};font-size:12px">${times.map(h).join('<br>')}</p>
${link(n.runbook, 'Open runbook')}
${link(n.link, 'Open dashboard')}`,
  );

  const text = [
    alertSubject(n),
    '',
    n.summary,
    ...(n.description ? ['', n.description] : []),
    '',
    ...n.instances.flatMap((i) => instanceText(i, cols)),
    '',
    ...(labels.length > 0 ? [`Labels: ${labels.map(([k, v]) => `${k}=${v}`).join(', ')}`] : []),
    ...times,
    ...(n.runbook ? [`Runbook: ${n.runbook}`] : []),
    ...(n.link ? [`Dashboard: ${n.link}`] : []),
    '',
  ].join('\n');

  return { subject: alertSubject(n), text: redactSecrets(text), html, attachments: [] };
}

// ---- digest ----

export interface DigestEmailOptions {
  sparkline?: { width?: number; height?: number };
}

/** Green or red only for a change big enough to matter, by which way the KPI should move (CAC down is good); grey otherwise. */
function changeColor(k: DigestKpi): string {
  const tone = k.tone ?? changeTone(k);
  return tone === 'good' ? GOOD : tone === 'bad' ? BAD : NEUTRAL;
}

function changeHtml(k: DigestKpi): string {
  const change = formatKpiChange(k);
  if (change === NO_DATA) return `<span style="color:${NEUTRAL}">n/a</span>`;
  const arrow = change.startsWith('+') ? '&#9650;' : change.startsWith('−') ? '&#9660;' : '&#9654;';
  return `<span style="color:${changeColor(k)}">${arrow} ${h(change)}</span>`;
}

function bar(progress: number, color: string, width = 160): string {
  const pct = Number.isFinite(progress) ? Math.round(Math.min(Math.max(progress, 0), 1) * 100) : 0;
  const filled = pct > 0 ? `<td width="${pct}%" height="8" bgcolor="${color}" style="background:${color};font-size:0;line-height:0">&nbsp;</td>` : '';
  const empty = pct < 100 ? `<td height="8" bgcolor="#e5e7eb" style="background:#e5e7eb;font-size:0;line-height:0">&nbsp;</td>` : '';
  return `<table role="presentation" width="${width}" cellpadding="0" cellspacing="0" style="border-collapse:collapse;display:inline-table;vertical-align:middle"><tr>${filled}${empty}</tr></table>`;
}

function progressRow(r: { name: string; progress: number; expected?: number; status: GoalStatus }, style: { indent?: number; bold?: boolean } = {}): string {
  const color = GOAL_STATUS_COLOR[r.status];
  const expected = r.expected === undefined ? '' : ` <span style="color:${MUTED};font-size:12px">(expected ${formatProgress(r.expected)})</span>`;
  return `<tr>
<td style="${cell};padding-left:${10 + (style.indent ?? 0)}px${style.bold ? ';font-weight:bold' : ''}">${h(r.name)}</td>
<td style="${cell}">${bar(r.progress, color)}</td>
<td style="${cell};white-space:nowrap">${formatProgress(r.progress)}${expected}</td>
<td style="${cell};color:${color};font-weight:bold;white-space:nowrap">${GOAL_STATUS_LABEL[r.status]}</td>
</tr>`;
}

function section(title: string, inner: string): string {
  return `<h3 style="margin:22px 0 8px;font-size:16px">${h(title)}</h3>\n${inner}`;
}

function textLine(k: DigestKpi): string {
  return `${k.label}: ${formatValue(k.value, k.unit, k.currency)} (${formatKpiChange(k)}; previous ${formatValue(k.previous, k.unit, k.currency)})`;
}

function textGoal(g: DigestGoal, indent = ''): string {
  return `${indent}- ${g.name}: ${formatProgress(g.progress)} (expected ${formatProgress(g.expected)}), ${GOAL_STATUS_LABEL[g.status]}`;
}

/** The weekly digest, with each KPI's trend as an inline PNG (cid) that mail clients display without fetching anything. */
export function renderDigestEmail(d: Digest, options: DigestEmailOptions = {}): RenderedEmail {
  const width = options.sparkline?.width ?? 120;
  const height = options.sparkline?.height ?? 32;
  const attachments: InlineImage[] = [];

  const spark = (k: DigestKpi): string => {
    if (!k.series.some((v) => v !== null && Number.isFinite(v))) return '';
    const cid = `spark-${attachments.length + 1}@kpi-pipeline`;
    const filename = `${k.name.replace(/[^a-z0-9_-]+/gi, '_') || 'kpi'}.png`;
    attachments.push({ filename, cid, contentType: 'image/png', content: sparklinePng(k.series, { width, height, color: changeColor(k) }) });
    return `<img src="cid:${cid}" width="${width}" height="${height}" alt="${h(k.label)} trend" style="display:block;border:0">`;
  };

  const parts: string[] = [
    `<h1 style="margin:0;font-size:22px">${h(d.title)}</h1>`,
    `<p style="margin:4px 0 0;color:${MUTED}">${h(d.periodLabel)} &middot; times in ${h(d.timeZone)}</p>`,
  ];
  if (d.northStar) {
    const k = d.northStar;
    parts.push(`<table role="presentation" cellpadding="0" cellspacing="0" style="margin-top:18px;background:#f6f8fa;border-radius:4px;width:100%"><tr>
<td style="padding:14px 16px"><div style="font-size:12px;color:${MUTED};text-transform:uppercase;letter-spacing:.05em">North Star &middot; ${h(k.label)}</div>
<div style="font-size:28px;font-weight:bold;margin-top:4px">${h(formatValue(k.value, k.unit, k.currency))}</div>
<div style="font-size:14px;margin-top:2px">${changeHtml(k)} <span style="color:${MUTED}">vs ${h(formatValue(k.previous, k.unit, k.currency))}</span></div></td>
<td style="padding:14px 16px" align="right">${spark(k)}</td></tr></table>`);
  }
  if (d.kpis.length > 0) {
    const rows = d.kpis.map(
      (k) => `<tr><td style="${cell}">${h(k.label)}</td><td style="${cell};font-weight:bold;white-space:nowrap">${h(formatValue(k.value, k.unit, k.currency))}</td>
<td style="${cell};white-space:nowrap">${changeHtml(k)}</td><td style="${cell}">${spark(k)}</td></tr>`,
    );
    parts.push(
      section(
        'KPIs',
        `<table cellpadding="0" cellspacing="0" style="border-collapse:collapse;font-size:14px;width:100%">
<tr><th style="${cell}">KPI</th><th style="${cell}">Value</th><th style="${cell}">Change</th><th style="${cell}">Trend</th></tr>
${rows.join('\n')}
</table>`,
      ),
    );
  }
  if (d.goals.length > 0) {
    parts.push(section('Goals', `<table cellpadding="0" cellspacing="0" style="border-collapse:collapse;font-size:14px;width:100%">\n${d.goals.map((g) => progressRow(g)).join('\n')}\n</table>`));
  }
  if (d.okrs.length > 0) {
    const rows = d.okrs.flatMap((o) => [
      progressRow({ name: o.objective, progress: o.progress, status: o.status }, { bold: true }),
      ...o.keyResults.map((kr) => progressRow(kr, { indent: 16 })),
    ]);
    parts.push(section('OKRs', `<table cellpadding="0" cellspacing="0" style="border-collapse:collapse;font-size:14px;width:100%">\n${rows.join('\n')}\n</table>`));
  }
  if (d.firing.length > 0) {
    const items = d.firing.map(
      (f) => `<li style="margin:4px 0"><b>${h(f.ruleName)}</b>: ${h(f.summary)} <span style="color:${MUTED};font-size:12px">since ${h(formatTime(f.since, d.timeZone))}</span></li>`,
    );
    parts.push(section(`Firing alerts (${d.firing.length})`, `<ul style="margin:0;padding-left:20px;color:${BAD}">\n${items.join('\n')}\n</ul>`));
  }
  parts.push(link(d.link, 'Open dashboard'));

  const text = [
    d.title,
    d.periodLabel,
    '',
    ...(d.northStar ? [`North Star: ${textLine(d.northStar)}`, ''] : []),
    ...(d.kpis.length > 0 ? ['KPIs', ...d.kpis.map((k) => `- ${textLine(k)}`), ''] : []),
    ...(d.goals.length > 0 ? ['Goals', ...d.goals.map((g) => textGoal(g)), ''] : []),
    ...(d.okrs.length > 0
      ? ['OKRs', ...d.okrs.flatMap((o) => [`- ${o.objective}: ${formatProgress(o.progress)}, ${GOAL_STATUS_LABEL[o.status]}`, ...o.keyResults.map((kr) => textGoal(kr, '    '))]), '']
      : []),
    ...(d.firing.length > 0 ? [`Firing alerts (${d.firing.length})`, ...d.firing.map((f) => `- ${oneLine(f.ruleName)}: ${oneLine(f.summary)} (since ${formatTime(f.since, d.timeZone)})`), ''] : []),
    ...(d.link ? [`Dashboard: ${d.link}`, ''] : []),
  ].join('\n');

  return { subject: redactAndCut(oneLine(`${d.title} — ${d.periodLabel}`), MAX_SUBJECT), text: redactSecrets(text), html: page('#0969da', parts.join('\n')), attachments };
}
