import { z } from 'zod';
// The schema module alone, not notify's index: loading a config must not pull in delivery,
// the digest and through it the warehouse (and must not make an import cycle with them).
import { channelConfigSchema } from '../notify/channel-schema.ts';
import { parseDuration } from '../core/duration.ts';
import { configTypes, duration, durationJsonSchema, slug, timeZone } from '../core/schema.ts';


// The same shape as a KPI's or a goal's filter (kept here: schema.ts imports this file).
const filterSchema = z.partialRecord(z.enum(['connector', 'channel', 'campaign', 'account']), z.union([z.string(), z.array(z.string()).min(1)]));
const filterDescription = 'only facts whose dimensions have these values, e.g. `{ channel: paid_search }` (a list matches any of its values)';

export const alertSeriesSchema = z.strictObject({
  kpi: z.string().min(1).describe('a KPI, built in or from `kpis`, or a base metric'),
  grain: z.enum(['day', 'week', 'month', 'quarter']).default('day').describe('the periods the value is taken over'),
  dimension: z.enum(['all', 'connector', 'channel', 'campaign']).default('all').describe('one alert per value of this dimension; `all` watches the total'),
  filter: filterSchema.optional().describe(filterDescription),
  period: z.enum(['last', 'current']).default('last').describe('`last`: the last complete period; `current`: the period so far'),
}).describe('what a threshold, change or anomaly rule watches (the other kinds take none)');

const threshold = z
  .strictObject({
    kind: z.literal('threshold'),
    op: z.enum(['above', 'below']).describe('fire when the value is above or below the threshold'),
    threshold: z.number().describe('the limit, in KPI units'),
    recovery: z.number().optional().describe('hysteresis: once firing, the value must get back past this to resolve'),
  })
  .refine((c) => c.recovery === undefined || (c.op === 'below' ? c.recovery >= c.threshold : c.recovery <= c.threshold), {
    path: ['recovery'],
    message: 'must be on the good side of the threshold (>= it for op below, <= it for op above)',
  });

const change = z.strictObject({
  kind: z.literal('change'),
  op: z.enum(['drop', 'rise', 'any']).describe('`drop`: the value fell by at least threshold; `rise`: grew; `any`: either way'),
  by: z.enum(['percent', 'absolute']).default('percent').describe('whether threshold is a percentage or KPI units'),
  threshold: z.number().positive().describe('the change that fires: percent (20 = 20%) or KPI units, always positive'),
  against: z.number().int().min(1).max(104).default(1).describe('how many periods back the comparison period is: 1 = the period before'),
  toDate: z.boolean().default(false).describe('compare the current period so far with the same stretch of the earlier one'),
  recovery: z.number().min(0).optional().describe('once firing, resolves only when the change is smaller than this (same unit as threshold)'),
});

const goal = z.strictObject({
  kind: z.literal('goal'),
  goals: z.array(z.string().min(1)).min(1).optional().describe('goal names; every goal when left out. One alert per goal'),
  statuses: z.array(z.enum(['at_risk', 'off_track', 'missed'])).min(1).default(['at_risk', 'off_track']).describe('the goal statuses that fire'),
});

const anomaly = z
  .strictObject({
    kind: z.literal('anomaly'),
    lookback: z.number().int().min(3).max(52).default(8).describe('the same weekday over this many weeks (day grain), or this many earlier periods (other grains)'),
    sensitivity: z.number().positive().default(3).describe('half-width of the normal band, in robust standard deviations (1.4826 × MAD)'),
    minHistory: z.number().int().min(3).optional().describe('earlier values needed before anything can be called unusual; default lookback'),
    direction: z.enum(['both', 'up', 'down']).default('both').describe('which side of the band fires'),
    minDelta: z.number().min(0).default(0).describe('distance from the median, in KPI units, below which nothing fires'),
    minDeltaPct: z.number().min(0).default(0).describe('distance from the median in percent of it, below which nothing fires'),
    minVolume: z
      .strictObject({
        kpi: z.string().min(1).optional().describe("the volume's KPI; the rule's own when left out"),
        value: z.number().min(0).describe('the least volume'),
      })
      .optional()
      .describe('volume the period must have to be judged (e.g. impressions behind a CTR)'),
  })
  .refine((c) => c.minHistory === undefined || c.minHistory <= c.lookback, { path: ['minHistory'], message: 'cannot be more than lookback' });

const connectorsField = z.array(z.string().min(1)).min(1).optional().describe('connector names; every enabled connector when left out');

const freshness = z.strictObject({
  kind: z.literal('freshness'),
  connectors: connectorsField,
  maxAgeHours: z.number().positive().optional().describe("hours without a successful sync that fire; each connector's freshnessHours when left out"),
});

const syncFailure = z.strictObject({
  kind: z.literal('sync_failure'),
  connectors: connectorsField,
  failures: z.number().int().min(1).max(100).default(3).describe('consecutive failed (or abandoned) runs that fire'),
});

const quarantineRate = z
  .strictObject({
    kind: z.literal('quarantine_rate'),
    connectors: connectorsField,
    limit: z.number().min(0).max(1).describe('rejected records per record read that fire, as a fraction: 0.05 is 5%'),
    window: duration.default(86_400_000).describe('how far back runs are counted'),
    minRows: z.number().int().min(0).default(100).describe('fewer records read than this in the window is too little to judge'),
    recovery: z.number().min(0).max(1).optional().describe('once firing, resolves only below this share'),
  })
  .refine((c) => c.recovery === undefined || c.recovery <= c.limit, { path: ['recovery'], message: 'must be at most limit' });

const deliveryFailure = z.strictObject({
  kind: z.literal('delivery_failure'),
  watch: z.array(z.string().min(1)).min(1).optional().describe('channel names whose failed notifications and digests count; every channel when left out'),
  window: duration.default(86_400_000).describe('how long a failure counts; the alert resolves once the last one is older'),
  attempts: z.number().int().min(1).max(100).optional().describe('fire while this many delivery attempts in a row failed; `alerting.channelFailing.attempts` when left out'),
  after: duration.optional().describe('fire while the channel has been failing this long; `alerting.channelFailing.after` when left out'),
});

const tokenExpiry = z.strictObject({
  kind: z.literal('token_expiry'),
  connectors: connectorsField,
  warnDays: z
    .number()
    .positive()
    .max(365)
    .optional()
    .describe("fire this many days before a token stops working; when left out 7 for Meta tokens, 2 for Google refresh tokens (day 5 of a Testing client's 7)"),
});

export const alertConditionSchema = z
  .discriminatedUnion('kind', [threshold, change, goal, anomaly, freshness, syncFailure, quarantineRate, deliveryFailure, tokenExpiry])
  .describe('what fires, by `kind`: `threshold`, `change`, `goal`, `anomaly`, `freshness`, `sync_failure`, `quarantine_rate`, `delivery_failure` or `token_expiry`');

const SERIES_KINDS = new Set(['threshold', 'change', 'anomaly']);
/** The rule kinds whose data a failing source makes wrong, and the kinds that say a source fails. */
export const INHIBITABLE_KINDS: ReadonlySet<string> = new Set(['threshold', 'change', 'anomaly', 'goal']);
export const INHIBITING_KINDS: ReadonlySet<string> = new Set(['sync_failure', 'freshness']);

/** A duration, or "never". */
const repeatInterval = z.preprocess(
  (v) => (v === 0 ? '0' : v),
  z
    .string()
    .refine((s) => s === 'never' || parseDuration(s) !== undefined, 'expected a duration such as 30m or 4h, or never')
    .transform((s) => (s === 'never' ? null : parseDuration(s)!)),
);
configTypes.add(repeatInterval, { typeName: 'duration or `never`', jsonSchema: { anyOf: [...durationJsonSchema.anyOf, { const: 'never' }] } });

const labelName = z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'label names are letters, digits and "_"');

export const alertRuleSchema = z
  .strictObject({
    name: slug.describe('the rule\'s id, unique'),
    title: z.string().min(1).optional().describe('shown in message subjects; the name when left out'),
    description: z.string().min(1).optional().describe('shown in every message of the rule: what it watches and why it matters'),
    runbook: z
      .string()
      .regex(/^https?:\/\/\S+$/i, 'expected an http(s) URL')
      .optional()
      .describe('a link to what to do when it fires: a button in Slack, a link in email'),
    series: alertSeriesSchema.optional(),
    condition: alertConditionSchema,
    for: z.number().int().min(1).max(1000).default(1).describe('consecutive breaching evaluations before it fires; 1 fires at once'),
    keepFiringFor: z.number().int().min(0).max(1000).default(0).describe('clear evaluations a firing alert waits out before it resolves (against flapping)'),
    severity: z.enum(['critical', 'warning', 'info']).default('warning').describe('shown in messages; silences can match it'),
    labels: z.record(labelName, z.string()).default({}).describe('extra labels for its alerts, e.g. `{ team: growth }`; silences match them'),
    channels: z.array(z.string().min(1)).min(1).describe('names from `channels` its messages go to'),
    repeatInterval: repeatInterval
      .default(4 * 3_600_000)
      .describe('how often a still-firing alert is sent again; `never` sends it once'),
    sendResolved: z.boolean().default(true).describe('also send a message when it resolves'),
    noData: z
      .strictObject({
        policy: z.enum(['ok', 'alerting', 'keep_last']).default('ok').describe('`ok`: resolve; `alerting`: fire as "no data"; `keep_last`: leave the state as it is'),
        grace: duration.default(6 * 3_600_000).describe('how long data may be missing before the policy applies'),
      })
      .default({ policy: 'ok', grace: 6 * 3_600_000 })
      .describe('what happens while the watched data is missing'),
    muteWindows: z.array(z.string().min(1)).default([]).describe('names from `alerting.muteWindows` that apply to it'),
    // Off by default: a rule reads only the days every source feeding its KPI holds.
    partialData: z
      .boolean()
      .default(false)
      .describe('judge data that is not complete yet (a source still syncing, a day not over, a backfill running)'),
    inhibit: z
      .boolean()
      .optional()
      .describe('series and goal rules (threshold, change, anomaly, goal) stay quiet while a sync_failure or freshness rule fires for a connector feeding them; `false`: never inhibited'),
    inhibitedBy: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('only these sync_failure or freshness rules inhibit this one; every one of them when left out'),
  })
  .superRefine((rule, ctx) => {
    const needsSeries = SERIES_KINDS.has(rule.condition.kind);
    if (needsSeries && !rule.series) ctx.addIssue({ code: 'custom', path: ['series'], message: `required for ${rule.condition.kind} rules: { kpi, grain, dimension, filter }` });
    if (!needsSeries && rule.series) ctx.addIssue({ code: 'custom', path: ['series'], message: `not used by ${rule.condition.kind} rules; remove it` });
    if (!INHIBITABLE_KINDS.has(rule.condition.kind) && (rule.inhibit !== undefined || rule.inhibitedBy !== undefined)) {
      ctx.addIssue({ code: 'custom', path: [rule.inhibit !== undefined ? 'inhibit' : 'inhibitedBy'], message: `only threshold, change, anomaly and goal rules are inhibited; remove it from this ${rule.condition.kind} rule` });
    }
    if (rule.inhibit === false && rule.inhibitedBy) ctx.addIssue({ code: 'custom', path: ['inhibitedBy'], message: 'inhibit: false turns inhibition off; remove one of them' });
    if (rule.condition.kind === 'anomaly' && rule.series?.period === 'current') {
      ctx.addIssue({ code: 'custom', path: ['series', 'period'], message: 'anomaly rules compare complete periods; use period: last' });
    }
  });

const hhmm = /^([01]\d|2[0-3]):[0-5]\d-(([01]\d|2[0-3]):[0-5]\d|24:00)$/;

export const weekdays = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

export const muteWindowSchema = z.strictObject({
  timezone: timeZone.default('UTC').describe('zone the weekdays and hours are read in'),
  weekdays: z.array(z.enum(weekdays)).min(1).default([...weekdays]).describe('days the window is open'),
  hours: z
    .array(z.string().regex(hhmm, 'expected "HH:MM-HH:MM", e.g. "22:00-07:00"').refine((h) => h.slice(0, 5) !== h.slice(6), 'start and end are the same'))
    .min(1)
    .default(['00:00-24:00'])
    .describe('`"HH:MM-HH:MM"`, local time; `"22:00-07:00"` runs past midnight into the next day'),
  action: z.enum(['hold', 'drop']).default('hold').describe('`hold`: deliver when the window ends; `drop`: do not deliver'),
});

export const alertingSchema = z.strictObject({
  timezone: timeZone.optional().describe('zone the messages show times in; `reporting.timezone` when left out'),
  groupWait: duration.default(30_000).describe('alerts of one rule that fire within this wait go out as one message'),
  evaluationInterval: duration.default(60_000).describe('evaluations closer together than this count once (`for` counts these ticks)'),
  maxAttempts: z.number().int().min(1).max(100).default(10).describe('delivery attempts of a notification or digest before it is marked failed'),
  maxRetryAfter: duration
    .default(600_000)
    .describe('the longest wait (Retry-After) a destination may ask for; a delivery told to wait longer counts as failed instead of being put off'),
  claimTimeout: duration.default(600_000).describe('a claimed notification not marked sent within this is taken over by another replica'),
  link: z.string().regex(/^https?:\/\/\S+$/i, 'expected an http(s) URL').optional().describe('a URL messages link to (a dashboard); the web console at `server.publicUrl` when left out'),
  muteWindows: z.record(slug, muteWindowSchema).default({}).describe('named times when notifications are held or dropped; rules list them in `muteWindows`'),
  channelFailing: z
    .union([
      z.literal(false),
      z.strictObject({
        attempts: z.number().int().min(1).max(100).default(3).describe('failed deliveries in a row that make a channel failing'),
        after: duration.default(15 * 60_000).describe('how long a channel may fail before it counts as failing'),
      }),
    ])
    .default({ attempts: 3, after: 15 * 60_000 })
    .describe('with two channels or more and no `delivery_failure` rule, a built-in one tells the other channels when one keeps failing, and when it recovers; `false` turns it off'),
});

export const channelsSchema = z.record(slug, channelConfigSchema).describe('where messages go, by name: Slack webhooks, Slack bots and email');

export type AlertRule = z.output<typeof alertRuleSchema>;
export type AlertCondition = z.output<typeof alertConditionSchema>;
export type AlertSeries = z.output<typeof alertSeriesSchema>;
export type AlertingConfig = z.output<typeof alertingSchema>;
export type MuteWindow = z.output<typeof muteWindowSchema>;
export type Weekday = (typeof weekdays)[number];
