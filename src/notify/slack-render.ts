import {
  ALERT_COLORS,
  GOAL_STATUS_LABEL,
  changeTone,
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
import { cutText, redactSecrets } from '../core/secrets.ts';
import type { AlertInstance, AlertNotification, Digest, DigestGoal, DigestKpi } from './types.ts';

export interface SlackText {
  type: 'plain_text' | 'mrkdwn';
  text: string;
}

export type SlackBlock =
  | { type: 'header'; text: SlackText }
  | { type: 'section'; text?: SlackText; fields?: SlackText[] }
  | { type: 'context'; elements: SlackText[] }
  | { type: 'actions'; elements: Array<{ type: 'button'; text: SlackText; url: string; action_id: string }> }
  | { type: 'divider' };

export interface SlackAttachment {
  color: string;
  blocks: SlackBlock[];
}

/** Body of a webhook POST; chat.postMessage takes the same plus `channel`. */
export interface SlackMessage {
  /** Shown in notifications and by clients that cannot render blocks. */
  text: string;
  blocks: SlackBlock[];
  attachments?: SlackAttachment[];
}

/** Block Kit limits (https://api.slack.com/reference/block-kit). */
export const SLACK_LIMITS = {
  blocks: 50,
  headerText: 150,
  sectionText: 3000,
  fields: 10,
  fieldText: 2000,
  contextElements: 10,
  contextText: 3000,
  buttonText: 75,
  url: 3000,
  // Slack cuts `text` at 40,000, but a notification preview is a line or two.
  fallbackText: 3000,
} as const;


/**
 * Text from outside (campaign names, summaries, rule titles) made fit for any Slack text
 * field: secrets scrubbed, then the three characters Slack parses escaped, so that nothing
 * in it becomes a mention (<!channel>) or a disguised link (<https://…|click here>). Every
 * such text passes here before it is cut, so a secret is scrubbed whole.
 */
export function escapeMrkdwn(text: string): string {
  return redactSecrets(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Cuts escaped text without leaving half an entity such as "&am…" (or half a surrogate pair). */
function fitEscaped(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = cutText(text, max);
  return cut.slice(0, -1).replace(/&[a-z]{0,3}$/, '') + '…';
}

/** plain_text is not parsed for links or mentions, but Slack decodes the entities in it too: escaped like mrkdwn. */
const plain = (raw: string, max: number): SlackText => ({ type: 'plain_text', text: fitEscaped(escapeMrkdwn(oneLine(raw)), max) || ' ' });
/** `text` is mrkdwn whose outside parts are escaped already. */
const md = (text: string, max: number): SlackText => ({ type: 'mrkdwn', text: fitEscaped(text, max) || ' ' });

function isHttpUrl(url: string | undefined): url is string {
  return !!url && /^https?:\/\/\S+$/i.test(url) && url.length <= SLACK_LIMITS.url;
}

/** Buttons for the links that are http(s) URLs; none when no link is. */
function linkButtons(links: ReadonlyArray<{ url: string | undefined; label: string; id: string }>): SlackBlock | undefined {
  const elements = links
    .filter((l): l is { url: string; label: string; id: string } => isHttpUrl(l.url))
    .map((l) => ({ type: 'button' as const, text: plain(l.label, SLACK_LIMITS.buttonText), url: l.url, action_id: l.id }));
  return elements.length > 0 ? { type: 'actions', elements } : undefined;
}

function linkButton(url: string | undefined, label: string): SlackBlock | undefined {
  return linkButtons([{ url, label, id: 'open_link' }]);
}

/** A link Slack shows as "Open the report", or the command line that prints it. */
function reportMrkdwn(report: string | undefined): string {
  if (!report) return '';
  // Inside <url|text> the characters Slack parses must not appear as they are.
  if (isLink(report) && report.length <= SLACK_LIMITS.url) return `<${report.replace(/\|/g, '%7C').replace(/</g, '%3C').replace(/>/g, '%3E')}|Open the report>`;
  return `Report: \`${escapeMrkdwn(oneLine(report))}\``;
}

function instanceBlock(inst: AlertInstance): SlackBlock {
  const fields = instanceFacts(inst).map((f) => md(`*${f.title}*\n${f.text}`, SLACK_LIMITS.fieldText));
  const head = [`*${escapeMrkdwn(oneLine(inst.series))}*`, inst.description ? `_${escapeMrkdwn(oneLine(inst.description))}_` : '', reportMrkdwn(inst.report)];
  return { type: 'section', text: md(head.filter(Boolean).join('\n'), SLACK_LIMITS.sectionText), fields };
}

export function alertHeadline(n: AlertNotification): string {
  return n.status === 'firing' ? `[FIRING] ${oneLine(n.ruleName)} (${n.severity})` : `[RESOLVED] ${oneLine(n.ruleName)}`;
}

export function alertColor(n: AlertNotification): string {
  return n.status === 'resolved' ? ALERT_COLORS.resolved : ALERT_COLORS[n.severity];
}

export function renderSlackMessage(n: AlertNotification): SlackMessage {
  const headline = alertHeadline(n);
  const header: SlackBlock = { type: 'header', text: plain(headline, SLACK_LIMITS.headerText) };

  const lead: SlackBlock[] = [{ type: 'section', text: md(escapeMrkdwn(n.summary), SLACK_LIMITS.sectionText) }];
  if (n.description) lead.push({ type: 'section', text: md(`_${escapeMrkdwn(n.description)}_`, SLACK_LIMITS.sectionText) });
  const labels = Object.entries(n.labels);
  if (labels.length > 0) {
    const text = labels.map(([k, v]) => `${escapeMrkdwn(k)}: *${escapeMrkdwn(v)}*`).join('  ·  ');
    lead.push({ type: 'context', elements: [md(text, SLACK_LIMITS.contextText)] });
  }

  const times = [`Started ${formatTime(n.startsAt, n.timeZone)}`];
  if (n.status === 'resolved' && n.endsAt) {
    times.push(`Resolved ${formatTime(n.endsAt, n.timeZone)}`);
    const lasted = formatDuration(n.startsAt, n.endsAt);
    if (lasted) times.push(`lasted ${lasted}`);
  }
  const tail: SlackBlock[] = [
    { type: 'context', elements: [md(`${escapeMrkdwn(times.join('  ·  '))}  ·  severity *${n.severity}*`, SLACK_LIMITS.contextText)] },
  ];
  const buttons = linkButtons([
    { url: n.runbook, label: 'Open runbook', id: 'open_runbook' },
    { url: n.link, label: 'Open dashboard', id: 'open_link' },
  ]);
  if (buttons) tail.push(buttons);

  // Grouped series take whatever room the fixed blocks leave; the rest become one "and N more" line.
  const room = SLACK_LIMITS.blocks - 1 - lead.length - tail.length;
  const shown = n.instances.length <= room ? n.instances : n.instances.slice(0, room - 1);
  const middle = shown.map(instanceBlock);
  if (shown.length < n.instances.length) {
    middle.push({ type: 'context', elements: [md(`…and ${n.instances.length - shown.length} more series`, SLACK_LIMITS.contextText)] });
  }

  return fitSlackMessage({
    text: `${escapeMrkdwn(headline)}: ${escapeMrkdwn(oneLine(n.summary))}`,
    blocks: [header],
    attachments: [{ color: alertColor(n), blocks: [...lead, ...middle, ...tail] }],
  });
}

// ---- digest ----

const SPARK_CHARS = '▁▂▃▄▅▆▇█';
const SPARK_MAX_POINTS = 30;

/** A text sparkline, since a webhook cannot carry an image without a public URL. */
export function textSparkline(values: Array<number | null>): string {
  const recent = values.slice(-SPARK_MAX_POINTS);
  const nums = recent.filter((v): v is number => v !== null && Number.isFinite(v));
  if (nums.length === 0) return '';
  const min = Math.min(...nums);
  const span = Math.max(...nums) - min;
  return recent
    .map((v) => {
      if (v === null || !Number.isFinite(v)) return ' ';
      const level = span === 0 ? 3 : Math.round(((v - min) / span) * (SPARK_CHARS.length - 1));
      return SPARK_CHARS[level] ?? ' ';
    })
    .join('');
}

function textBar(progress: number, cells = 10): string {
  const filled = Number.isFinite(progress) ? Math.round(Math.min(Math.max(progress, 0), 1) * cells) : 0;
  return '█'.repeat(filled) + '░'.repeat(cells - filled);
}

function changeText(k: DigestKpi): string {
  const change = formatKpiChange(k);
  if (change === NO_DATA) return '';
  const arrow = change.startsWith('+') ? '▲' : change.startsWith('−') ? '▼' : '▶';
  // Coloured only when the change is big enough to matter, the way the KPI should move or not.
  const tone = k.tone ?? changeTone(k);
  const mark = tone === 'good' ? ' :large_green_circle:' : tone === 'bad' ? ' :red_circle:' : '';
  return `${arrow} ${change}${mark}`;
}

function kpiText(k: DigestKpi): string {
  const spark = textSparkline(k.series);
  return [
    `*${escapeMrkdwn(oneLine(k.label))}*`,
    `${formatValue(k.value, k.unit, k.currency)}  ${changeText(k)}`.trim(),
    spark ? `\`${spark}\`` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

function goalLine(g: DigestGoal, indent = ''): string {
  return `${indent}• ${escapeMrkdwn(g.name)}  \`${textBar(g.progress)}\` ${formatProgress(g.progress)} (expected ${formatProgress(g.expected)}) — _${GOAL_STATUS_LABEL[g.status]}_`;
}

/** Packs lines into as few sections as the 3000-character limit allows. */
function linesToSections(title: string, lines: string[]): SlackBlock[] {
  const blocks: SlackBlock[] = [];
  let current = `*${title}*`;
  for (const line of lines) {
    const fitted = fitEscaped(line, SLACK_LIMITS.sectionText - 1);
    if (current.length + 1 + fitted.length > SLACK_LIMITS.sectionText) {
      blocks.push({ type: 'section', text: md(current, SLACK_LIMITS.sectionText) });
      current = fitted;
    } else {
      current += `\n${fitted}`;
    }
  }
  blocks.push({ type: 'section', text: md(current, SLACK_LIMITS.sectionText) });
  return blocks;
}

export function renderDigestSlack(d: Digest): SlackMessage {
  const blocks: SlackBlock[] = [
    { type: 'header', text: plain(d.title, SLACK_LIMITS.headerText) },
    { type: 'context', elements: [md(`${escapeMrkdwn(d.periodLabel)}  ·  times in ${escapeMrkdwn(d.timeZone)}`, SLACK_LIMITS.contextText)] },
  ];
  if (d.northStar) {
    blocks.push({ type: 'section', text: md(`:star: North Star\n${kpiText(d.northStar)}`, SLACK_LIMITS.sectionText) });
  }
  for (let i = 0; i < d.kpis.length; i += SLACK_LIMITS.fields) {
    const fields = d.kpis.slice(i, i + SLACK_LIMITS.fields).map((k) => md(kpiText(k), SLACK_LIMITS.fieldText));
    blocks.push({ type: 'section', fields });
  }
  if (d.goals.length > 0) {
    blocks.push({ type: 'divider' }, ...linesToSections('Goals', d.goals.map((g) => goalLine(g))));
  }
  if (d.okrs.length > 0) {
    const lines = d.okrs.flatMap((o) => [
      `*${escapeMrkdwn(oneLine(o.objective))}*  \`${textBar(o.progress)}\` ${formatProgress(o.progress)} — _${GOAL_STATUS_LABEL[o.status]}_`,
      ...o.keyResults.map((kr) => goalLine(kr, '    ')),
    ]);
    blocks.push({ type: 'divider' }, ...linesToSections('OKRs', lines));
  }
  if (d.firing.length > 0) {
    const lines = d.firing.map(
      (f) => `• *${escapeMrkdwn(oneLine(f.ruleName))}*: ${escapeMrkdwn(oneLine(f.summary))} (since ${escapeMrkdwn(formatTime(f.since, d.timeZone))})`,
    );
    blocks.push({ type: 'divider' }, ...linesToSections(`:rotating_light: Firing alerts (${d.firing.length})`, lines));
  }
  const button = linkButton(d.link, 'Open dashboard');
  if (button) blocks.push(button);
  return fitSlackMessage({ text: `${escapeMrkdwn(oneLine(d.title))}: ${escapeMrkdwn(oneLine(d.periodLabel))}`, blocks });
}

// ---- limits ----

/** Texts arrive escaped (plain and md build them so): fitting only cuts. */
function fitText(t: SlackText, max: number): SlackText {
  return { type: t.type, text: fitEscaped(t.text, max) || ' ' };
}

function fitBlock(b: SlackBlock): SlackBlock {
  switch (b.type) {
    case 'header':
      return { type: 'header', text: fitText(b.text, SLACK_LIMITS.headerText) };
    case 'section': {
      const out: SlackBlock = { type: 'section' };
      if (b.text) out.text = fitText(b.text, SLACK_LIMITS.sectionText);
      if (b.fields) out.fields = b.fields.slice(0, SLACK_LIMITS.fields).map((f) => fitText(f, SLACK_LIMITS.fieldText));
      return out;
    }
    case 'context':
      return { type: 'context', elements: b.elements.slice(0, SLACK_LIMITS.contextElements).map((e) => fitText(e, SLACK_LIMITS.contextText)) };
    case 'actions':
      return {
        type: 'actions',
        elements: b.elements.filter((e) => isHttpUrl(e.url)).map((e) => ({ ...e, text: fitText(e.text, SLACK_LIMITS.buttonText) })),
      };
    case 'divider':
      return b;
  }
}

const shortenedNote: SlackBlock = { type: 'context', elements: [{ type: 'mrkdwn', text: '…message shortened to fit Slack’s limits' }] };

/**
 * Last line of defence for every payload we send: cuts texts and lists to Block Kit's
 * limits instead of letting Slack answer invalid_blocks, which would drop the alert. Every
 * text in `m`, the top-level `text` too, must be escaped already (escapeMrkdwn).
 */
export function fitSlackMessage(m: SlackMessage): SlackMessage {
  const blocks = m.blocks.map(fitBlock).filter((b) => b.type !== 'actions' || b.elements.length > 0);
  const attachments = m.attachments?.map((a) => ({ color: a.color, blocks: a.blocks.map(fitBlock).filter((b) => b.type !== 'actions' || b.elements.length > 0) }));
  // Slack counts the blocks of the message and its attachments against one budget.
  let total = blocks.length + (attachments?.reduce((s, a) => s + a.blocks.length, 0) ?? 0);
  if (total > SLACK_LIMITS.blocks) {
    const lists = [blocks, ...(attachments?.map((a) => a.blocks) ?? [])];
    for (let i = lists.length - 1; i >= 0 && total > SLACK_LIMITS.blocks - 1; i--) {
      const list = lists[i]!;
      const drop = Math.min(list.length, total - (SLACK_LIMITS.blocks - 1));
      list.splice(list.length - drop, drop);
      total -= drop;
    }
    (attachments?.at(-1)?.blocks ?? blocks).push(shortenedNote);
  }
  const out: SlackMessage = { text: fitEscaped(m.text, SLACK_LIMITS.fallbackText), blocks };
  if (attachments) out.attachments = attachments;
  return out;
}
