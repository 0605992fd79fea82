import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * What the pages load besides themselves, all from this server: Chart.js from node_modules
 * (no CDN: the console works with no internet), one style sheet and one small script that
 * turns each chart's JSON into a Chart.js chart. No web fonts: the system's sans-serif.
 */

let chartJs: string | undefined;

/** Chart.js's UMD bundle as the package ships it, read once. */
export function chartLibrary(): string {
  // The package's exports map hides dist/ from a subpath import; its main entry sits beside the bundle.
  chartJs ??= readFileSync(path.join(path.dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js'), 'utf8');
  return chartJs;
}

export const CONSOLE_CSS = `
:root { --fg: #1d2433; --muted: #5b6475; --line: #d7dce5; --bg: #f6f7f9; --card: #fff; --accent: #1f5fbf;
  --good: #177245; --bad: #b42318; --warn: #a15c07; --focus: #ffbf47; color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible, summary:focus-visible {
  outline: 3px solid var(--focus); outline-offset: 2px; }
.skip { position: absolute; left: -9999px; top: 0; background: #fff; padding: .5rem 1rem; }
.skip:focus { left: .5rem; z-index: 10; }
header.top { background: #17233b; color: #fff; display: flex; flex-wrap: wrap; align-items: center; gap: .25rem 1rem; padding: .5rem 1rem; }
header.top .brand { font-weight: 700; margin-right: .5rem; }
header.top nav ul { list-style: none; display: flex; flex-wrap: wrap; gap: .25rem; margin: 0; padding: 0; }
header.top nav a { color: #fff; text-decoration: none; padding: .35rem .6rem; border-radius: 4px; display: inline-block; }
header.top nav a[aria-current="page"] { background: #30446b; }
header.top .who { margin-left: auto; display: flex; gap: .5rem; align-items: center; font-size: .9rem; }
header.top .who a, header.top .who button { color: #fff; }
main { padding: 1rem; max-width: 1200px; margin: 0 auto; }
h1 { font-size: 1.4rem; margin: .25rem 0 .75rem; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
.muted { color: var(--muted); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .75rem 1rem; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: .75rem; }
.tile h3 { font-size: .95rem; margin: 0; font-weight: 600; }
.tile h3 a { color: inherit; }
.tile .value { font-size: 1.5rem; font-weight: 700; margin: .15rem 0; }
.northstar .value { font-size: 2.1rem; }
.northstar { margin-bottom: .75rem; }
.change.good { color: var(--good); } .change.bad { color: var(--bad); }
.spark { height: 40px; margin-top: .35rem; }
.mark { font-size: .8rem; padding: .05rem .4rem; border-radius: 999px; border: 1px solid var(--line); display: inline-block; }
.mark.partial { color: var(--warn); border-color: var(--warn); }
.mark.complete { color: var(--good); border-color: var(--good); }
.state-firing, .status-off_track, .status-missed, .result-failed { color: var(--bad); font-weight: 600; }
.status-at_risk, .state-pending, .result-silenced { color: var(--warn); font-weight: 600; }
.state-ok, .status-on_track, .status-achieved, .result-sent { color: var(--good); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; background: var(--card); }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td.time { white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
form.controls { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin-bottom: 1rem; }
form.controls label, form.stack label { display: flex; flex-direction: column; font-size: .85rem; gap: .15rem; }
input, select, textarea, button { font: inherit; }
input, select, textarea { padding: .35rem .45rem; border: 1px solid #9aa3b2; border-radius: 4px; background: #fff; }
button, .button { background: var(--accent); color: #fff; border: 0; border-radius: 4px; padding: .45rem .9rem; cursor: pointer; text-decoration: none; display: inline-block; }
button.secondary { background: #5b6475; }
button.link { background: none; border: 0; padding: 0; text-decoration: underline; cursor: pointer; }
form.stack { display: grid; gap: .6rem; max-width: 480px; }
.chart { position: relative; height: 320px; }
.goal-chart { position: relative; height: 240px; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: .75rem; }
.error { color: var(--bad); }
.notice { border-left: 4px solid var(--warn); padding: .5rem .75rem; background: #fff8eb; }
pre.full { white-space: pre-wrap; word-break: break-word; margin: 0; font-size: .85rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .5rem 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
section.card { margin-bottom: .75rem; }
details summary { cursor: pointer; }
@media (max-width: 600px) {
  main { padding: .6rem; }
  .chart { height: 240px; }
  header.top .who { margin-left: 0; }
  th, td { padding: .3rem .35rem; font-size: .9rem; }
  .table-wrap table { min-width: 640px; }
  .tiles { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: .5rem; }
  .tile { padding: .5rem .6rem; } .tile .value { font-size: 1.2rem; } .northstar .value { font-size: 1.7rem; }
}
`;

/** Reads each canvas's chart from the JSON beside it; no other behaviour needs a script. */
export const CONSOLE_JS = `
(function () {
  'use strict';
  function fmt(v, unit, currency) {
    if (v === null || v === undefined || !isFinite(v)) return 'n/a';
    if (unit === 'percent') return (v * 100).toFixed(1) + '%';
    if (unit === 'currency') return v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }) + (currency ? ' ' + currency : '');
    if (unit === 'count') return v.toLocaleString('en-US', { maximumFractionDigits: 0 });
    return v.toLocaleString('en-US', { maximumFractionDigits: 2 });
  }
  var COLORS = ['#1f5fbf', '#d9480f', '#2b8a3e', '#862e9c', '#c2255c', '#0b7285', '#5c940d', '#e67700', '#495057', '#364fc7'];
  function draw(canvas) {
    var source = document.getElementById(canvas.getAttribute('data-chart'));
    if (!source || typeof Chart === 'undefined') return;
    var spec = JSON.parse(source.textContent);
    var spark = !!spec.spark;
    var datasets = spec.datasets.map(function (d, i) {
      var color = d.color || COLORS[i % COLORS.length];
      return { label: d.label, data: d.data, borderColor: color, backgroundColor: color, borderDash: d.dashed ? [6, 4] : [],
        borderWidth: spark ? 1.5 : 2, pointRadius: spark ? 0 : (d.points === false ? 0 : 2.5), spanGaps: !!d.spanGaps, tension: 0.15, fill: false };
    });
    var chart = new Chart(canvas, {
      type: spec.type || 'line',
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: 'index', intersect: false },
        plugins: {
          legend: { display: !spark, position: 'bottom' },
          tooltip: { enabled: !spark, callbacks: { label: function (c) { return c.dataset.label + ': ' + fmt(c.parsed.y, spec.unit, spec.currency); } } }
        },
        scales: spark ? { x: { display: false }, y: { display: false } } : {
          x: { ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 8 } },
          y: { beginAtZero: !!spec.zero, ticks: { callback: function (v) { return fmt(v, spec.unit, ''); } } }
        }
      }
    });
    canvas.setAttribute('data-drawn', String(chart.data.datasets.length));
  }
  function start() { Array.prototype.forEach.call(document.querySelectorAll('canvas[data-chart]'), draw); }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
`;
