import { CronExpressionParser, type CronExpression } from 'cron-parser';
import { IANAZone } from 'luxon';
import type { RepeatStrategy } from 'bullmq';

/**
 * When a cron schedule fires, read in an IANA zone. Both runners ask this module (BullMQ's
 * job schedulers through `repeatStrategy`, the embedded runner, the digest and the prune
 * through cron-timer.ts), so a schedule means the same thing in every mode.
 *
 * Daylight saving, as Vixie cron does it:
 * - A time of day (the hour field is not `*` or `*\/n`) fires once on every day it names.
 *   When the clock skips it (spring forward), it fires at the instant the clock jumps, right
 *   after the gap; when the clock shows it twice (fall back), it fires the first time only.
 *   Several times of one gap land on that one instant, and fire there once.
 * - A schedule that runs through the day (the hour field is `*` or `*\/n`) fires whenever the
 *   wall clock shows a matching time: nothing inside a gap, both passes of a repeated hour.
 *   So `0 * * * *` and `*\/15 * * * *` keep their real-time spacing across a whole-hour shift;
 *   a 30-minute shift (Lord Howe) stretches one hourly interval to 90 minutes, because no
 *   :00 exists an hour later.
 * Every other day reads as plain cron.
 */
export interface CronSchedule {
  pattern: string;
  /** IANA zone the pattern's hours and days are read in. */
  timezone: string;
}

const DAY_MS = 24 * 3_600_000;
/** Wall-clock times tried for one answer before giving up; a real schedule needs a handful. */
const MAX_STEPS = 200_000;

interface Compiled {
  /** Iterates the wall-clock times the pattern names, written as if they were UTC instants. */
  wallTimes: CronExpression;
  throughTheDay: boolean;
}

const compiledPatterns = new Map<string, Compiled>();

/**
 * Throws an Error saying what is wrong with `pattern`; config validation words it.
 * Five fields (minute hour day month weekday), or six with seconds first.
 */
export function checkCronPattern(pattern: string): void {
  compile(pattern);
}

function compile(pattern: string): Compiled {
  const cached = compiledPatterns.get(pattern);
  if (cached) return cached;
  const fields = pattern.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) throw new Error(`expected 5 fields (minute hour day month weekday), or 6 with seconds first, got ${fields.length}`);
  // cron-parser draws a random value for H in every parse: each process, and each tick
  // BullMQ computes, would pick another time.
  if (fields.some((f) => /h/i.test(f.replace(/thu/gi, '')))) throw new Error('H (a hashed random value) is not supported: write the value');
  const wallTimes = CronExpressionParser.parse(pattern, { strict: false, tz: 'UTC' });
  const hour = fields[fields.length === 6 ? 2 : 1]!;
  const compiled: Compiled = { wallTimes, throughTheDay: hour.startsWith('*') };
  // Patterns come from the config, so this stays small; the bound is for a caller that loops.
  if (compiledPatterns.size >= 1_000) compiledPatterns.clear();
  compiledPatterns.set(pattern, compiled);
  return compiled;
}

/** The zone's UTC offset at an instant, in milliseconds. */
function offsetsOf(timezone: string): (at: number) => number {
  const zone = IANAZone.create(timezone);
  if (!zone.isValid) throw new Error(`"${timezone}" is not an IANA time zone`);
  return (at) => zone.offset(at) * 60_000;
}

/** The first instant in (lo, hi] at which the offset differs from the one at `lo`. */
function offsetChangeIn(lo: number, hi: number, offsetAt: (at: number) => number): number {
  const from = offsetAt(lo);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (offsetAt(mid) === from) lo = mid;
    else hi = mid;
  }
  return hi;
}

/**
 * The instants at which the zone's clock shows `wall`, earliest first: one on most days,
 * none in a spring-forward gap, two in a fall-back overlap. For a gap, also the instant the
 * clock jumped over it.
 */
function instantsShowing(wall: number, offsetAt: (at: number) => number): { instants: number[]; gapEnd?: number } {
  // A day either side is past any transition near `wall` (offsets stay within ±14 h).
  const before = offsetAt(wall - DAY_MS);
  const after = offsetAt(wall + DAY_MS);
  const instants = [...new Set([wall - before, wall - after])].filter((at) => at + offsetAt(at) === wall).sort((a, b) => a - b);
  if (instants.length > 0 || after <= before) return { instants };
  // Just before the jump the clock read less than `wall`, just after it more.
  return { instants, gapEnd: offsetChangeIn(wall - after, wall - before, offsetAt) };
}

/** The first instant after `afterMs` (epoch ms) at which `schedule` fires. */
export function nextFireTime(schedule: CronSchedule, afterMs: number): number {
  const { wallTimes, throughTheDay } = compile(schedule.pattern);
  const offsetAt = offsetsOf(schedule.timezone);
  // Fire times only grow with the wall-clock time they are for, except across a fall-back,
  // where the repeated hour's second pass comes after later wall-clock times' first pass.
  const earliestFrom = (wall: number, notBefore: number): number => {
    wallTimes.reset(new Date(wall - 1));
    for (let step = 0; step < MAX_STEPS; step++) {
      const { instants, gapEnd } = instantsShowing(wallTimes.next().getTime(), offsetAt);
      const fires = throughTheDay ? instants : [instants[0] ?? gapEnd];
      const at = fires.find((t) => t !== undefined && t >= notBefore);
      if (at !== undefined) return at;
    }
    throw new Error(`no fire time found for "${schedule.pattern}" in ${schedule.timezone} after ${new Date(afterMs).toISOString()}`);
  };
  const next = earliestFrom(afterMs + offsetAt(afterMs) + 1, afterMs + 1);
  // Only a schedule that runs through the day fires in the second pass; it may fire there
  // before the wall-clock time showing now comes round again.
  const fallsBack = offsetAt(afterMs) > offsetAt(afterMs + DAY_MS);
  if (!throughTheDay || !fallsBack) return next;
  const fallBack = offsetChangeIn(afterMs, afterMs + DAY_MS, offsetAt);
  return Math.min(next, earliestFrom(fallBack + offsetAt(fallBack), fallBack));
}

/** Whether `schedule` fires at `at` (epoch ms). */
export function isFireTime(schedule: CronSchedule, at: number): boolean {
  return nextFireTime(schedule, at - 1) === at;
}

/**
 * BullMQ's job schedulers compute each next tick with this instead of their own cron-parser
 * call (which skips a Lord Howe day and can run a Berlin 02:30 twice when a tick is picked
 * up late); set on the queue (upsert) and on the worker (every later tick).
 */
export const repeatStrategy: RepeatStrategy = (millis, opts) => {
  if (!opts.pattern) throw new Error('a job scheduler without a cron pattern');
  return nextFireTime({ pattern: opts.pattern, timezone: opts.tz ?? 'UTC' }, millis);
};
