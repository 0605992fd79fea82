import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startApp, type App } from '../../src/app.ts';
import { configChecks } from '../../src/config-checks.ts';
import { parseConfig } from '../../src/config/index.ts';
import { addDays, todayIn } from '../../src/core/dates.ts';
import { recompute } from '../../src/metrics/index.ts';
import { openWarehouse, type Warehouse } from '../../src/warehouse/index.ts';
import { testPostgres, type TestPostgres } from '../helpers/warehouse.ts';
import { chaosSource, expectedFacts } from './fixtures/source.ts';
import { capturedLogger, kpiValues, report, scriptedFacts, scriptedYaml, secretScanCase, secretValue, sleep, startSlackReceiver, startTcpProxy, waitFor, workDir, type SlackReceiver, type TcpProxy } from './helpers.ts';

const OUTAGE_MS = 30_000;
const CONNECTORS = ['pg-a', 'pg-b', 'pg-c', 'pg-d'];

describe('Postgres unreachable for 30 s (the full length) while syncs run', () => {
  const wd = workDir('pg');
  const prefix = `${inject('redisPrefix')}-pgout`;
  const { log, lines } = capturedLogger('info');
  const secrets = { slack: `http://127.0.0.1:9/services/T0PG/B0PG/${secretValue('hook')}` };
  let hook: SlackReceiver;
  let proxy: TcpProxy;
  let direct: TestPostgres;
  let proxied: Warehouse;
  let app: App | undefined;
  const start = addDays(todayIn('UTC'), -29);

  beforeAll(async () => {
    hook = await startSlackReceiver();
    secrets.slack = hook.url(`/services/T0PG/B0PG/${secretValue('hook')}`);
    direct = await testPostgres();
    const pgUrl = new URL(inject('databaseUrl'));
    proxy = await startTcpProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
    const via = new URL(direct.url);
    via.port = String(proxy.port);
    proxied = await openWarehouse({ url: via.toString(), poolSize: 4 });
  });

  afterAll(async () => {
    await app?.stop(2_000);
    await proxied?.close();
    await proxy?.close();
    await direct?.close();
    await hook?.close();
    wd.cleanup();
  });

  it('jobs caught by the outage retry and complete; facts and KPI values are exactly the source\'s; nothing is left running', async () => {
    const yaml = scriptedYaml({
      prefix,
      connectors: CONNECTORS.map((name) => ({ name, schedule: '*/2 * * * * *', startDate: start, lookbackDays: 5 })),
      extra: [
        'channels:',
        '  ops: { type: slack, url: "${env:PG_SLACK_URL}", minIntervalMs: 0 }',
        'alerting: { groupWait: 0, evaluationInterval: 1s }',
        'alerts:',
        '  - { name: sync-broken, condition: { kind: sync_failure, failures: 1 }, channels: [ops], repeatInterval: never }',
      ].join('\n'),
    });
    const env = { REDIS_URL: inject('redisUrl'), PG_SLACK_URL: secrets.slack };
    const config = parseConfig(yaml, wd.file('kpi.yaml', yaml), { env, checks: configChecks });
    // Shipped retry settings, except the first backoff (10 s) halved so the suite stays quick;
    // five attempts at 5, 10, 20 and 40 s still span the 30 s outage plus connect timeouts.
    app = await startApp({ config, warehouse: proxied, env, log, connectors: { csv: chaosSource({ dayDelayMs: 40 }) }, tuning: { backoffMs: 5_000 }, http: false });

    // Mid-cycle: several syncs running at the moment of the cut.
    await waitFor(async () => (await direct.db.selectFrom('sync_runs').select('id').where('status', '=', 'running').execute()).length >= 2, { timeoutMs: 60_000, what: 'two syncs running at once' });
    const runningAtCut = (await direct.db.selectFrom('sync_runs').select('id').where('status', '=', 'running').execute()).map((r) => r.id);
    const logBefore = lines.length;
    const cutAt = Date.now();
    proxy.cut();
    await sleep(OUTAGE_MS);
    proxy.restore();
    const restoredAt = Date.now();
    // Jobs caught by the outage: those that failed from the cut on (a query in flight
    // fails at once, a new connection only when its 10 s connect timeout ends).
    const failedJobs = new Map<string, string>();
    const collectFailures = () => {
      for (const line of lines.slice(logBefore)) {
        const l = JSON.parse(line) as { msg: string; jobId?: string; queue?: string; err?: string };
        if (l.msg === 'job failed' && l.jobId) failedJobs.set(`${l.queue}|${l.jobId}`, l.err ?? '');
      }
    };

    // Recovery: every connector syncs after the outage, and every job that failed in it completes.
    const queues = Object.fromEntries(['sync', 'recompute', 'evaluate', 'notify'].map((q) => [q, new Queue(q, { connection: { url: inject('redisUrl') }, prefix })]));
    try {
      await waitFor(
        async () => {
          collectFailures();
          const ok = await direct.db.selectFrom('sync_runs').select('connector').distinct().where('status', '=', 'succeeded').where('started_at', '>', new Date(restoredAt)).execute();
          if (ok.length < CONNECTORS.length || failedJobs.size === 0) return false;
          for (const key of failedJobs.keys()) {
            const [queue, id] = key.split('|') as [string, string];
            const job = await queues[queue]!.getJob(id);
            if (job && (await job.getState()) !== 'completed') return false;
          }
          return true;
        },
        { timeoutMs: 180_000, what: 'every job caught by the outage to complete', everyMs: 500 },
      );
      const recoveredAt = Date.now();
      // Let the chains started by the last syncs finish, then stop taking jobs.
      await waitFor(async () => {
        const counts = await Promise.all(['recompute', 'evaluate', 'notify'].map((q) => queues[q]!.getJobCounts('waiting', 'active', 'delayed')));
        return counts.every((c) => (c.waiting ?? 0) + (c.active ?? 0) + (c.delayed ?? 0) === 0);
      }, { timeoutMs: 120_000, what: 'the chain queues to drain', everyMs: 250 });
      await app.stop(5_000);
      app = undefined;
      collectFailures();
      const states = await Promise.all(
        [...failedJobs.keys()].map(async (key) => {
          const [queue, id] = key.split('|') as [string, string];
          const job = await queues[queue]!.getJob(id);
          return job ? await job.getState() : 'removed';
        }),
      );
      const failedForGood = await Promise.all(Object.values(queues).map((q) => q.getJobCounts('failed')));

      const runs = await direct.db.selectFrom('sync_runs').select(['id', 'job_id', 'status', 'error_kind']).execute();
      const succeededPerJob = new Map<string, number>();
      for (const r of runs) if (r.status === 'succeeded') succeededPerJob.set(r.job_id!, (succeededPerJob.get(r.job_id!) ?? 0) + 1);
      const facts = await scriptedFacts(direct.db);
      const expected = CONNECTORS.flatMap((c) => expectedFacts(c, { from: start, to: todayIn('UTC') })).sort();
      const pipelineKpis = await kpiValues(direct.db);
      await recompute(direct.db, config);
      const truth = await kpiValues(direct.db);
      const sent = await direct.db.selectFrom('alert_outbox').select(['id', 'status']).execute();

      report(
        `cut every connection to Postgres and left new ones unanswered for ${OUTAGE_MS / 1000} s while ${runningAtCut.length} of ${CONNECTORS.length} syncs were mid-run (4 connectors every 2 s, 30 days each)`,
        `${failedJobs.size} jobs failed during the outage (e.g. "${[...failedJobs.values()][0]?.slice(0, 80)}") and ${states.filter((s) => s === 'completed').length}/${states.length} later completed; every connector synced again ${((recoveredAt - restoredAt) / 1000).toFixed(1)} s after Postgres came back; ${proxy.refused} connections dropped or unanswered; facts ${facts.length}/${expected.length} exact; KPI values ${pipelineKpis.length} = full recompute ${truth.length}; ${runs.filter((r) => r.status === 'running').length} runs left running (${runs.filter((r) => r.status === 'abandoned').length} abandoned); ${hook.posts.length} failure-alert messages for ${sent.length} outbox rows`,
      );
      expect(Date.now() - cutAt).toBeGreaterThan(OUTAGE_MS);
      expect(failedJobs.size).toBeGreaterThan(0);
      expect(states.filter((s) => s !== 'completed')).toEqual([]);
      expect(failedForGood.map((c) => c.failed ?? 0)).toEqual([0, 0, 0, 0]);
      expect(runs.filter((r) => r.status === 'running')).toEqual([]);
      expect([...succeededPerJob.values()].filter((n) => n > 1)).toEqual([]);
      expect(facts).toEqual(expected);
      expect(pipelineKpis).toEqual(truth);
      expect(sent.filter((r) => r.status !== 'sent')).toEqual([]);
    } finally {
      await Promise.all(Object.values(queues).map((q) => q.close()));
    }
  }, 420_000);

  it('leaves no configured secret in the logs, the database, Redis or the messages sent', async () => {
    const findings = await secretScanCase('the Postgres outage run', {
      secrets,
      texts: { 'service log': lines.join(''), 'Slack payloads': hook.posts.join('\n') },
      databases: [direct.url],
      redis: [{ url: inject('redisUrl'), prefix }],
    });
    expect(findings).toEqual([]);
  }, 60_000);
});
