import { describe, expect, it } from 'vitest';
import { evaluateAlerts } from '../../src/alerts/index.ts';
import { activeMute, addSilence, deliverOutbox, endSilence, listSilences, matchesAll, muteEnd, parseMatcher } from '../../src/alerts/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { useWarehouse } from '../helpers/warehouse.ts';
import { at, clearAlerts, configFrom, days, outbox, RecordingChannel } from './helpers.ts';

describe('matchers', () => {
  it('parse k=v, k!=v, k=~re, k!~re and match all of them against labels', () => {
    const m = ['alertname=spend_high', 'campaign=~br.*', 'severity!=info', 'team!~ops|sre'].map(parseMatcher);
    expect(m[1]).toEqual({ name: 'campaign', op: '=~', value: 'br.*' });
    expect(matchesAll(m, { alertname: 'spend_high', campaign: 'brand', severity: 'critical' })).toBe(true);
    expect(matchesAll(m, { alertname: 'spend_high', campaign: 'xbrand', severity: 'critical' })).toBe(false);
    expect(matchesAll(m, { alertname: 'spend_high', campaign: 'brand', severity: 'critical', team: 'ops' })).toBe(false);
    expect(matchesAll([], { a: 'b' })).toBe(false);
    expect(() => parseMatcher('nope')).toThrow(/expected a matcher like name=value/);
    expect(() => parseMatcher('a=~(')).toThrow(/invalid regular expression/);
  });

  it('match a catastrophic pattern against a long campaign name in linear time, with the right answer', () => {
    // (\w+\s?)+ against 50,000 word characters and a "!" takes a backtracking engine longer
    // than the age of the universe; if it were used, this test would hang.
    const [m] = ['campaign=~(\\w+\\s?)+'].map(parseMatcher);
    const long = 'a'.repeat(50_000);
    expect(matchesAll([m!], { campaign: `${long}!` })).toBe(false);
    expect(matchesAll([m!], { campaign: `${long} summer sale` })).toBe(true);
    expect(matchesAll([parseMatcher('campaign!~(\\w+\\s?)+')], { campaign: `${long}!` })).toBe(true);
    expect(matchesAll([parseMatcher('campaign=~(a|aa)*b')], { campaign: 'a'.repeat(50_000) })).toBe(false);
  });

  it('refuse patterns the linear-time engine does not take, saying why, when the silence is made', async () => {
    expect(() => parseMatcher('campaign=~(?=brand).*')).toThrow('invalid regular expression in "campaign=~(?=brand).*": error parsing regexp: invalid or unsupported Perl syntax: `(?=` (RE2 syntax: no lookarounds or backreferences)');
    expect(() => parseMatcher('campaign=~(a)\\1')).toThrow('invalid regular expression in "campaign=~(a)\\1": error parsing regexp: invalid escape sequence: `\\1` (RE2 syntax: no lookarounds or backreferences)');
    expect(() => parseMatcher(`campaign=~${'a'.repeat(1001)}`)).toThrow(/^invalid regular expression in "campaign=~a{69}…": is 1001 characters long; at most 1000 are allowed$/);
    // One stored before (JavaScript syntax) matches nothing, either way round: it silences nothing.
    expect(matchesAll([{ name: 'campaign', op: '=~', value: '(?=brand).*' }], { campaign: 'brand' })).toBe(false);
    expect(matchesAll([{ name: 'campaign', op: '!~', value: '(?=brand).*' }], { campaign: 'other' })).toBe(false);
    // A hostile matcher text does not make the parser itself backtrack.
    expect(() => parseMatcher(`a=${' '.repeat(100_000)}x${' '.repeat(100_000)}!`)).not.toThrow();
    expect(() => parseMatcher(`a${' '.repeat(100_000)}`)).toThrow(/^expected a matcher like name=value/);
  });
});

describe('mute windows', () => {
  const w = (over: object) => ({ timezone: 'Europe/Berlin', weekdays: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const, hours: ['00:00-24:00'], action: 'hold' as const, ...over });

  it('run past midnight, and end at the local time across a DST change', () => {
    const nights = w({ weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'], hours: ['22:00-07:00'] });
    // Tuesday 22:30 in Berlin (UTC+1) until Wednesday 07:00.
    expect(muteEnd(nights as never, at('2026-03-03T21:30:00Z'))).toEqual(at('2026-03-04T06:00:00Z'));
    // Wednesday 06:59 is still Tuesday's night.
    expect(muteEnd(nights as never, at('2026-03-04T05:59:00Z'))).toEqual(at('2026-03-04T06:00:00Z'));
    expect(muteEnd(nights as never, at('2026-03-04T06:00:00Z'))).toBeUndefined();
    // Saturday 06:00 is Friday's night; Saturday 23:00 is nobody's.
    expect(muteEnd(nights as never, at('2026-03-07T05:00:00Z'))).toEqual(at('2026-03-07T06:00:00Z'));
    expect(muteEnd(nights as never, at('2026-03-07T22:00:00Z'))).toBeUndefined();

    // A weekend: Saturday and Sunday merge; clocks go forward on 2026-03-29, so Monday 00:00 is 22:00 UTC.
    const weekend = w({ weekdays: ['sat', 'sun'] });
    expect(muteEnd(weekend as never, at('2026-03-28T09:00:00Z'))).toEqual(at('2026-03-29T22:00:00Z'));
    expect(activeMute({ weekend: weekend as never, nights: nights as never }, ['nights', 'weekend'], at('2026-03-28T09:00:00Z'))).toMatchObject({ name: 'weekend' });
  });
});

describe('silences and mute windows in delivery', () => {
  const wh = useWarehouse('postgres', clearAlerts);

  const config = (mute = '') =>
    configFrom(`
reporting: { timezone: Europe/Berlin }
channels:
  slack: { type: slack, url: "http://127.0.0.1:9/hook" }
alerting:
  groupWait: 0
  muteWindows:
    nights: { timezone: Europe/Berlin, weekdays: [mon, tue, wed, thu, fri], hours: ["22:00-07:00"] }
    weekend: { timezone: Europe/Berlin, weekdays: [sat, sun], action: drop }
alerts:
  - name: spend_high
    series: { kpi: spend, grain: day, dimension: campaign }
    condition: { kind: threshold, op: above, threshold: 100 }
    channels: [slack]
    ${mute}
`);

  async function fire(now: Date, values: Record<string, number>) {
    for (const [campaign, v] of Object.entries(values)) await upsertFacts(wh.db, days({ campaign }, { '2026-03-02': { spend: v } }));
    return evaluateAlerts(wh.db, config(), { now });
  }

  it('a dropping silence keeps matching notifications from going out, its resolved one too, and others pass', async () => {
    const now = at('2026-03-03T10:00:00Z');
    const silence = await addSilence(wh.db, { matchers: [parseMatcher('campaign=a')], startsAt: now, endsAt: at('2026-03-03T12:00:00Z'), comment: 'known: launch' });
    await fire(now, { a: 500, b: 500 });
    const slack = new RecordingChannel('slack');
    expect(await deliverOutbox(wh.db, config(), { now, channels: { slack } })).toMatchObject({ sent: 1, dropped: 1 });
    expect(slack.sent.map((n) => n.instances.map((i) => i.series))).toEqual([['Spend, campaign b']]);
    const rows = await outbox(wh.db);
    expect(rows.find((r) => r.instance === 'campaign=a')).toMatchObject({ status: 'dropped', last_error: `dropped by silence #${silence.id} (campaign=a: known: launch)` });

    // After the silence, campaign a resolves: nobody heard it fire, so nobody hears it resolve.
    await fire(at('2026-03-03T13:00:00Z'), { a: 5 });
    expect(await deliverOutbox(wh.db, config(), { now: at('2026-03-03T13:00:00Z'), channels: { slack } })).toMatchObject({ sent: 0, dropped: 1 });
    expect((await outbox(wh.db)).at(-1)).toMatchObject({ event: 'resolved', status: 'dropped', last_error: 'its firing notification was never delivered' });
  });

  it('a holding silence delivers when it ends, saying it was held; unsilence ends it early', async () => {
    const now = at('2026-03-03T10:00:00Z');
    const s = await addSilence(wh.db, { matchers: [parseMatcher('alertname=spend_high')], startsAt: now, endsAt: at('2026-03-03T14:00:00Z'), action: 'hold' });
    await fire(now, { a: 500 });
    const slack = new RecordingChannel('slack');
    expect(await deliverOutbox(wh.db, config(), { now, channels: { slack } })).toMatchObject({ held: 1, sent: 0 });
    expect((await outbox(wh.db))[0]).toMatchObject({ not_before: at('2026-03-03T14:00:00Z'), held_by: `silence:${s.id}` });
    expect(await deliverOutbox(wh.db, config(), { now: at('2026-03-03T10:30:00Z'), channels: { slack } })).toMatchObject({ sent: 0 });
    expect(await listSilences(wh.db, { now })).toHaveLength(1);
    expect(await endSilence(wh.db, s.id, at('2026-03-03T11:00:00Z'))).toBe(true);
    expect(await endSilence(wh.db, s.id, at('2026-03-03T11:00:00Z'))).toBe(false);
    expect(await listSilences(wh.db, { now: at('2026-03-03T11:00:00Z') })).toHaveLength(0);
    // Ending it early releases what it held.
    expect(await deliverOutbox(wh.db, config(), { now: at('2026-03-03T11:00:00Z'), channels: { slack } })).toMatchObject({ sent: 1 });
    expect(slack.sent[0]!.summary).toBe(`Spend (campaign a) USD 500.00 is above USD 100.00 on 2026-03-02 (held during silence #${s.id} (alertname=spend_high))`);
  });

  it('holds a notification during a mute window and sends it when the window ends, showing the time zone', async () => {
    await upsertFacts(wh.db, days({ campaign: 'a' }, { '2026-03-02': { spend: 500 } }));
    const cfg = config('muteWindows: [nights, weekend]');
    // Tuesday 23:30 in Berlin.
    const now = at('2026-03-03T22:30:00Z');
    await evaluateAlerts(wh.db, cfg, { now });
    const slack = new RecordingChannel('slack');
    expect(await deliverOutbox(wh.db, cfg, { now, channels: { slack } })).toMatchObject({ held: 1 });
    const [row] = await outbox(wh.db);
    expect(row!.not_before).toEqual(at('2026-03-04T06:00:00Z'));
    expect(row!.last_error).toBe("held by mute window 'nights' (mon,tue,wed,thu,fri 22:00-07:00 Europe/Berlin) until 2026-03-04T06:00:00.000Z");
    expect(await deliverOutbox(wh.db, cfg, { now: at('2026-03-04T05:59:00Z'), channels: { slack } })).toMatchObject({ sent: 0 });
    expect(await deliverOutbox(wh.db, cfg, { now: at('2026-03-04T06:00:00Z'), channels: { slack } })).toMatchObject({ sent: 1 });
    expect(slack.sent[0]).toMatchObject({
      summary: "Spend (campaign a) USD 500.00 is above USD 100.00 on 2026-03-02 (held during mute window 'nights' (mon,tue,wed,thu,fri 22:00-07:00 Europe/Berlin))",
      timeZone: 'Europe/Berlin',
      startsAt: '2026-03-03T22:30:00.000Z',
    });
  });

  it('drops notifications in a dropping mute window', async () => {
    await upsertFacts(wh.db, days({ campaign: 'a' }, { '2026-03-06': { spend: 500 } }));
    const cfg = config('muteWindows: [nights, weekend]');
    const saturday = at('2026-03-07T10:00:00Z');
    await evaluateAlerts(wh.db, cfg, { now: saturday });
    const slack = new RecordingChannel('slack');
    expect(await deliverOutbox(wh.db, cfg, { now: saturday, channels: { slack } })).toMatchObject({ dropped: 1, sent: 0 });
    expect((await outbox(wh.db))[0]!.last_error).toBe("dropped by mute window 'weekend' (sat,sun 00:00-24:00 Europe/Berlin)");
  });
});
