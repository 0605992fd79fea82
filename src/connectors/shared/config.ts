import { z } from 'zod';
import { CronExpressionParser } from 'cron-parser';
import { IANAZone } from 'luxon';

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

/** Accepted by both BullMQ's scheduler (cron-parser) and the embedded runner (node-cron). */
export const cronExpression = z.string().superRefine((expr, ctx) => {
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    ctx.addIssue({ code: 'custom', message: `expected a cron expression of 5 fields (minute hour day month weekday), got "${expr}"` });
    return;
  }
  try {
    CronExpressionParser.parse(expr, { strict: false });
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `invalid cron expression "${expr}": ${(err as Error).message}` });
  }
});

export const httpUrl = z.string().url('expected an http(s) URL').refine((u) => /^https?:\/\//.test(u), 'expected an http(s) URL');

/** Fields every connector has, whatever its source. */
export const baseConnectorFields = {
  name: slug,
  type: z.string(),
  enabled: z.boolean().default(true),
  schedule: cronExpression.default('0 * * * *'),
  /** Time zone of the schedule; the source's reporting dates come from the account's own zone. */
  timezone: timeZone.default('UTC'),
  /** Days re-pulled before the checkpoint on every sync, because sources restate recent days. */
  lookbackDays: z.number().int().min(0).max(365).optional(),
  /** First day of the initial backfill. */
  startDate: isoDate.optional(),
  /** Overrides the API's base URL (sandbox, tests, proxies). */
  baseUrl: httpUrl.optional(),
  /** Hours without a successful sync before the data counts as stale. */
  freshnessHours: z.number().positive().default(26),
  /** Concurrent requests this connector may make to its source. */
  concurrency: z.number().int().min(1).max(50).optional(),
};
