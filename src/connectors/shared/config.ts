import { z } from 'zod';
import { cronExpression, httpUrl, isoDate, slug, timeZone } from '../../core/schema.ts';
import { DEFAULT_MAX_RESPONSE_MB, MAX_RESPONSE_MB } from '../../core/http/body.ts';

// Each field's description is its line in the README's configuration reference (npm run docs:config).

/** Fields every connector has, whatever its source. */
export const baseConnectorFields = {
  name: slug.describe('lower-case id of this connector, unique in the file; facts, runs and alerts name it'),
  type: z.string(),
  label: z.string().min(1).max(80).optional().describe('the name messages show for it ("Google Ads", "Shop"); the type\'s product name, or its name when there are several of the type, when left out'),
  enabled: z.boolean().default(true).describe('`false` keeps the connector in the file but never syncs it'),
  schedule: cronExpression.default('0 * * * *').describe('when it syncs: cron of 5 fields (minute hour day month weekday), or 6 with seconds, read in `timezone`'),
  timezone: timeZone.default('UTC').describe("zone of the schedule (and of dates for csv and http_json); the other sources' reporting dates come from the account's own zone"),
  lookbackDays: z.number().int().min(0).max(365).optional().describe('days re-read before the checkpoint on every sync, because sources restate recent days; default per type (GA4, Search Console, http_json 3, Google Ads its conversionWindowDays, Meta 28, email 30, csv 0)'),
  startDate: isoDate.optional().describe('first day of the first backfill; default 30 days ago'),
  baseUrl: httpUrl.optional().describe("overrides the API's base URL (sandbox, tests, proxies)"),
  freshnessHours: z.number().positive().default(26).describe('hours without a successful sync before its data counts as stale (the freshness alert rule)'),
  concurrency: z.number().int().min(1).max(50).optional().describe('requests (accounts, properties, customers) read at once; default 2, 4 for Google Ads, Meta and Mailchimp'),
  maxDeleteShare: z
    .number()
    .min(0)
    .max(1)
    .default(0.5)
    .describe("most of a day's stored rows a new answer may drop before the day is held instead of applied (an empty answer drops them all); `1` applies every answer"),
  settlingDays: z
    .number()
    .int()
    .min(0)
    .max(30)
    .optional()
    .describe("days after which the source's numbers for a day are final: a day is complete (alerts, goals and reports judge it) only once older; default per type (GA4 1, Search Console 2, others 0)"),
};

/** Fields of the connectors that talk to their source through the shared HTTP client. */
export const httpConnectorFields = {
  maxResponseMb: z
    .number()
    .positive()
    .max(MAX_RESPONSE_MB, `at most ${MAX_RESPONSE_MB}: Node cannot hold a larger response as text`)
    .optional()
    .describe(`largest response body accepted, in MB after decompression; default ${DEFAULT_MAX_RESPONSE_MB}. A larger one is stopped as it arrives and fails the sync as a configuration error`),
};

