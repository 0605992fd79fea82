import { CronExpressionParser } from 'cron-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { isFireTime, nextFireTime, type CronSchedule } from '../../src/core/schedule.ts';
import { configYaml } from './helpers.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The 2026 clock changes: the instant the clock jumps, and which way. */
const transitions = [
  { zone: 'Europe/Berlin', at: '2026-03-29T01:00:00Z', change: 'spring forward 02:00 → 03:00' },
  { zone: 'Europe/Berlin', at: '2026-10-25T01:00:00Z', change: 'fall back 03:00 → 02:00' },
  { zone: 'America/New_York', at: '2026-03-08T07:00:00Z', change: 'spring forward 02:00 → 03:00' },
  { zone: 'America/New_York', at: '2026-11-01T06:00:00Z', change: 'fall back 02:00 → 01:00' },
  { zone: 'Australia/Lord_Howe', at: '2026-04-04T15:00:00Z', change: 'fall back 02:00 → 01:30' },
  { zone: 'Australia/Lord_Howe', at: '2026-10-03T15:30:00Z', change: 'spring forward 02:00 → 02:30' },
  // Chile changes at midnight: the day of the spring forward starts at 01:00.
  { zone: 'America/Santiago', at: '2026-04-05T03:00:00Z', change: 'fall back 00:00 → 23:00' },
  { zone: 'America/Santiago', at: '2026-09-06T04:00:00Z', change: 'spring forward 00:00 → 01:00' },
  { zone: 'UTC', at: '2026-03-29T01:00:00Z', change: 'none' },
];

const patterns = ['30 2 * * *', '0 2 * * *', '0 0 * * *', '15 2 * * *', '45 1 * * *', '0 3 * * *', '0,30 1-3 * * *', '30 2 * * 0', '0 * * * *', '30 * * * *', '*/15 * * * *', '0 */2 * * *'];

const formats = new Map<string, Intl.DateTimeFormat>();
/** What the zone's clock shows at `at`, written as a UTC instant; Intl, not the code under test. */
function wallClock(zone: string, at: number): number {
  let format = formats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' });
    formats.set(zone, format);
  }
  const p = Object.fromEntries(format.formatToParts(new Date(at)).map((x) => [x.type, Number(x.value)]));
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!);
}

const localDay = (zone: string, at: number) => new Date(wallClock(zone, at)).toISOString().slice(0, 10);
const iso = (ms: number[]) => ms.map((t) => new Date(t).toISOString());

/**
 * The policy written as a cron daemon would apply it, looking at the clock every minute: a
 * schedule through the day fires whenever the clock shows a matching time; a time of day
 * fires the first time the clock shows it, or at the jump when the clock skips it.
 */
function cronDaemon(pattern: string, zone: string, from: number, to: number): number[] {
  const names = CronExpressionParser.parse(pattern, { tz: 'UTC' });
  const matches = (wall: number) => names.includesDate(new Date(wall));
  const throughTheDay = pattern.split(' ')[1]!.startsWith('*');
  const shown = new Set<number>();
  for (let m = from - DAY; m < from; m += MINUTE) shown.add(wallClock(zone, m));
  const fires: number[] = [];
  for (let m = from; m < to; m += MINUTE) {
    const wall = wallClock(zone, m);
    const before = wallClock(zone, m - MINUTE);
    const repeated = shown.has(wall);
    shown.add(wall);
    let fire = matches(wall) && (throughTheDay || !repeated);
    if (!throughTheDay) for (let skipped = before + MINUTE; skipped < wall && !fire; skipped += MINUTE) fire = matches(skipped);
    if (fire) fires.push(m);
  }
  return fires;
}

/** Fire times in [from, to), each found from the one before, as both runners step. */
function stepped(schedule: CronSchedule, from: number, to: number): number[] {
  const out: number[] = [];
  for (let t = nextFireTime(schedule, from - 1); t < to; t = nextFireTime(schedule, t)) out.push(t);
  return out;
}

describe('nextFireTime across clock changes', () => {
  it.each(transitions)('$zone $at ($change): every pattern fires as a cron daemon watching the clock would, over 48 h', ({ zone, at, change }) => {
    const t = Date.parse(at);
    // The dates above are real transitions (or, for UTC, none).
    expect(wallClock(zone, t) - t !== wallClock(zone, t - MINUTE) - (t - MINUTE)).toBe(change !== 'none');
    for (const pattern of patterns) {
      const from = t - DAY;
      const to = t + DAY;
      expect(iso(stepped({ pattern, timezone: zone }, from, to)), pattern).toEqual(iso(cronDaemon(pattern, zone, from, to)));
    }
  });

  it.each([
    // 02:30 does not exist: once, at 03:00 CEST, when the clock jumps.
    ['Europe/Berlin', '30 2 * * *', '2026-03-29', ['2026-03-29T01:00:00.000Z']],
    // 02:30 happens twice: once, the first time (CEST).
    ['Europe/Berlin', '30 2 * * *', '2026-10-25', ['2026-10-25T00:30:00.000Z']],
    ['America/New_York', '30 2 * * *', '2026-03-08', ['2026-03-08T07:00:00.000Z']],
    ['America/New_York', '30 1 * * *', '2026-11-01', ['2026-11-01T05:30:00.000Z']],
    // Lord Howe moves by 30 minutes: 02:15 is skipped (fires at 02:30), 01:45 comes twice.
    ['Australia/Lord_Howe', '15 2 * * *', '2026-10-04', ['2026-10-03T15:30:00.000Z']],
    ['Australia/Lord_Howe', '45 1 * * *', '2026-04-05', ['2026-04-04T14:45:00.000Z']],
    // Weekly, on the Sunday of the change.
    ['Europe/Berlin', '30 2 * * 0', '2026-03-29', ['2026-03-29T01:00:00.000Z']],
    ['Europe/Berlin', '30 2 * * 0', '2026-10-25', ['2026-10-25T00:30:00.000Z']],
    ['America/Santiago', '0 0 * * *', '2026-09-06', ['2026-09-06T04:00:00.000Z']],
    ['UTC', '30 2 * * *', '2026-03-29', ['2026-03-29T02:30:00.000Z']],
    // Days without a change are plain cron.
    ['Europe/Berlin', '30 2 * * *', '2026-03-28', ['2026-03-28T01:30:00.000Z']],
    ['Europe/Berlin', '30 2 * * *', '2026-10-26', ['2026-10-26T01:30:00.000Z']],
  ])('%s "%s" fires on %s exactly at %j', (timezone, pattern, day, expected) => {
    const around = Date.parse(`${day}T12:00:00Z`);
    const fires = stepped({ pattern, timezone }, around - 3 * DAY, around + 3 * DAY).filter((t) => localDay(timezone, t) === day);
    expect(iso(fires)).toEqual(expected);
  });

  it('an hourly schedule runs every real hour through both Berlin changes: 23 runs on the short day, 25 on the long one', () => {
    const schedule = { pattern: '0 * * * *', timezone: 'Europe/Berlin' };
    for (const [day, runs] of [['2026-03-29', 23], ['2026-10-25', 25]] as const) {
      const fires = stepped(schedule, Date.parse(`${day}T00:00:00Z`) - 2 * DAY, Date.parse(`${day}T00:00:00Z`) + 2 * DAY);
      expect(fires.filter((t) => localDay('Europe/Berlin', t) === day)).toHaveLength(runs);
      expect(new Set(fires.slice(1).map((t, i) => t - fires[i]!))).toEqual(new Set([HOUR]));
    }
  });

  it('every 15 minutes stays every 15 real minutes; in Lord Howe an hourly :00 has one 90-minute interval per change', () => {
    for (const { zone, at } of transitions) {
      const fires = stepped({ pattern: '*/15 * * * *', timezone: zone }, Date.parse(at) - DAY, Date.parse(at) + DAY);
      expect(new Set(fires.slice(1).map((t, i) => t - fires[i]!)), zone).toEqual(new Set([15 * MINUTE]));
    }
    for (const at of ['2026-04-04T15:00:00Z', '2026-10-03T15:30:00Z']) {
      const fires = stepped({ pattern: '0 * * * *', timezone: 'Australia/Lord_Howe' }, Date.parse(at) - DAY, Date.parse(at) + DAY);
      const gaps = fires.slice(1).map((t, i) => t - fires[i]!);
      expect(gaps.filter((g) => g !== HOUR)).toEqual([90 * MINUTE]);
    }
  });

  it('asked from any instant between two fire times, gives the same next one (a tick taken late plans no extra run)', () => {
    const zones = transitions.map((t) => t.zone);
    const year = { min: Date.parse('2026-01-01T00:00:00Z'), max: Date.parse('2027-01-01T00:00:00Z') };
    // Dense around the changes, where cron-parser alone goes wrong, and anywhere in the year.
    const instant = fc.oneof(
      fc.integer(year),
      fc.constantFrom(...transitions.map((t) => Date.parse(t.at))).chain((t) => fc.integer({ min: t - 3 * HOUR, max: t + 3 * HOUR })),
    );
    fc.assert(
      fc.property(fc.constantFrom(...zones), fc.constantFrom(...patterns), instant, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (timezone, pattern, t, share) => {
        const schedule = { pattern, timezone };
        const next = nextFireTime(schedule, t);
        expect(next).toBeGreaterThan(t);
        expect(isFireTime(schedule, next)).toBe(true);
        const between = t + Math.floor(share * (next - t));
        expect(nextFireTime(schedule, between)).toBe(next);
      }),
      { numRuns: 400 },
    );
  });

  it('a schedule with seconds steps one real second at a time through the repeated hour', () => {
    const schedule = { pattern: '* * * * * *', timezone: 'Europe/Berlin' };
    const from = Date.parse('2026-10-25T00:59:50Z');
    const fires = stepped(schedule, from, from + 20_000);
    expect(fires).toEqual(Array.from({ length: 20 }, (_, i) => from + i * 1_000));
  });
});

describe('cron patterns in the config', () => {
  it.each([
    ['connectors[0].schedule', { connectors: [{ name: 'a', schedule: 'H 2 * * *' }] }, 'invalid cron expression "H 2 * * *": H (a hashed random value) is not supported: write the value'],
    ['connectors[0].schedule', { connectors: [{ name: 'a', schedule: '30 2 31 2 *' }] }, 'invalid cron expression "30 2 31 2 *": Invalid explicit day of month definition'],
    ['retention.schedule', { connectors: [], extra: 'retention:\n  schedule: "0 0 * * * * *"' }, 'expected a cron expression of 5 fields'],
  ])('%s: a pattern no runner can follow is refused where it is written', (path, yaml, message) => {
    let error: unknown;
    try {
      parseConfig(configYaml(yaml), 'kpi.yaml', { env: {} });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const line = (error as ConfigError).message.split('\n').find((l) => l.includes(`${path}:`));
    expect(line, (error as ConfigError).message).toMatch(new RegExp(`^kpi\\.yaml:\\d+:\\d+ ${path.replace(/[.[\]]/g, '\\$&')}: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  it('accepts THU as a weekday: H is refused only as a value', () => {
    const config = parseConfig(configYaml({ connectors: [{ name: 'a', schedule: '0 8 * * THU', timezone: 'Europe/Berlin' }] }), 'kpi.yaml', { env: {} });
    expect(iso([nextFireTime({ pattern: config.connectors[0]!.schedule, timezone: config.connectors[0]!.timezone }, Date.parse('2026-03-28T00:00:00Z'))])).toEqual(['2026-04-02T06:00:00.000Z']);
  });
});
