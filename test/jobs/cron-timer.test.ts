import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { startCronTimer, type CronTimer } from '../../src/jobs/cron-timer.ts';
import type { CronSchedule } from '../../src/core/schedule.ts';
import { configYaml, manualClock, type ManualClock } from './helpers.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let timers: CronTimer[] = [];
afterEach(() => {
  for (const t of timers) t.stop();
  timers = [];
});

/** A timer on a hand-moved clock, and the planned times it fired for, with the wall clock when it did. */
function watch(schedule: CronSchedule, startIso: string): { clock: ManualClock; fired: Array<{ planned: string; at: string }>; timer: CronTimer } {
  const clock = manualClock(startIso);
  const fired: Array<{ planned: string; at: string }> = [];
  const timer = startCronTimer(schedule, (planned) => fired.push({ planned: planned.toISOString(), at: new Date(clock.now()).toISOString() }), { clock });
  timers.push(timer);
  return { clock, fired, timer };
}

const berlinDaily = { pattern: '30 2 * * *', timezone: 'Europe/Berlin' };

describe('the timer behind the embedded runner, the digest and the prune', () => {
  it.each([
    ['spring forward', '2026-03-27T23:00:00Z', ['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']],
    ['fall back', '2026-10-23T22:00:00Z', ['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']],
  ])('02:30 in Berlin, over the three days around the %s, fires once a day at the planned instant', (_name, startIso, expected) => {
    const { clock, fired } = watch(berlinDaily, startIso);
    clock.advance(3 * DAY);
    expect(fired).toEqual(expected.map((t) => ({ planned: t, at: t })));
  });

  it('an hourly schedule fires 48 times in the 48 h around each Berlin change, one real hour apart', () => {
    for (const transition of ['2026-03-29T01:00:00Z', '2026-10-25T01:00:00Z']) {
      const { clock, fired } = watch({ pattern: '0 * * * *', timezone: 'Europe/Berlin' }, new Date(Date.parse(transition) - DAY - 1).toISOString());
      clock.advance(2 * DAY);
      const at = fired.map((f) => Date.parse(f.at));
      expect(at).toHaveLength(48);
      expect(new Set(at.slice(1).map((t, i) => t - at[i]!))).toEqual(new Set([HOUR]));
    }
  });

  it('the digest and the prune follow their configured schedule and zone', () => {
    const config = parseConfig(
      configYaml({
        connectors: [],
        extra: ['channels:\n  ops: { type: slack, url: "https://hooks.example/x" }', 'digest:\n  schedule: "30 2 * * *"\n  timezone: Europe/Berlin\n  channels: [ops]', 'retention:\n  schedule: "30 2 * * *"'].join('\n'),
      }),
      'kpi.yaml',
      { env: {} },
    );
    // As startApp passes them: the digest (the report named digest) in its zone, the prune in UTC.
    const report = config.reports.find((r) => r.name === 'digest')!;
    const digest = watch({ pattern: report.schedule, timezone: report.timezone }, '2026-10-23T22:00:00Z');
    const prune = watch({ pattern: config.retention.schedule, timezone: 'UTC' }, '2026-10-23T22:00:00Z');
    digest.clock.advance(3 * DAY);
    prune.clock.advance(3 * DAY);
    expect(digest.fired.map((f) => f.at)).toEqual(['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
    expect(prune.fired.map((f) => f.at)).toEqual(['2026-10-24T02:30:00.000Z', '2026-10-25T02:30:00.000Z', '2026-10-26T02:30:00.000Z']);
  });

  it('woken after a suspend that slept through three fire times fires once, for the first, and goes on from now', () => {
    const { clock, fired, timer } = watch(berlinDaily, '2026-03-27T12:00:00Z');
    clock.jumpWall(3 * DAY);
    clock.advance(60_000);
    expect(fired).toEqual([{ planned: '2026-03-28T01:30:00.000Z', at: '2026-03-30T12:01:00.000Z' }]);
    expect(timer.next()?.toISOString()).toBe('2026-03-31T00:30:00.000Z');
    clock.advance(DAY);
    expect(fired.map((f) => f.planned)).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-31T00:30:00.000Z']);
  });

  it('notices a wall clock stepped forward within a minute, and a clock stepped back an hour fires nothing twice', () => {
    const { clock, fired } = watch(berlinDaily, '2026-03-27T23:00:00Z');
    clock.jumpWall(2 * HOUR + 45 * 60_000); // 02:45 CET, and the timer still sleeps
    clock.advance(60_000);
    expect(fired).toEqual([{ planned: '2026-03-28T01:30:00.000Z', at: '2026-03-28T01:46:00.000Z' }]);
    clock.jumpWall(-HOUR);
    clock.advance(3 * HOUR);
    expect(fired).toHaveLength(1);
  });

  it('a clock that was days ahead and is corrected does not wait for the wrong date', () => {
    const { clock, fired } = watch(berlinDaily, '2030-01-01T12:00:00Z');
    clock.advance(DAY);
    expect(fired.map((f) => f.planned)).toEqual(['2030-01-02T01:30:00.000Z']);
    clock.jumpWall(Date.parse('2026-03-27T12:00:00Z') - clock.now());
    clock.advance(DAY);
    expect(fired.map((f) => f.planned)).toEqual(['2030-01-02T01:30:00.000Z', '2026-03-28T01:30:00.000Z']);
  });

  it('never sleeps longer than a minute at a time, even for a yearly schedule', () => {
    const { clock, fired } = watch({ pattern: '0 0 1 1 *', timezone: 'UTC' }, '2026-12-30T00:00:00Z');
    clock.advance(3 * DAY);
    expect(fired.map((f) => f.at)).toEqual(['2027-01-01T00:00:00.000Z']);
    expect(Math.max(...clock.delays)).toBe(60_000);
  });

  it('stop() ends it: no fire, no next time, no timer left', () => {
    const { clock, fired, timer } = watch(berlinDaily, '2026-03-27T12:00:00Z');
    timer.stop();
    clock.advance(2 * DAY);
    expect(fired).toEqual([]);
    expect(timer.next()).toBeNull();
  });
});
