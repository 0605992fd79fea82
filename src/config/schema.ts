import { z } from 'zod';
import { configTypes, cronExpression, duration, isoDate, slug, timeZone } from '../core/schema.ts';
import { alertRuleSchema, alertingSchema, channelsSchema } from './alerts.ts';
import { isListenHost, LISTEN_HOST_EXPECTED } from '../core/listen-host.ts';
import { connectorCatalog, type ConnectorType } from '../connectors/catalog.ts';

const currencyCode = z.string().regex(/^[A-Z]{3}$/, 'expected a 3-letter ISO currency code, e.g. EUR');
configTypes.add(currencyCode, { typeName: 'currency code' });

const filterSchema = z.partialRecord(z.enum(['connector', 'channel', 'campaign', 'account']), z.union([z.string(), z.array(z.string()).min(1)]));
const filterDescription = 'only facts whose dimensions have these values, e.g. `{ channel: paid_search }` (a list matches any of its values)';
const grains = ['day', 'week', 'month', 'quarter'] as const;

export const kpiConfigSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z][a-z0-9_]*$/, 'KPI names are lower_snake_case')
    .describe('lower_snake_case; formulas, goals and alerts use it, and it replaces a built-in KPI of the same name'),
  label: z.string().optional().describe('shown in reports and messages; the name when left out'),
  formula: z.string().min(1).describe('over base metrics and other KPIs, e.g. `spend / new_customers` (see *KPIs*)'),
  unit: z.enum(['percent', 'currency', 'count', 'ratio']).default('ratio').describe('how values are shown'),
  direction: z.enum(['higher', 'lower']).default('higher').describe('which way is better (colours, goal status)'),
  description: z.string().optional().describe('what it means, for people'),
  filter: filterSchema.optional().describe(filterDescription),
});

export const goalConfigSchema = z.strictObject({
  name: slug.describe("the goal's id; OKRs and goal alert rules name it"),
  kpi: z.string().min(1).describe('the KPI or base metric it measures'),
  filter: filterSchema.optional().describe(filterDescription),
  grain: z.enum(grains).default('month').describe('the periods progress is tracked in (and a `stay_*` goal judged on)'),
  target: z.number().describe('the value to reach, or to stay above or below'),
  criterion: z.enum(['reach', 'stay_above', 'stay_below']).default('reach').describe('`reach` the target by the deadline, or `stay_above` / `stay_below` it'),
  baseline: z.number().optional().describe('where progress starts; default 0 for sums, else the KPI in the period before start'),
  start: isoDate.describe('first day'),
  deadline: isoDate.describe('last day'),
  description: z.string().optional().describe('what it is for, for people'),
});

export const okrConfigSchema = z.strictObject({
  name: slug.describe("the OKR's id"),
  objective: z.string().min(1).describe('the objective, in words'),
  keyResults: z
    .array(z.strictObject({ goal: z.string().min(1).describe('a goal name, once per OKR'), weight: z.number().positive().default(1).describe("its share of the objective's progress") }))
    .min(1)
    .describe('goals measuring it; its progress is their weighted mean, its status the worst of theirs'),
});

const DAY_MS = 86_400_000;

export const reportConfigSchema = z.strictObject({
  name: slug.describe('the report\'s id: keys its sends (digest_sends.report) and names it in `kpi digest --report`'),
  title: z.string().min(1).optional().describe('its subject and heading'),
  kpis: z.array(z.string().min(1)).min(1).optional().describe('KPIs shown, in this order; config KPIs and built-ins with data when left out'),
  northStar: z.boolean().default(true).describe('show the North Star first (when one is set)'),
  grain: z.enum(['day', 'week', 'month']).default('week').describe('the period it reports on: the last whole day, week or month before it is sent'),
  schedule: cronExpression.describe('when it is sent, e.g. `"0 8 * * 1"`'),
  timezone: timeZone.optional().describe("where the schedule's times and the period's bounds are read; `reporting.timezone` when left out"),
  channels: z.array(z.string().min(1)).min(1).describe('names from `channels` it goes to'),
  periods: z.number().int().min(2).max(104).default(12).describe('periods in each sparkline'),
});
/**
 * Which connectors count for a base metric in every KPI, where several write it (GA4, the
 * shop and billing all write revenue): `metrics: { revenue: { from: [shop-orders] } }`.
 * Facts of the others stay in the warehouse but no KPI sums them.
 */
export const metricSourcesSchema = z.record(
  z.string().min(1),
  z.strictObject({ from: z.array(slug).min(1).describe('names of the connectors whose facts of this metric KPIs sum') }),
);

/** A change smaller than this is shown without good/bad colour: percent for most KPIs, percentage points for percent KPIs. */
const significantChangeSchema = z
  .strictObject({
    percent: z.number().min(0).default(2).describe('smallest change, in percent, shown as good or bad news'),
    points: z.number().min(0).default(1).describe('the same for percent KPIs, in percentage points'),
  })
  .default({ percent: 2, points: 1 })
  .describe('a change smaller than this is shown grey, neither good nor bad news');

export const configSchema = z.strictObject({
  reporting: z
    .strictObject({
      currency: currencyCode.default('USD').describe('ISO code of the currency KPIs are reported in'),
      timezone: timeZone.default('UTC').describe('IANA zone that days, weeks, months and quarters are cut in'),
      weekStart: z.enum(['monday', 'sunday']).default('monday').describe('first day of a week'),
      fxRates: z.record(currencyCode, z.number().positive()).default({}).describe('units of the reporting currency per unit of each other currency, e.g. `{ USD: 0.92 }`'),
      significantChange: significantChangeSchema,
    })
    .default({ currency: 'USD', timezone: 'UTC', weekStart: 'monday', fxRates: {}, significantChange: { percent: 2, points: 1 } })
    .describe('how KPIs are reported'),
  warehouse: z
    .strictObject({ url: z.string().optional().describe('Postgres connection string; `DATABASE_URL` when left out, and the embedded database under dataDir when neither is set') })
    .default({})
    .describe('where facts and KPIs are kept'),
  redis: z
    .strictObject({
      url: z.string().optional().describe('Redis for the BullMQ queues; `REDIS_URL` when left out, and the embedded runner (no queues) when neither is set'),
      prefix: z.string().default('kpi').describe('prefix of every Redis key, so several installations can share one Redis'),
    })
    .default({ prefix: 'kpi' })
    .describe('the job queues'),
  server: z
    .strictObject({
      port: z
        .union([z.number().int().min(0).max(65535), z.literal(false)], { error: 'expected a port number (0 to 65535, 0 for any free one) or false' })
        .default(9464)
        .describe('port of the health, metrics and dashboard endpoints; `false` for no HTTP surface at all (a worker beside another process on the same host); `kpi start --port` and `KPI_PORT` win over it'),
      host: z
        .string()
        .refine(isListenHost, LISTEN_HOST_EXPECTED)
        .default('127.0.0.1')
        .describe('address they listen on: loopback, as probes, metrics and the dashboard are for this host\'s operators; `0.0.0.0` to be reached from other machines (`--host` overrides it; the Docker image starts with `--host 0.0.0.0`). On any address but loopback the web console asks for a sign-in (`dashboard`) before it shows anything'),
      publicUrl: z
        .string()
        .regex(/^https?:\/\/\S+$/i, 'expected an http(s) URL')
        .optional()
        .describe('where people reach this server (behind a proxy, say); alert messages link each series to the period it judged in the web console\'s KPI explorer there (and their dashboard button to the console, unless `alerting.link` says otherwise) instead of printing the `kpi report` command line'),
      trustProxy: z
        .union([z.boolean(), z.array(z.string().min(1)).min(1)], { error: 'expected true, false or a list of proxy addresses (such as [10.0.0.1, 10.0.0.0/8])' })
        .default(false)
        .describe('whether to believe the `X-Forwarded-For` header of requests, to know the client behind a reverse proxy: `true` for any sender, or the proxies\' addresses or CIDR ranges (safer). The web console counts wrong sign-ins per user name and client address: without this, behind a proxy every client has the proxy\'s address'),
      dashboard: z
        .strictObject({
          user: z.string().min(1).describe('basic auth user of the queue dashboard'),
          password: z.string().min(8).describe('its password, at least 8 characters (a secret, e.g. `${env:DASHBOARD_PASSWORD}`)'),
          // Off by default: a Prometheus scrape job needs basic_auth set up first, the numbers
          // name connectors but hold no secret, and the surface listens on loopback unless
          // server.host says otherwise.
          protectMetrics: z.boolean().default(false).describe('`/metrics` asks for the same credentials'),
        })
        .optional()
        .describe('the queue dashboard at `/admin/queues`, served only when this is set; also the sign-in of the web console at `/console` (needed to create or expire silences there, and to see anything when `host` is not loopback)'),
      token: z
        .string()
        .min(16)
        .optional()
        .describe('a token that signs in to the web console as `token` (`Authorization: Bearer TOKEN`, or in its sign-in form with no user), for scripts and wall screens; at least 16 characters, a secret (`${env:KPI_CONSOLE_TOKEN}`)'),
    })
    .default({ port: 9464, host: '127.0.0.1', trustProxy: false })
    .describe('the HTTP surface: `/healthz`, `/readyz`, `/metrics`, the web console at `/console` and the queue dashboard'),
  dataDir: z.string().default('./data').describe('folder of the embedded database, digests and the local message catcher, relative to where `kpi` runs'),
  connectors: z.array(z.unknown()).default([]).describe('the sources synced, each by its `type` (below)'),
  metrics: metricSourcesSchema.default({}).describe('which connectors count for a base metric several write, e.g. `{ revenue: { from: [shop-orders] } }`; the others\' facts stay stored but no KPI sums them'),
  kpis: z.array(kpiConfigSchema).default([]).describe('custom KPIs, added to the built-in ones'),
  northStar: z.string().optional().describe('the KPI that leads every report and digest'),
  goals: z.array(goalConfigSchema).default([]).describe('targets for a KPI by a deadline'),
  okrs: z.array(okrConfigSchema).default([]).describe('objectives measured by weighted goals'),
  channels: channelsSchema.default({}),
  alerts: z.array(alertRuleSchema).default([]).describe('alert rules'),
  alerting: alertingSchema.default(alertingSchema.parse({})).describe('delivery settings shared by every alert rule'),
  /**
   * Job settings; what is left out keeps its default. Embedded mode (no Redis) uses attempts
   * and backoff for the recompute → evaluate → notify chain after a sync (a failed sync waits
   * for its next tick) and sourceLimits; syncConcurrency is per queue worker.
   */
  jobs: z
    .strictObject({
      syncConcurrency: z.number().int().min(1).max(64).default(4).describe('sync jobs one worker process runs at once, across connectors (queue mode)'),
      attempts: z
        .number()
        .int()
        .min(1)
        .max(20)
        .default(5)
        .describe('tries of a job that fails with a transient error, the first included (embedded mode: the recompute, evaluate and notify steps after a sync; a failed sync waits for its next tick)'),
      backoff: duration.default(10_000).describe('first retry delay; it doubles with each attempt (at most an hour), with jitter of up to a quarter below it'),
      sourceLimits: z
        .partialRecord(z.enum(Object.keys(connectorCatalog) as [ConnectorType, ...ConnectorType[]]), z.number().int().min(1))
        .default({})
        .describe("most syncs of one connector type at once across all workers, e.g. `{ google_ads: 2 }` (a source's own limit); a sync over it waits for a slot"),
    })
    .default({ syncConcurrency: 4, attempts: 5, backoff: 10_000, sourceLimits: {} })
    .describe('job settings; what is left out keeps its default'),
  retention: z
    .strictObject({
      syncRuns: duration.default(180 * DAY_MS).describe('how long sync runs are kept'),
      quarantine: duration.default(90 * DAY_MS).describe('how long quarantined records are kept'),
      alertHistory: duration.default(90 * DAY_MS).describe('how long alert history is kept: transitions, sent notifications, digest sends, expired silences'),
      schedule: cronExpression.default('17 3 * * *').describe('when the scheduler prunes (cron, UTC)'),
    })
    .default({ syncRuns: 180 * DAY_MS, quarantine: 90 * DAY_MS, alertHistory: 90 * DAY_MS, schedule: '17 3 * * *' })
    .describe('how long history is kept; the scheduler prunes on `schedule`, `kpi prune` on demand'),
  /**
   * The original single weekly digest; still accepted, and read as one report named `digest`
   * (src/config/reports.ts). New configs list their reports under `reports`.
   */
  digest: z
    .strictObject({
      schedule: cronExpression.describe('when it is sent, read in `timezone`, e.g. `"0 8 * * 1"`'),
      timezone: timeZone.default('UTC').describe('zone of the schedule'),
      channels: z.array(z.string()).min(1).describe('names from `channels` it goes to'),
      grain: z.enum(['week', 'month']).default('week').describe('the period it reports on, compared with the one before'),
      title: z.string().min(1).optional().describe('its subject and heading'),
      kpis: z.array(z.string().min(1)).min(1).optional().describe('KPIs shown (the North Star is always first); config KPIs and built-ins with data when left out'),
      periods: z.number().int().min(2).max(104).default(12).describe('periods in each sparkline'),
    })
    .optional()
    .describe('the original single digest: KPIs with sparklines, goals, OKRs and firing alerts; read as one report named `digest` (new configs list theirs under `reports`)'),
  reports: z.array(reportConfigSchema).default([]).describe('scheduled reports, each for its own audience: its KPIs, grain, schedule and channels'),
});

export type KpiConfig = z.infer<typeof kpiConfigSchema>;
export type ReportConfig = z.infer<typeof reportConfigSchema>;
export type GoalConfig = z.infer<typeof goalConfigSchema>;
export type OkrConfig = z.infer<typeof okrConfigSchema>;
export type RawConfig = z.infer<typeof configSchema>;
