import type { Kysely } from 'kysely';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PipelineHandlers, PipelineQueues, Step } from '../jobs/index.ts';
import type { Database } from '../warehouse/index.ts';
import { isPercentUnit } from '../core/request-meter.ts';

export interface PipelineMetrics {
  registry: Registry;
  /** The same handlers, counting runs and rows and timing every step. */
  instrument(handlers: PipelineHandlers): PipelineHandlers;
}

export interface MetricsSources {
  db: Kysely<Database>;
  /** Queue depth is reported when the queues exist (queue mode). */
  queues?: PipelineQueues | null;
}

const STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;

/**
 * Counters and the histogram count what this process did (Prometheus sums replicas);
 * queue depth and the last successful sync are read from Redis and the warehouse at scrape
 * time, because every replica sees the same value there.
 */
export function createPipelineMetrics(sources: MetricsSources): PipelineMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const runs = new Counter({ name: 'kpi_sync_runs_total', help: 'Sync runs finished by this process, by connector and status.', labelNames: ['connector', 'status'], registers: [registry] });
  const ingested = new Counter({ name: 'kpi_rows_ingested_total', help: 'Fact rows written (inserted or changed) by syncs.', labelNames: ['connector'], registers: [registry] });
  const rejected = new Counter({ name: 'kpi_rows_rejected_total', help: 'Source records quarantined by syncs.', labelNames: ['connector'], registers: [registry] });
  const requests = new Counter({ name: 'kpi_source_requests_total', help: 'Requests syncs sent to their sources (retries and token requests included).', labelNames: ['connector'], registers: [registry] });
  const quotaUsed = new Counter({ name: 'kpi_source_quota_used_total', help: 'Quota the sources reported syncs used, by unit (ga4_tokens).', labelNames: ['connector', 'unit'], registers: [registry] });
  const quotaPeak = new Gauge({ name: 'kpi_source_quota_usage_percent', help: "The highest share of a source's rolling limit its last sync saw, by unit (meta_usage_pct, rate_limit_pct).", labelNames: ['connector', 'unit'], registers: [registry] });
  const duration = new Histogram({
    name: 'kpi_job_duration_seconds',
    help: 'Duration of pipeline steps (sync, recompute, evaluate, notify).',
    labelNames: ['step', 'outcome'],
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
    registers: [registry],
  });

  new Gauge({
    name: 'kpi_queue_jobs',
    help: 'Jobs in each queue by state.',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      if (!sources.queues) return;
      await Promise.all(
        sources.queues.all.map(async (q) => {
          const counts = await q.getJobCounts(...STATES).catch(() => null);
          if (!counts) return;
          for (const state of STATES) this.set({ queue: q.name, state }, counts[state] ?? 0);
        }),
      );
    },
  });

  new Gauge({
    name: 'kpi_last_successful_sync_timestamp_seconds',
    help: 'When each connector last finished a sync successfully (Unix seconds).',
    labelNames: ['connector'],
    registers: [registry],
    async collect() {
      const rows = await sources.db
        .selectFrom('sync_runs')
        .select(['connector', (eb) => eb.fn.max('finished_at').as('last')])
        .where('status', '=', 'succeeded')
        .groupBy('connector')
        .execute()
        .catch(() => null);
      if (!rows) return;
      this.reset();
      for (const r of rows) if (r.last) this.set({ connector: r.connector }, new Date(r.last).getTime() / 1000);
    },
  });

  const timed = async <T>(step: Step, fn: () => Promise<T>, ok: (result: T) => boolean = () => true): Promise<T> => {
    const end = duration.startTimer({ step });
    try {
      const result = await fn();
      end({ outcome: ok(result) ? 'ok' : 'failed' });
      return result;
    } catch (err) {
      end({ outcome: 'failed' });
      throw err;
    }
  };

  return {
    registry,
    instrument(h) {
      return {
        sync: (job, ctx) =>
          timed(
            'sync',
            async () => {
              const outcome = await h.sync(job, ctx);
              runs.inc({ connector: job.connector, status: outcome.run.status });
              ingested.inc({ connector: job.connector }, outcome.run.rows_written);
              rejected.inc({ connector: job.connector }, outcome.run.rows_rejected);
              requests.inc({ connector: job.connector }, outcome.run.requests);
              for (const [unit, used] of Object.entries(outcome.run.quota ?? {})) {
                if (isPercentUnit(unit)) quotaPeak.set({ connector: job.connector, unit }, used);
                else quotaUsed.inc({ connector: job.connector, unit }, used);
              }
              return outcome;
            },
            (o) => o.ok,
          ),
        notConfigured: async (job, ctx) => {
          const run = await h.notConfigured(job, ctx);
          runs.inc({ connector: job.connector, status: run.status });
          return run;
        },
        recompute: (range) => timed('recompute', () => h.recompute(range)),
        evaluate: (asOf) => timed('evaluate', () => h.evaluate(asOf)),
        notify: (ids) => timed('notify', () => h.notify(ids), (o) => !o || o.failures.length === 0),
      };
    },
  };
}
