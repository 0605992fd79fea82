import { z } from 'zod';
// The schema module alone, not notify's index: loading a config must not pull in delivery,
// the digest and through it the warehouse (and must not make an import cycle with them).
import { channelConfigSchema } from '../notify/channel-schema.ts';
import { slug, timeZone } from '../connectors/shared/config.ts';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** "30s", "5m", "2h", "1d", "1w" (or "0") in milliseconds. */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(text.trim());
  return m ? Math.round(Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]) : undefined;
}

/** A duration written as text, read as milliseconds. */
export const duration = z.preprocess(
  // A bare 0 needs no unit.
  (v) => (v === 0 ? '0' : v),
  z
    .string()
    .refine((s) => parseDuration(s) !== undefined, 'expected a duration such as 30s, 5m, 2h, 1d or 1w')
    .transform((s) => parseDuration(s)!),
);

// The same shape as a KPI's or a goal's filter (kept here: schema.ts imports this file).
const filterSchema = z.partialRecord(z.enum(['connector', 'channel', 'campaign', 'account']), z.union([z.string(), z.array(z.string()).min(1)]));

export const alertSeriesSchema = z.strictObject({
  /** A KPI, built-in or from kpis, or a base metric. */
  kpi: z.string().min(1),
  grain: z.enum(['day', 'week', 'month', 'quarter']).default('day'),
  /** One alert instance per value of this dimension; 'all' watches the total. */
  dimension: z.enum(['all', 'connector', 'channel', 'campaign']).default('all'),
  filter: filterSchema.optional(),
  /** 'last': the last complete period; 'current': the period so far. */
  period: z.enum(['last', 'current']).default('last'),
});

const threshold = z
  .strictObject({
    kind: z.literal('threshold'),
    op: z.enum(['above', 'below']),
    threshold: z.number(),
    /** Hysteresis: once firing, the value must get back past this to resolve. */
    recovery: z.number().optional(),
  })
  .refine((c) => c.recovery === undefined || (c.op === 'below' ? c.recovery >= c.threshold : c.recovery <= c.threshold), {
    path: ['recovery'],
    message: 'must be on the good side of the threshold (>= it for op below, <= it for op above)',
  });

const change = z.strictObject({
  kind: z.literal('change'),
  /** drop: the value fell by at least `threshold`; rise: grew; any: either way. */
  op: z.enum(['drop', 'rise', 'any']),
  by: z.enum(['percent', 'absolute']).default('percent'),
  /** Percent (20 = 20%) or KPI units, always positive. */
  threshold: z.number().positive(),
  /** How many periods back the comparison period is: 1 = the period before. */
  against: z.number().int().min(1).max(104).default(1),
  /** Compare the current period so far with the same stretch of the earlier one. */
  toDate: z.boolean().default(false),
  /** Once firing, resolves only when the change is smaller than this (same unit as threshold). */
  recovery: z.number().min(0).optional(),
});

const goal = z.strictObject({
  kind: z.literal('goal'),
  /** Goal names; all goals when left out. One alert instance per goal. */
  goals: z.array(z.string().min(1)).min(1).optional(),
  statuses: z.array(z.enum(['at_risk', 'off_track', 'missed'])).min(1).default(['at_risk', 'off_track']),
});

const anomaly = z
  .strictObject({
    kind: z.literal('anomaly'),
    /** Same weekday over this many weeks (day grain), or this many earlier periods (other grains). */
    lookback: z.number().int().min(3).max(52).default(8),
    /** Band half-width in robust standard deviations (1.4826 × MAD). */
    sensitivity: z.number().positive().default(3),
    /** Earlier values needed before anything can be called unusual. */
    minHistory: z.number().int().min(3).optional(),
    direction: z.enum(['both', 'up', 'down']).default('both'),
    /** Distance from the median, in KPI units, below which nothing fires. */
    minDelta: z.number().min(0).default(0),
    /** Distance from the median in percent of it, below which nothing fires. */
    minDeltaPct: z.number().min(0).default(0),
    /** Volume the period must have (e.g. impressions behind a CTR); the rule's own KPI when kpi is left out. */
    minVolume: z.strictObject({ kpi: z.string().min(1).optional(), value: z.number().min(0) }).optional(),
  })
  .refine((c) => c.minHistory === undefined || c.minHistory <= c.lookback, { path: ['minHistory'], message: 'cannot be more than lookback' });

const connectorsField = z.array(z.string().min(1)).min(1).optional();

const freshness = z.strictObject({
  kind: z.literal('freshness'),
  /** Connector names; every enabled connector when left out. */
  connectors: connectorsField,
  /** Overrides each connector's freshnessHours. */
  maxAgeHours: z.number().positive().optional(),
});

const syncFailure = z.strictObject({
  kind: z.literal('sync_failure'),
  connectors: connectorsField,
  /** Consecutive failed (or abandoned) runs. */
  failures: z.number().int().min(1).max(100).default(3),
});

const quarantineRate = z
  .strictObject({
    kind: z.literal('quarantine_rate'),
    connectors: connectorsField,
    /** Rejected records per record read, as a fraction: 0.05 is 5%. */
    limit: z.number().min(0).max(1),
    window: duration.default(86_400_000),
    /** Fewer records read than this in the window is too little to judge. */
    minRows: z.number().int().min(0).default(100),
    recovery: z.number().min(0).max(1).optional(),
  })
  .refine((c) => c.recovery === undefined || c.recovery <= c.limit, { path: ['recovery'], message: 'must be at most limit' });

export const alertConditionSchema = z.discriminatedUnion('kind', [threshold, change, goal, anomaly, freshness, syncFailure, quarantineRate]);

const SERIES_KINDS = new Set(['threshold', 'change', 'anomaly']);

const labelName = z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'label names are letters, digits and "_"');

export const alertRuleSchema = z
  .strictObject({
    name: slug,
    /** Shown in message subjects; the name when left out. */
    title: z.string().min(1).optional(),
    description: z.string().optional(),
    series: alertSeriesSchema.optional(),
    condition: alertConditionSchema,
    /** Consecutive breaching evaluations before it fires; 1 fires at once. */
    for: z.number().int().min(1).max(1000).default(1),
    /** Clear evaluations a firing alert waits out before it resolves (against flapping). */
    keepFiringFor: z.number().int().min(0).max(1000).default(0),
    severity: z.enum(['critical', 'warning', 'info']).default('warning'),
    labels: z.record(labelName, z.string()).default({}),
    channels: z.array(z.string().min(1)).min(1),
    /** How often a still-firing alert is sent again; "never" sends it once. */
    repeatInterval: z
      .preprocess(
        (v) => (v === 0 ? '0' : v),
        z
          .string()
          .refine((s) => s === 'never' || parseDuration(s) !== undefined, 'expected a duration such as 30m or 4h, or never')
          .transform((s) => (s === 'never' ? null : parseDuration(s)!)),
      )
      .default(4 * 3_600_000),
    sendResolved: z.boolean().default(true),
    noData: z
      .strictObject({
        /** ok: resolve; alerting: fire as "no data"; keep_last: leave the state as it is. */
        policy: z.enum(['ok', 'alerting', 'keep_last']).default('ok'),
        /** How long data may be missing before the policy applies. */
        grace: duration.default(6 * 3_600_000),
      })
      .default({ policy: 'ok', grace: 6 * 3_600_000 }),
    /** Names from alerting.muteWindows. */
    muteWindows: z.array(z.string().min(1)).default([]),
  })
  .superRefine((rule, ctx) => {
    const needsSeries = SERIES_KINDS.has(rule.condition.kind);
    if (needsSeries && !rule.series) ctx.addIssue({ code: 'custom', path: ['series'], message: `required for ${rule.condition.kind} rules: { kpi, grain, dimension, filter }` });
    if (!needsSeries && rule.series) ctx.addIssue({ code: 'custom', path: ['series'], message: `not used by ${rule.condition.kind} rules; remove it` });
    if (rule.condition.kind === 'anomaly' && rule.series?.period === 'current') {
      ctx.addIssue({ code: 'custom', path: ['series', 'period'], message: 'anomaly rules compare complete periods; use period: last' });
    }
  });

const hhmm = /^([01]\d|2[0-3]):[0-5]\d-(([01]\d|2[0-3]):[0-5]\d|24:00)$/;

export const weekdays = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

export const muteWindowSchema = z.strictObject({
  timezone: timeZone.default('UTC'),
  weekdays: z.array(z.enum(weekdays)).min(1).default([...weekdays]),
  /** "HH:MM-HH:MM", local time; "22:00-07:00" runs past midnight into the next day. */
  hours: z
    .array(z.string().regex(hhmm, 'expected "HH:MM-HH:MM", e.g. "22:00-07:00"').refine((h) => h.slice(0, 5) !== h.slice(6), 'start and end are the same'))
    .min(1)
    .default(['00:00-24:00']),
  /** hold: deliver when the window ends; drop: do not deliver. */
  action: z.enum(['hold', 'drop']).default('hold'),
});

export const alertingSchema = z.strictObject({
  /** Zone the messages show times in; reporting.timezone when left out. */
  timezone: timeZone.optional(),
  /** Instances of one rule that fire within this wait go out as one message. */
  groupWait: duration.default(30_000),
  /** Evaluations closer together than this count once (`for` counts these ticks). */
  evaluationInterval: duration.default(60_000),
  /** Delivery attempts of one notification before it is marked failed. */
  maxAttempts: z.number().int().min(1).max(100).default(10),
  /** A claimed notification not marked within this is taken over by another replica. */
  claimTimeout: duration.default(600_000),
  link: z.string().regex(/^https?:\/\/\S+$/i, 'expected an http(s) URL').optional(),
  muteWindows: z.record(slug, muteWindowSchema).default({}),
});

export const channelsSchema = z.record(slug, channelConfigSchema);

export type AlertRule = z.output<typeof alertRuleSchema>;
export type AlertCondition = z.output<typeof alertConditionSchema>;
export type AlertSeries = z.output<typeof alertSeriesSchema>;
export type AlertingConfig = z.output<typeof alertingSchema>;
export type MuteWindow = z.output<typeof muteWindowSchema>;
export type Weekday = (typeof weekdays)[number];
