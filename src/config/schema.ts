import { z } from 'zod';
import { cronExpression, isoDate, slug, timeZone } from '../connectors/shared/config.ts';
import { alertRuleSchema, alertingSchema, channelsSchema, duration } from './alerts.ts';
import { connectorConfigSchemas, type ConnectorType } from '../connectors/schemas.ts';

const currencyCode = z.string().regex(/^[A-Z]{3}$/, 'expected a 3-letter ISO currency code, e.g. EUR');

const filterSchema = z.partialRecord(z.enum(['connector', 'channel', 'campaign', 'account']), z.union([z.string(), z.array(z.string()).min(1)]));

export const kpiConfigSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9_]*$/, 'KPI names are lower_snake_case'),
  label: z.string().optional(),
  formula: z.string().min(1),
  unit: z.enum(['percent', 'currency', 'count', 'ratio']).default('ratio'),
  direction: z.enum(['higher', 'lower']).default('higher'),
  description: z.string().optional(),
  filter: filterSchema.optional(),
});

export const goalConfigSchema = z.strictObject({
  name: slug,
  kpi: z.string().min(1),
  filter: filterSchema.optional(),
  grain: z.enum(['day', 'week', 'month', 'quarter']).default('month'),
  target: z.number(),
  criterion: z.enum(['reach', 'stay_above', 'stay_below']).default('reach'),
  baseline: z.number().optional(),
  start: isoDate,
  deadline: isoDate,
  description: z.string().optional(),
});

export const okrConfigSchema = z.strictObject({
  name: slug,
  objective: z.string().min(1),
  keyResults: z.array(z.strictObject({ goal: z.string().min(1), weight: z.number().positive().default(1) })).min(1),
});

const DAY_MS = 86_400_000;

export const configSchema = z.strictObject({
  reporting: z
    .strictObject({
      currency: currencyCode.default('USD'),
      timezone: timeZone.default('UTC'),
      weekStart: z.enum(['monday', 'sunday']).default('monday'),
      /** Units of the reporting currency per unit of each other currency. */
      fxRates: z.record(currencyCode, z.number().positive()).default({}),
    })
    .default({ currency: 'USD', timezone: 'UTC', weekStart: 'monday', fxRates: {} }),
  warehouse: z.strictObject({ url: z.string().optional() }).default({}),
  redis: z.strictObject({ url: z.string().optional(), prefix: z.string().default('kpi') }).default({ prefix: 'kpi' }),
  server: z
    .strictObject({
      port: z.number().int().min(0).max(65535).default(9464),
      dashboard: z.strictObject({ user: z.string().min(1), password: z.string().min(8) }).optional(),
    })
    .default({ port: 9464 }),
  /** Where the embedded database, digests and the local message catcher write. */
  dataDir: z.string().default('./data'),
  connectors: z.array(z.unknown()).default([]),
  kpis: z.array(kpiConfigSchema).default([]),
  northStar: z.string().optional(),
  goals: z.array(goalConfigSchema).default([]),
  okrs: z.array(okrConfigSchema).default([]),
  channels: channelsSchema.default({}),
  alerts: z.array(alertRuleSchema).default([]),
  alerting: alertingSchema.default(alertingSchema.parse({})),
  /**
   * Job settings; what is left out keeps its default. Embedded mode (no Redis) uses attempts
   * and backoff for the recompute → evaluate → notify chain after a sync (a failed sync waits
   * for its next tick) and sourceLimits; syncConcurrency is per queue worker.
   */
  jobs: z
    .strictObject({
      /** Sync jobs one worker process runs at once, across connectors. */
      syncConcurrency: z.number().int().min(1).max(64).default(4),
      /** Tries of a job that fails with a transient error, the first included. */
      attempts: z.number().int().min(1).max(20).default(5),
      /** First retry delay; it doubles with each attempt, with jitter. */
      backoff: duration.default(10_000),
      /** Most syncs of one connector type at once across all workers, e.g. { google_ads: 2 }: a source's own concurrency limit. */
      sourceLimits: z.partialRecord(z.enum(Object.keys(connectorConfigSchemas) as [ConnectorType, ...ConnectorType[]]), z.number().int().min(1)).default({}),
    })
    .default({ syncConcurrency: 4, attempts: 5, backoff: 10_000, sourceLimits: {} }),
  /** How long history is kept; the scheduler prunes on `schedule` (UTC), `kpi prune` on demand. */
  retention: z
    .strictObject({
      syncRuns: duration.default(180 * DAY_MS),
      quarantine: duration.default(90 * DAY_MS),
      alertHistory: duration.default(90 * DAY_MS),
      schedule: cronExpression.default('17 3 * * *'),
    })
    .default({ syncRuns: 180 * DAY_MS, quarantine: 90 * DAY_MS, alertHistory: 90 * DAY_MS, schedule: '17 3 * * *' }),
  digest: z
    .strictObject({
      schedule: cronExpression,
      timezone: timeZone.default('UTC'),
      channels: z.array(z.string()).min(1),
      grain: z.enum(['week', 'month']).default('week'),
      title: z.string().min(1).optional(),
      /** KPIs shown (the North Star is always first); config KPIs and built-ins with data when left out. */
      kpis: z.array(z.string().min(1)).min(1).optional(),
      /** Periods in each sparkline. */
      periods: z.number().int().min(2).max(104).default(12),
    })
    .optional(),
});

export type KpiConfig = z.infer<typeof kpiConfigSchema>;
export type GoalConfig = z.infer<typeof goalConfigSchema>;
export type OkrConfig = z.infer<typeof okrConfigSchema>;
export type RawConfig = z.infer<typeof configSchema>;
