import { redactSecrets } from '../core/secrets.ts';
import type { KpiUnit } from '../core/vocabulary.ts';
import { escapeHtml, formatKpiChange, formatValue } from '../notify/format.ts';

/**
 * The pages' frame and the small pieces every page uses. Every text that comes from data or
 * a source (campaign names, error messages) goes through `text`, which escapes it and scrubs
 * any secret the configuration knows of: a source can name a campaign after its key.
 */

/** Text for HTML: secrets scrubbed, then escaped. */
export function text(value: string | number | null | undefined): string {
  return escapeHtml(redactSecrets(String(value ?? '')));
}

/** A template tag whose interpolations are escaped unless they are `raw` pieces. */
export class Raw {
  constructor(readonly html: string) {}
  toString(): string {
    return this.html;
  }
}

export const raw = (html: string): Raw => new Raw(html);

type Piece = Raw | string | number | null | undefined | false | readonly Piece[];

function render(p: Piece): string {
  if (p === null || p === undefined || p === false) return '';
  if (p instanceof Raw) return p.html;
  if (Array.isArray(p)) return p.map(render).join('');
  return text(p as string | number);
}

export function html(strings: TemplateStringsArray, ...values: Piece[]): Raw {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1]!;
  });
  return new Raw(out);
}

export const kpiValue = (value: number | null, unit: KpiUnit, currency: string): string => formatValue(value, unit, currency);

export function kpiChangeText(c: { value: number | null; previous: number | null; change: number | null; unit: KpiUnit }): string {
  return formatKpiChange({ value: c.value, previous: c.previous, changePct: c.change === null ? null : c.change * 100, unit: c.unit });
}

/** good / bad for a change, by the KPI's direction; '' when flat or unknown. */
export function changeClass(c: { value: number | null; previous: number | null; direction: 'higher' | 'lower' }): string {
  if (c.value === null || c.previous === null || c.value === c.previous) return '';
  return (c.value > c.previous) === (c.direction === 'higher') ? 'good' : 'bad';
}

let chartIds = 0;

/** A canvas and the JSON Chart.js draws on it (read by the console script). `label` describes the chart to screen readers. */
export function chart(spec: object, label: string, className = 'chart'): Raw {
  const id = `chart-${++chartIds}`;
  // Labels are data (campaign names): scrubbed of secrets as any text. </script> inside the
  // JSON would end the element: every < is written as \\u003c.
  const json = redactSecrets(JSON.stringify(spec)).replace(/</g, '\\u003c');
  return html`<div class="${className}"><canvas role="img" aria-label="${label}" data-chart="${id}-data"></canvas></div><script type="application/json" id="${id}-data">${raw(json)}</script>`;
}

export interface Viewer {
  /** The signed-in user, or null. */
  user: string | null;
  /** The token the session's forms carry; null when not signed in. */
  csrf: string | null;
  /** Whether signing in is possible (server.dashboard is set). */
  canSignIn: boolean;
}

const NAV = [
  ['overview', '/console/', 'Overview'],
  ['kpi', '/console/kpi', 'KPI explorer'],
  ['goals', '/console/goals', 'Goals and OKRs'],
  ['alerts', '/console/alerts', 'Alerts'],
  ['connectors', '/console/connectors', 'Connectors'],
] as const;

export type Section = (typeof NAV)[number][0] | 'login';

export function page(options: { title: string; section: Section; viewer: Viewer; body: Raw; here?: string }): string {
  const { viewer } = options;
  const back = encodeURIComponent(options.here ?? '/console/');
  const who = viewer.user
    ? html`<span>Signed in as ${viewer.user}</span><form method="post" action="/console/logout"><input type="hidden" name="csrf" value="${viewer.csrf ?? ''}"><button type="submit" class="link">Sign out</button></form>`
    : viewer.canSignIn && options.section !== 'login'
      ? html`<a href="/console/login?next=${back}">Sign in</a>`
      : '';
  return `<!doctype html>${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · KPI console</title><link rel="stylesheet" href="/console/assets/console.css">
<script src="/console/assets/chart.umd.min.js" defer></script><script src="/console/assets/console.js" defer></script></head>
<body><a class="skip" href="#main">Skip to content</a>
<header class="top"><span class="brand">KPI console</span><nav aria-label="Sections"><ul>${NAV.map(
    ([key, href, label]) => html`<li><a href="${href}"${raw(key === options.section ? ' aria-current="page"' : '')}>${label}</a></li>`,
  )}</ul></nav><div class="who">${who}</div></header>
<main id="main" tabindex="-1"><h1>${options.title}</h1>${options.body}</main></body></html>`.html}`;
}

/** A select of options, the current one selected. */
export function select(name: string, label: string, options: ReadonlyArray<readonly [string, string]>, current: string): Raw {
  return html`<label>${label}<select name="${name}">${options.map(([value, shown]) => html`<option value="${value}"${raw(value === current ? ' selected' : '')}>${shown}</option>`)}</select></label>`;
}

export function when(d: Date | null | undefined, timeZone: string): string {
  if (!d) return '-';
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(d);
  return parts.replace(',', '');
}
