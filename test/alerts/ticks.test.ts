import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateAlerts, type EvaluateAlertsResult } from '../../src/alerts/index.ts';
import type { FactRow, Warehouse } from '../../src/warehouse/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { testWarehouse, warehouseKinds } from '../helpers/warehouse.ts';
import { configFrom, days, instances, outbox } from './helpers.ts';
import { inUnitTier } from '../helpers/tier.ts';

/**
 * Ten days of ticks over seven campaigns and seven rules that share KPIs, grains and
 * ranges, pinned row by row: every state, transition and outbox row the evaluation writes.
 * The snapshot was taken before the writes were batched and the reads shared, so it shows
 * that neither changed what an evaluation writes.
 */
const CONFIG = configFrom(`
channels:
  slack: { type: slack, url: "http://127.0.0.1:9/hook" }
  mail: { type: email, host: 127.0.0.1, port: 9, from: a@example.com, to: [b@example.com] }
alerting: { groupWait: 30s, evaluationInterval: 1m }
kpis:
  - { name: clicks_gain, formula: "clicks - previous(clicks)", unit: count, direction: higher }
alerts:
  - name: ctr_low
    series: { kpi: ctr, grain: day, dimension: campaign }
    condition: { kind: threshold, op: below, threshold: 0.02, recovery: 0.022 }
    for: 2
    keepFiringFor: 1
    repeatInterval: 2d
    labels: { team: growth }
    channels: [slack, mail]
  - name: spend_high
    series: { kpi: spend, grain: day, dimension: campaign }
    condition: { kind: threshold, op: above, threshold: 120 }
    noData: { policy: alerting, grace: 1d }
    sendResolved: false
    channels: [slack]
  - name: clicks_drop
    series: { kpi: clicks, grain: day, dimension: campaign }
    condition: { kind: change, op: drop, threshold: 40 }
    channels: [slack]
  - name: clicks_anomaly
    series: { kpi: clicks, grain: day, dimension: campaign }
    condition: { kind: anomaly, lookback: 4, sensitivity: 2 }
    channels: [mail]
  - name: ctr_anomaly
    series: { kpi: ctr, grain: day, dimension: campaign }
    condition: { kind: anomaly, lookback: 4, sensitivity: 2, minVolume: { kpi: impressions, value: 900 } }
    channels: [slack]
  - name: gain_anomaly
    series: { kpi: clicks_gain, grain: day, dimension: campaign }
    condition: { kind: anomaly, lookback: 3, sensitivity: 2 }
    channels: [slack]
  - name: spend_week
    series: { kpi: spend, grain: week, dimension: campaign }
    condition: { kind: change, op: any, threshold: 15 }
    channels: [mail]
`);

const FIRST = Date.parse('2026-02-01T00:00:00Z');
const DAY = 86_400_000;
const dateOf = (n: number) => new Date(FIRST + n * DAY).toISOString().slice(0, 10);

/**
 * 43 days from 2026-02-01 to 2026-03-15. Campaign c5 stops after 03-10, c6 starts on 03-08,
 * clicks collapse now and then, and c2's spend of 03-12 is in a currency without a rate.
 */
function facts(): FactRow[] {
  const rows: FactRow[] = [];
  for (let c = 0; c <= 6; c++) {
    const values: Record<string, Record<string, number>> = {};
    for (let d = 0; d < 43; d++) {
      const date = dateOf(d);
      if ((c === 5 && date > '2026-03-10') || (c === 6 && date < '2026-03-08')) continue;
      const collapse = (d * 5 + c * 3) % 11 === 0;
      const impressions = 1000 + ((c * 131 + d * 71) % 200) - (c === 4 ? 300 : 0);
      const clicks = collapse ? 4 : 20 + ((c * 37 + d * 11) % 9);
      const spend = 60 + ((c * 13 + d * 29) % 90);
      values[date] = { impressions, clicks, ...(c === 2 && date === '2026-03-12' ? {} : { spend }) };
    }
    rows.push(...days({ campaign: `c${c}` }, values));
  }
  rows.push(...days({ campaign: 'c2', currency: 'EUR' }, { '2026-03-12': { spend: 99 } }));
  return rows;
}

const iso = (v: Date | string | null) => (v === null ? '-' : new Date(v).toISOString());

function instanceLine(r: Awaited<ReturnType<typeof instances>>[number]): string {
  return [
    r.rule,
    r.instance,
    r.state,
    `since ${iso(r.state_since)}`,
    `b${r.breaches} c${r.clears} seq${r.seq} ep${r.episode ?? '-'} rep${r.repeats} tick${r.last_tick}`,
    `firing ${iso(r.firing_since)} notified ${iso(r.last_notified_at)} data ${iso(r.last_data_at)} nodata ${iso(r.no_data_since)} evaluated ${iso(r.last_evaluated_at)}`,
    `value ${r.last_value ?? '-'}`,
    JSON.stringify(r.labels),
    r.reason,
    r.last_summary,
  ].join(' | ');
}

function outboxLine(r: Awaited<ReturnType<typeof outbox>>[number]): string {
  return [r.id, r.rule, r.instance, `${r.event}#${r.episode}.${r.ordinal}`, r.channel, r.status, iso(r.created_at), iso(r.due_at), iso(r.not_before), JSON.stringify(r.payload)].join(' | ');
}

function resultLine(r: EvaluateAlertsResult): string {
  return `${r.transitions.map((t) => `${t.rule}/${t.instance}#${t.seq} ${t.from}→${t.to}`).join(', ')} | outbox ${r.outboxIds.join(',')} | skipped ${r.skipped} | errors ${r.errors.map((e) => `${e.rule}: ${e.error}`).join('; ')}`;
}

describe.each(warehouseKinds)('ten ticks of seven rules over seven campaigns, on %s', (kind) => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await testWarehouse(kind);
    await upsertFacts(wh.db, facts());
  });
  afterAll(async () => {
    await wh.close();
  });

  it('writes the same states, transitions and outbox rows tick after tick', async () => {
    const results: string[] = [];
    for (let d = 34; d < 43; d++) {
      const now = new Date(FIRST + (d + 1) * DAY + 6 * 3_600_000);
      results.push(`${dateOf(d)}: ${resultLine(await evaluateAlerts(wh.db, CONFIG, { now }))}`);
      // A second replica on the same tick finds it done.
      if (d === 38) results.push(`${dateOf(d)} again: ${resultLine(await evaluateAlerts(wh.db, CONFIG, { now: new Date(now.getTime() + 30_000) }))}`);
    }
    const transitions = await wh.db.selectFrom('alert_transitions').selectAll().orderBy('id').execute();
    expect(results).toMatchSnapshot('results');
    expect((await instances(wh.db)).map(instanceLine)).toMatchSnapshot('instances');
    expect(transitions.map((t) => [t.id, t.rule, t.instance, t.seq, `${t.from_state}→${t.to_state}`, t.value ?? '-', iso(t.at), t.reason].join(' | '))).toMatchSnapshot('transitions');
    expect((await outbox(wh.db)).map(outboxLine)).toMatchSnapshot('outbox');
  });
});

describe.each(warehouseKinds)('a rule whose writes fail, on %s', (kind) => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await testWarehouse(kind);
    await upsertFacts(wh.db, days({ campaign: 'c0' }, { '2026-03-10': { clicks: 5, impressions: 1000 } }));
  });
  afterAll(async () => {
    await wh.close();
  });

  it('stops the evaluation there: the rules before it are committed, it and the ones after are not', async () => {
    const config = configFrom(`
channels:
  slack: { type: slack, url: "http://127.0.0.1:9/hook" }
alerts:
  - { name: a, series: { kpi: clicks }, condition: { kind: threshold, op: below, threshold: 10 }, channels: [slack] }
  - { name: b, series: { kpi: clicks }, condition: { kind: threshold, op: below, threshold: 10 }, channels: [slack] }
  - { name: c, series: { kpi: ctr }, condition: { kind: threshold, op: below, threshold: 0.01 }, channels: [slack] }
`);
    // b's first transition would be its seq 1, which is taken.
    await wh.db.insertInto('alert_transitions').values({ rule: 'b', instance: '', seq: 1, from_state: 'ok', to_state: 'ok', reason: 'in the way', value: null, at: new Date() }).execute();
    await expect(evaluateAlerts(wh.db, config, { now: new Date('2026-03-11T06:00:00Z') })).rejects.toThrow(/alert_transitions_seq|unique/);
    expect((await instances(wh.db)).map((r) => [r.rule, r.state])).toEqual([['a', 'firing']]);
    expect((await outbox(wh.db)).map((r) => r.rule)).toEqual(['a']);
  });
});

describe.each(warehouseKinds)('what a tick writes when little changes, on %s', (kind) => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await testWarehouse(kind);
    await upsertFacts(wh.db, days({ campaign: 'c0' }, { '2026-03-10': { clicks: 5, impressions: 1000 } }));
  });
  afterAll(async () => {
    await wh.close();
  });

  const rule = (labels: string) =>
    configFrom(`
channels:
  slack: { type: slack, url: "http://127.0.0.1:9/hook" }
alerting: { evaluationInterval: 1m }
alerts:
  - { name: a, series: { kpi: clicks, dimension: campaign }, condition: { kind: threshold, op: above, threshold: 10 }, labels: ${labels}, channels: [slack] }
`);

  it('keeps the stored labels and reason where they did not change, and replaces them where they did', async () => {
    const now = new Date('2026-03-11T06:00:00Z');
    await evaluateAlerts(wh.db, rule('{ team: growth }'), { now });
    const [first] = await instances(wh.db);
    await evaluateAlerts(wh.db, rule('{ team: growth }'), { now: new Date(now.getTime() + 60_000) });
    const [same] = await instances(wh.db);
    // Only the clock moved: the tick, when it was evaluated and when its data was last seen.
    const later = new Date(now.getTime() + 60_000);
    expect(same).toEqual({ ...first, last_tick: first!.last_tick! + 1, last_evaluated_at: later, last_data_at: later });
    await evaluateAlerts(wh.db, rule('{ team: ads, tier: gold }'), { now: new Date(now.getTime() + 120_000) });
    const [changed] = await instances(wh.db);
    expect(changed!.labels).toEqual({ alertname: 'a', severity: 'warning', kind: 'threshold', team: 'ads', tier: 'gold', campaign: 'c0' });
    expect(changed!.reason).toBe(first!.reason);
  });
});

describe.skipIf(inUnitTier)('two replicas on a first evaluation, on postgres', () => {
  const whs: Warehouse[] = [];
  afterAll(async () => {
    for (const wh of whs) await wh.close();
  });

  async function fresh(): Promise<Warehouse> {
    const wh = await testWarehouse('postgres');
    whs.push(wh);
    await upsertFacts(wh.db, facts());
    return wh;
  }

  it('write what one replica would: every new series once, whoever inserts it first', async () => {
    const now = new Date(FIRST + 43 * DAY + 6 * 3_600_000);
    const alone = await fresh();
    const single = await evaluateAlerts(alone.db, CONFIG, { now });
    const shared = await fresh();
    const both = await Promise.all([evaluateAlerts(shared.db, CONFIG, { now }), evaluateAlerts(shared.db, CONFIG, { now })]);

    const rows = await instances(shared.db);
    expect(both[0].skipped + both[1].skipped).toBe(rows.length);
    expect(both[0].transitions.length + both[1].transitions.length).toBe(single.transitions.length);
    expect(rows.map(instanceLine)).toEqual((await instances(alone.db)).map(instanceLine));
    const events = async (wh: Warehouse) => (await outbox(wh.db)).map((r) => `${r.rule} ${r.instance} ${r.event}#${r.episode}.${r.ordinal} ${r.channel}`).sort();
    expect(await events(shared)).toEqual(await events(alone));
  });
});
