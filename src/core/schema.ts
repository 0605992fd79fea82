import { IANAZone } from 'luxon';
import { z } from 'zod';
import { parseDuration } from './duration.ts';
import { checkCronPattern } from './schedule.ts';

/**
 * The zod types every part of the configuration is written in: names, dates, zones, cron
 * expressions, URLs and durations. Connectors, channels, alert rules and the top-level
 * config all use these, so the same mistake gets the same message wherever it is made.
 */

/**
 * What the configuration reference (src/config/reference.ts) calls a type where "text" would
 * say too little, and the JSON Schema an editor gets for it where zod cannot write one.
 */
export const configTypes = z.registry<{ typeName: string; jsonSchema?: Record<string, unknown> }>();

export const slug = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,62}$/, 'expected a lower-case name of letters, digits, "-" or "_", starting with a letter');

export const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date as YYYY-MM-DD')
  .refine((s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s), 'not a real calendar date');

export const timeZone = z
  .string()
  .refine((tz) => IANAZone.isValidZone(tz), { error: (issue) => `"${String(issue.input)}" is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)` });

/** What src/core/schedule.ts runs, in queue and embedded mode alike. */
export const cronExpression = z.string().superRefine((expr, ctx) => {
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    ctx.addIssue({ code: 'custom', message: `expected a cron expression of 5 fields (minute hour day month weekday), got "${expr}"` });
    return;
  }
  try {
    checkCronPattern(expr);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `invalid cron expression "${expr}": ${(err as Error).message}` });
  }
});

/** One check, so a bad URL gets one message. */
export const httpUrl = z.string().refine((u) => {
  try {
    return /^https?:$/.test(new URL(u).protocol) && /^https?:\/\/\S+$/i.test(u);
  } catch {
    return false;
  }
}, 'expected an http(s) URL');

/** A duration written as text ("30s", "5m", "2h", "1d", "1w", or 0), read as milliseconds. */
export const duration = z.preprocess(
  // A bare 0 needs no unit.
  (v) => (v === 0 ? '0' : v),
  z
    .string()
    .refine((s) => parseDuration(s) !== undefined, 'expected a duration such as 30s, 5m, 2h, 1d or 1w')
    .transform((s) => parseDuration(s)!),
);

configTypes.add(slug, { typeName: 'name' });
configTypes.add(isoDate, { typeName: 'date (YYYY-MM-DD)' });
configTypes.add(timeZone, { typeName: 'time zone' });
configTypes.add(cronExpression, { typeName: 'cron' });
configTypes.add(httpUrl, { typeName: 'URL' });
/** What an editor accepts as a duration. */
export const durationJsonSchema = { anyOf: [{ type: 'string', pattern: '^\\d+(\\.\\d+)?(ms|s|m|h|d|w)$' }, { const: 0 }] };
configTypes.add(duration, { typeName: 'duration', jsonSchema: durationJsonSchema });
