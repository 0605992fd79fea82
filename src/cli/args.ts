import { accessSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { isCalendarDate } from '../core/dates.ts';
import { parseDuration } from '../core/duration.ts';
import { isListenHost, LISTEN_HOST_EXPECTED } from '../core/listen-host.ts';
import { parseMatcher, type Matcher } from '../alerts/silences.ts';
import { hasControlCharacters } from './io.ts';

/*
 * Argument parsers with the range a real user could need. Everything outside it is refused
 * here, with exit 2, before a value can reach the warehouse as an out-of-range bigint, an
 * invalid timestamp or a 27-century recompute. Commander prefixes each message with the
 * option and the value given, so the messages say only what is allowed.
 */

/**
 * No source has data from before 2000 (AdWords opened in October 2000, Google Analytics in
 * 2005, the Facebook ads API in 2007): an earlier day is a typo, and 0001-01-01 came back as
 * a report for 1900.
 */
const EARLIEST_DAY = '2000-01-01';

/**
 * A year past today (UTC): room for an as-of date in a plan or a goal's deadline, and for
 * "today" in any time zone, while 2206 for 2026 is refused.
 */
function latestDay(now = new Date()): string {
  const d = new Date(now);
  d.setUTCFullYear(d.getUTCFullYear() + 1);
  return d.toISOString().slice(0, 10);
}

export { isCalendarDate };

export function dateArg(value: string): string {
  const latest = latestDay();
  if (!isCalendarDate(value) || value < EARLIEST_DAY || value > latest) throw new InvalidArgumentError(`expected a date as YYYY-MM-DD from ${EARLIEST_DAY} to ${latest}`);
  return value;
}

/** Digits only: no sign, exponent, hex or spaces, which Number() would quietly accept. */
export function wholeNumberArg(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = /^\d{1,16}$/.test(value) ? Number(value) : Number.NaN;
    if (!(n >= min && n <= max)) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

/** Milliseconds, from "30m", "2h", "1d" and the like. */
export function durationArg(min: string, max: string): (value: string) => number {
  const [lo, hi] = [parseDuration(min)!, parseDuration(max)!];
  return (value) => {
    const ms = parseDuration(value);
    if (ms === undefined || ms < lo || ms > hi) throw new InvalidArgumentError(`expected a duration from ${min} to ${max}, such as 30m, 2h or 1d`);
    return ms;
  };
}

/**
 * Free text (a name, a comment, a path). Control characters have no place in any of them,
 * and NUL is refused by Postgres with an error the user could do nothing with.
 */
export function textArg(max: number): (value: string) => string {
  return (value) => {
    if (value.length === 0 || value.length > max || hasControlCharacters(value)) throw new InvalidArgumentError(`expected 1 to ${max} characters, none of them control characters`);
    return value;
  };
}

const matcherText = textArg(500);

/** Repeatable: each one parsed and added to those before it. */
export function matcherArg(value: string, previous: Matcher[] = []): Matcher[] {
  try {
    return [...previous, parseMatcher(matcherText(value))];
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err;
    throw new InvalidArgumentError((err as Error).message);
  }
}

const wholePort = wholeNumberArg(0, 65535);

/** A TCP port (0: any free one), or `false` for no HTTP surface at all (a worker beside another process). */
export function portArg(value: string): number | false {
  if (value === 'false') return false;
  try {
    return wholePort(value);
  } catch {
    throw new InvalidArgumentError('expected a port number from 0 to 65535, or false for no HTTP surface');
  }
}

export function hostArg(value: string): string {
  if (!isListenHost(value)) throw new InvalidArgumentError(LISTEN_HOST_EXPECTED);
  return value;
}

/**
 * The folder an option names, created if needed, or a usage error saying it cannot be
 * written: a path through a file, a name too long or a read-only mount is the argument's
 * fault, not a failed run.
 */
export function writableDir(option: string, dir: string, cwd: string): string {
  const absolute = path.resolve(cwd, dir);
  try {
    mkdirSync(absolute, { recursive: true });
    accessSync(absolute, constants.W_OK);
  } catch (err) {
    throw new InvalidArgumentError(`${option} ${dir}: cannot write to that folder (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return absolute;
}

/** `--since`: how long back (a duration), or a day (YYYY-MM-DD, from its start in the time zone the command shows). */
export type Since = { ms: number } | { day: string };

const sinceDuration = durationArg('1m', '3650d');

export function sinceArg(value: string): Since {
  if (/^\d{4}-/.test(value)) return { day: dateArg(value) };
  try {
    return { ms: sinceDuration(value) };
  } catch {
    throw new InvalidArgumentError(`expected how long back, from 1m to 3650d (such as 2h or 7d), or a date as YYYY-MM-DD`);
  }
}
