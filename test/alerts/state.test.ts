import { describe, expect, it } from 'vitest';
import { advance, evaluateAlerts, initialState, listTransitions, type InstanceState, type Observed, type StateRules } from '../../src/alerts/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { useWarehouse } from '../helpers/warehouse.ts';
import { at, clearAlerts, configFrom, days, instances, outbox, stateOf } from './helpers.ts';

const rules = (over: Partial<StateRules> = {}): StateRules => ({
  for: 1,
  keepFiringFor: 0,
  repeatMs: null,
  sendResolved: true,
  noData: { policy: 'ok', graceMs: 0 },
  ...over,
});

const breach: Observed = { kind: 'value', breach: true, clear: false, reason: 'bad' };
const calm: Observed = { kind: 'value', breach: false, clear: true, reason: 'fine' };
const between: Observed = { kind: 'value', breach: false, clear: false, reason: 'between' };
const missing: Observed = { kind: 'no_data', reason: 'no data' };
const broken: Observed = { kind: 'error', reason: 'boom' };

const HOUR = 3_600_000;
const t = (h: number) => new Date(Date.UTC(2026, 2, 10) + h * HOUR);

/** Runs observations an hour apart; returns the states and the notifications. */
function script(seen: Observed[], r: StateRules, start: InstanceState = initialState(t(0))) {
  let s = start;
  const states: string[] = [];
  const notes: string[] = [];
  seen.forEach((o, i) => {
    const step = advance(s, o, r, t(i + 1));
    s = step.next;
    states.push(s.state);
    if (step.notify) notes.push(`${i + 1}:${step.notify.event}${step.notify.ordinal ? step.notify.ordinal : ''}@${step.notify.episode}`);
  });
  return { states, notes, last: s };
}

describe('the alert state machine', () => {
  it('fires at once with for: 1, resolves on the first clear evaluation', () => {
    expect(script([calm, breach, breach, calm, calm], rules())).toMatchObject({
      states: ['ok', 'firing', 'firing', 'resolved', 'resolved'],
      notes: ['2:firing@1', '4:resolved@1'],
    });
  });

  it('inhibited: sends nothing and keeps the episode; afterwards the series is judged as before', () => {
    const quiet: Observed = { kind: 'inhibited', reason: 'shop-sync fires for shop' };
    // Firing, then quiet while the data clears: no resolved until it is judged again.
    expect(script([breach, quiet, calm, quiet, calm], rules())).toMatchObject({ states: ['firing', 'inhibited', 'resolved', 'inhibited', 'ok'], notes: ['1:firing@1', '3:resolved@1'] });
    expect(script([breach, quiet, quiet, breach], rules({ repeatMs: null }))).toMatchObject({ states: ['firing', 'inhibited', 'inhibited', 'firing'], notes: ['1:firing@1'] });
    // From ok, a breach seen while inhibited is not one; the first after it fires.
    expect(script([quiet, quiet, breach], rules())).toMatchObject({ states: ['inhibited', 'inhibited', 'firing'], notes: ['3:firing@2'] });
    // Data missing afterwards (kept as it was): back to where it stood, without a message.
    expect(script([breach, quiet, missing], rules({ noData: { policy: 'keep_last', graceMs: 0 } }))).toMatchObject({ states: ['firing', 'inhibited', 'firing'], notes: ['1:firing@1'] });
  });

  it('waits in pending for `for` breaches, and a clear one in between starts over', () => {
    expect(script([breach, breach, calm, breach, breach, breach], rules({ for: 3 }))).toMatchObject({
      states: ['pending', 'pending', 'ok', 'pending', 'pending', 'firing'],
      notes: ['6:firing@4'],
    });
  });

  it('keeps firing for keepFiringFor clear evaluations, and a breach in between resets the count', () => {
    expect(script([breach, calm, breach, calm, calm, calm], rules({ keepFiringFor: 2 }))).toMatchObject({
      states: ['firing', 'firing', 'firing', 'firing', 'firing', 'resolved'],
      notes: ['1:firing@1', '6:resolved@1'],
    });
  });

  it('does not resolve between the threshold and the recovery value (hysteresis)', () => {
    expect(script([breach, between, between, calm], rules())).toMatchObject({ states: ['firing', 'firing', 'firing', 'resolved'] });
  });

  it('repeats a still-firing alert every repeat interval, numbering the repeats', () => {
    const r = script([breach, breach, breach, breach, breach, calm], rules({ repeatMs: 2 * HOUR }));
    expect(r.notes).toEqual(['1:firing@1', '3:repeat1@1', '5:repeat2@1', '6:resolved@1']);
  });

  it('sends no resolved notification with sendResolved: false', () => {
    expect(script([breach, calm], rules({ sendResolved: false })).notes).toEqual(['1:firing@1']);
  });

  it('starts a new episode with a new number after a resolve', () => {
    expect(script([breach, calm, breach], rules()).notes).toEqual(['1:firing@1', '2:resolved@1', '3:firing@3']);
  });

  it('no data, policy ok: resolves a firing alert after the grace period, as state no_data', () => {
    const r = script([breach, missing, missing, missing, breach], rules({ noData: { policy: 'ok', graceMs: 2 * HOUR } }));
    // Data was last seen at hour 1: hour 2 is within the grace, hour 3 reaches it.
    expect(r.states).toEqual(['firing', 'firing', 'no_data', 'no_data', 'firing']);
    expect(r.notes).toEqual(['1:firing@1', '3:resolved@1', '5:firing@3']);
  });

  it('no data, policy alerting: fires as no_data, and data coming back does not fire again', () => {
    const r = script([calm, missing, missing, breach, calm], rules({ noData: { policy: 'alerting', graceMs: 1.5 * HOUR } }));
    expect(r.states).toEqual(['ok', 'ok', 'no_data', 'firing', 'resolved']);
    expect(r.notes).toEqual(['3:firing@1', '5:resolved@1']);
  });

  it('no data, policy keep_last: leaves the state as it is', () => {
    const r = script([breach, missing, missing, missing], rules({ noData: { policy: 'keep_last', graceMs: 0 } }));
    expect(r.states).toEqual(['firing', 'firing', 'firing', 'firing']);
    expect(r.notes).toEqual(['1:firing@1']);
  });

  it('error: recorded as a state, keeps counters and the open episode, and sends nothing', () => {
    const r = script([breach, broken, broken, breach, calm], rules({ for: 1 }));
    expect(r.states).toEqual(['firing', 'error', 'error', 'firing', 'resolved']);
    expect(r.notes).toEqual(['1:firing@1', '5:resolved@1']);
    const p = script([breach, broken, breach], rules({ for: 2 }));
    expect(p.states).toEqual(['pending', 'error', 'firing']);
  });

  it('numbers transitions and keeps their reasons', () => {
    let s = initialState(t(0));
    const step = advance(s, breach, rules({ for: 2 }), t(1));
    expect(step.transition).toEqual({ seq: 1, from: 'ok', to: 'pending', reason: 'bad (1 of 2)' });
    s = step.next;
    expect(advance(s, breach, rules({ for: 2 }), t(2)).transition).toEqual({ seq: 2, from: 'pending', to: 'firing', reason: 'bad' });
  });
});

describe('no data and errors against the warehouse', () => {
  const wh = useWarehouse('postgres', clearAlerts);

  const CONFIG = (policy: string, grace: string) => `
channels:
  slack: { type: slack, url: "http://127.0.0.1:9/hook" }
alerts:
  - name: spend_by_campaign
    series: { kpi: spend, grain: day, dimension: campaign }
    condition: { kind: threshold, op: above, threshold: 100 }
    channels: [slack]
    noData: { policy: ${policy}, grace: ${grace} }
`;

  it('a campaign that stops reporting goes to no_data after the grace and its alert resolves (policy ok)', async () => {
    const config = configFrom(CONFIG('ok', '30h'));
    await upsertFacts(wh.db, [...days({ campaign: 'a' }, { '2026-03-02': { spend: 500 } }), ...days({ campaign: 'b' }, { '2026-03-02': { spend: 50 }, '2026-03-03': { spend: 50 }, '2026-03-04': { spend: 50 } })]);
    await evaluateAlerts(wh.db, config, { now: at('2026-03-03T06:00:00Z') });
    expect(await stateOf(wh.db, 'spend_by_campaign', 'campaign=a')).toBe('firing');
    // 03-03: no spend for campaign a; 24 h since data, within the 30 h grace.
    await evaluateAlerts(wh.db, config, { now: at('2026-03-04T06:00:00Z') });
    expect(await stateOf(wh.db, 'spend_by_campaign', 'campaign=a')).toBe('firing');
    await evaluateAlerts(wh.db, config, { now: at('2026-03-05T06:00:00Z') });
    expect(await stateOf(wh.db, 'spend_by_campaign', 'campaign=a')).toBe('no_data');
    expect(await stateOf(wh.db, 'spend_by_campaign', 'campaign=b')).toBe('ok');
    const rows = await outbox(wh.db);
    expect(rows.map((r) => [r.instance, r.event])).toEqual([
      ['campaign=a', 'firing'],
      ['campaign=a', 'resolved'],
    ]);
    expect(rows[1]!.payload).toMatchObject({ summary: 'spend{campaign=a} has no value any more', labels: { campaign: 'a' } });
    const [t] = (await listTransitions(wh.db, { rule: 'spend_by_campaign', instance: 'campaign=a' })).slice(-1);
    expect(t).toMatchObject({ from: 'firing', to: 'no_data', reason: 'spend{campaign=a} has no value any more; treated as ok' });
  });

  it('policy alerting fires a series with no value, once', async () => {
    const config = configFrom(CONFIG('alerting', '0'));
    await upsertFacts(wh.db, days({ campaign: 'a' }, { '2026-03-02': { spend: 10 } }));
    await evaluateAlerts(wh.db, config, { now: at('2026-03-03T06:00:00Z') });
    await evaluateAlerts(wh.db, config, { now: at('2026-03-04T06:00:00Z') });
    await evaluateAlerts(wh.db, config, { now: at('2026-03-04T07:00:00Z') });
    expect(await stateOf(wh.db, 'spend_by_campaign', 'campaign=a')).toBe('no_data');
    expect((await outbox(wh.db)).map((r) => r.event)).toEqual(['firing']);
  });

  it('a rule that cannot be evaluated puts its instances in state error with the reason, and recovers', async () => {
    const config = configFrom(`${CONFIG('ok', '1d')}
reporting: { currency: USD }
`);
    await upsertFacts(wh.db, days({ campaign: 'a' }, { '2026-03-02': { spend: 500 }, '2026-03-03': { spend: 500 } }));
    await evaluateAlerts(wh.db, config, { now: at('2026-03-03T06:00:00Z') });
    // Money in a currency without a rate cannot be summed: a configuration problem the rule reports.
    await upsertFacts(wh.db, days({ campaign: 'uk', account: 'uk', currency: 'GBP' }, { '2026-03-03': { spend: 5 } }));
    const r = await evaluateAlerts(wh.db, config, { now: at('2026-03-04T06:00:00Z') });
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]!.error).toContain('GBP');
    const [row] = await instances(wh.db, 'spend_by_campaign');
    expect(row).toMatchObject({ instance: 'campaign=a', state: 'error', episode: 1 });
    expect(row!.reason).toMatch(/^spend_by_campaign could not be evaluated: .*GBP/);
    const fixed = { ...config, reporting: { ...config.reporting, fxRates: { GBP: 1.25 } } };
    await evaluateAlerts(wh.db, fixed, { now: at('2026-03-04T07:00:00Z') });
    expect(await stateOf(wh.db, 'spend_by_campaign', 'campaign=a')).toBe('firing');
    // One firing notification for the whole episode, error or not; a day later a reminder is due (4 h repeat).
    expect((await outbox(wh.db)).filter((o) => o.instance === 'campaign=a').map((r) => [r.event, r.episode])).toEqual([
      ['firing', 1],
      ['repeat', 1],
    ]);
  });
});
