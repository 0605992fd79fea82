import { describe, expect, it } from 'vitest';
import { renderDigestSlack, renderSlackMessage } from '../../src/notify/index.ts';
import { SLACK_LIMITS, fitSlackMessage, textSparkline, type SlackBlock, type SlackMessage } from '../../src/notify/slack-render.ts';
import { alert, digest } from './helpers.ts';

function allBlocks(m: SlackMessage): SlackBlock[] {
  return [...m.blocks, ...(m.attachments ?? []).flatMap((a) => a.blocks)];
}

function texts(m: SlackMessage): string[] {
  return allBlocks(m).flatMap((b) => {
    if (b.type === 'header') return [b.text.text];
    if (b.type === 'section') return [b.text?.text ?? '', ...(b.fields ?? []).map((f) => f.text)];
    if (b.type === 'context') return b.elements.map((e) => e.text);
    return [];
  });
}

describe('renderSlackMessage', () => {
  it('renders header, fields, context with zone, a button and a red bar for a critical alert', () => {
    const m = renderSlackMessage(alert());
    expect(m.text).toBe('[FIRING] CTR too low (critical): Click-through rate (Paid search) 1.2% is below 2.0% on 2024-05-05');
    expect(m.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: '[FIRING] CTR too low (critical)' } });
    const att = m.attachments?.[0];
    expect(att?.color).toBe('#d92d20');
    const section = att?.blocks.find((b) => b.type === 'section' && b.fields);
    expect(section?.type === 'section' && section.fields?.map((f) => f.text)).toEqual(['*Value*\n1.2%', '*Threshold*\n2.0%', '*Previous*\n1.8%', '*Change*\n−0.60 pp']);
    expect(texts(m).join('\n')).toContain('Started 2024-05-06 14:30 GMT+2 (Europe/Berlin)');
    const actions = att?.blocks.find((b) => b.type === 'actions');
    expect(actions?.type === 'actions' && actions.elements[0]?.url).toBe('https://dash.example.com/kpi/ctr');
  });

  it('colours a warning orange and a resolved alert green, with the resolve time', () => {
    expect(renderSlackMessage(alert({ severity: 'warning' })).attachments?.[0]?.color).toBe('#f79009');
    const m = renderSlackMessage(alert({ status: 'resolved', endsAt: '2024-05-06T14:35:00Z' }));
    expect(m.attachments?.[0]?.color).toBe('#2eb886');
    expect(m.blocks[0]?.type === 'header' && m.blocks[0].text.text).toBe('[RESOLVED] CTR too low');
    expect(texts(m).join('\n')).toContain('Resolved 2024-05-06 16:35 GMT+2 (Europe/Berlin)  ·  lasted 2h 5m');
  });

  it('escapes mrkdwn control characters in user text', () => {
    const m = renderSlackMessage(alert({ summary: 'spend <b> & "more" > 5' }));
    expect(texts(m)).toContain('spend &lt;b&gt; &amp; "more" &gt; 5');
  });

  it('cuts a 10,000-character summary and a long rule name instead of failing', () => {
    const m = renderSlackMessage(alert({ summary: 'x'.repeat(10_000), ruleName: 'r'.repeat(400) }));
    const header = m.blocks[0];
    expect(header?.type === 'header' && header.text.text.length).toBe(SLACK_LIMITS.headerText);
    expect(header?.type === 'header' && header.text.text.endsWith('…')).toBe(true);
    const summary = m.attachments?.[0]?.blocks[0];
    expect(summary?.type === 'section' && summary.text?.text.length).toBe(SLACK_LIMITS.sectionText);
    expect(summary?.type === 'section' && summary.text?.text.endsWith('…')).toBe(true);
    expect(m.text.length).toBeLessThanOrEqual(SLACK_LIMITS.fallbackText);
  });

  it('groups many instances within 50 blocks and says how many were left out', () => {
    const instances = Array.from({ length: 120 }, (_, i) => ({ series: `campaign ${i}`, value: i, unit: 'count' as const }));
    const m = renderSlackMessage(alert({ instances }));
    const blocks = allBlocks(m);
    expect(blocks).toHaveLength(SLACK_LIMITS.blocks);
    expect(texts(m).some((t) => /…and \d+ more series/.test(t))).toBe(true);
    // The time context and the button survive the cut.
    expect(blocks.at(-1)?.type).toBe('actions');
  });
});

describe('fitSlackMessage', () => {
  it('enforces fields per section, field length, context size and the block count', () => {
    const fields = Array.from({ length: 15 }, () => ({ type: 'mrkdwn' as const, text: 'y'.repeat(2500) }));
    const many: SlackBlock[] = Array.from({ length: 70 }, () => ({ type: 'divider' }));
    const m = fitSlackMessage({ text: 't', blocks: [{ type: 'section', fields }, ...many] });
    const first = m.blocks[0];
    expect(first?.type === 'section' && first.fields).toHaveLength(SLACK_LIMITS.fields);
    expect(first?.type === 'section' && first.fields?.every((f) => f.text.length === SLACK_LIMITS.fieldText)).toBe(true);
    expect(m.blocks).toHaveLength(SLACK_LIMITS.blocks);
    expect(m.blocks.at(-1)?.type).toBe('context');
  });

  it('never leaves half an HTML entity at a cut', () => {
    const text = `${'a'.repeat(2997)}&amp;&amp;`;
    const m = fitSlackMessage({ text: 't', blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] });
    const s = m.blocks[0];
    expect(s?.type === 'section' && s.text?.text).toBe(`${'a'.repeat(2997)}…`);
  });
});

describe('renderDigestSlack', () => {
  it('shows the north star, KPI fields with text sparklines, goals, OKRs and firing alerts', () => {
    const m = renderDigestSlack(digest());
    expect(m.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'Weekly marketing digest' } });
    const all = texts(m).join('\n');
    expect(all).toContain('North Star');
    expect(all).toContain('1,234');
    expect(all).toContain('EUR 12,500.00');
    expect(all).toContain('▲ +13.6% :large_green_circle:');
    // CPA should go down, so a rise is bad news.
    expect(all).toContain('▲ +6.3% :red_circle:');
    expect(all).toContain('Q2 revenue');
    expect(all).toContain('52% (expected 60%) — _at risk_');
    expect(all).toContain('Grow the paid funnel');
    expect(all).toContain('*CTR too low*');
    expect(allBlocks(m).length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
  });

  it('splits many KPIs into sections of at most 10 fields', () => {
    const kpis = Array.from({ length: 25 }, (_, i) => ({ ...digest().kpis[0]!, name: `k${i}`, label: `KPI ${i}` }));
    const m = renderDigestSlack(digest({ kpis }));
    const withFields = m.blocks.filter((b) => b.type === 'section' && b.fields);
    expect(withFields.map((b) => (b.type === 'section' ? b.fields?.length : 0))).toEqual([10, 10, 5]);
  });

  it('draws text sparklines with gaps', () => {
    expect(textSparkline([1, 2, null, 8])).toBe('▁▂ █');
    expect(textSparkline([null, null])).toBe('');
  });
});
