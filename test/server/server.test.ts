import { spawn, type ChildProcess } from 'node:child_process';
import { createServer as createNetServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPipelineHandlers, type MetricsEngine } from '../../src/app.ts';
import { parseConfig } from '../../src/config/index.ts';
import { openQueues, defaultTuning, enqueueBackfill, type PipelineQueues } from '../../src/jobs/index.ts';
import { createPipelineMetrics, createServer, evictionPolicy } from '../../src/server/index.ts';
import { openWarehouse, type Warehouse } from '../../src/warehouse/index.ts';
import { testWarehouse, testDatabaseUrlWithSchema } from '../helpers/warehouse.ts';
import { scriptedConnector } from '../jobs/fixtures/scripted.ts';
import { configYaml, defaultStart, memoryLog, today, waitFor } from '../jobs/helpers.ts';

const { log } = memoryLog();
const noMetrics: MetricsEngine = { recompute: async () => {}, evaluateGoals: async () => {} };

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('HTTP surface', () => {
  let wh: Warehouse;
  let redis: Redis;
  let queues: PipelineQueues;

  beforeAll(async () => {
    wh = await testWarehouse('postgres');
    redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 1 });
    queues = openQueues(redis, `${inject('redisPrefix')}-server`, defaultTuning);
  });
  afterAll(async () => {
    await queues.close();
    redis.disconnect();
    await wh.close();
  });

  it('/healthz answers while the process lives', async () => {
    const app = await createServer({ db: wh.db, metrics: createPipelineMetrics({ db: wh.db }) });
    const res = await app.inject({ url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
    await app.close();
  });

  it('/readyz is 200 with a reachable database, no pending migrations and Redis with noeviction', async () => {
    const app = await createServer({ db: wh.db, redis, metrics: createPipelineMetrics({ db: wh.db }) });
    const res = await app.inject({ url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ready', ready: true, checks: { database: { ok: true }, migrations: { ok: true }, redis: { ok: true } }, problems: [] });
    await app.close();
  });

  it('/readyz is 503 with the reasons: pending migrations, Redis unreachable', async () => {
    const fresh = await testDatabaseUrlWithSchema();
    const unmigrated = await openWarehouse({ url: fresh.url, poolSize: 1 });
    const gone = new Redis({ port: await freePort(), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    gone.on('error', () => {});
    try {
      const app = await createServer({ db: unmigrated.db, redis: gone, metrics: createPipelineMetrics({ db: unmigrated.db }) });
      const res = await app.inject({ url: '/readyz' });
      expect(res.statusCode).toBe(503);
      const body = res.json() as { status: string; problems: string[] };
      expect(body.status).toBe('not ready');
      expect(body.problems).toHaveLength(2);
      expect(body.problems[0]).toMatch(/^pending migrations: 001-facts-and-runs, .* \(run kpi migrate\)$/);
      expect(body.problems[1]).toMatch(/^redis unreachable: /);
      await app.close();
    } finally {
      gone.disconnect();
      await unmigrated.close();
      await fresh.drop();
    }
  });

  it('/readyz is 503 when the database is down', async () => {
    const down = await openWarehouse({ url: `postgres://postgres@127.0.0.1:${await freePort()}/nowhere`, poolSize: 1 });
    const app = await createServer({ db: down.db, metrics: createPipelineMetrics({ db: down.db }) });
    const res = await app.inject({ url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json().problems).toEqual([expect.stringMatching(/^database unreachable: /)]);
    await app.close();
    await down.close();
  });

  describe('with a Redis that may evict keys', () => {
    let server: ChildProcess | undefined;
    let evicting: Redis;
    beforeAll(async () => {
      const port = await freePort();
      server = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'allkeys-lru'], { stdio: 'ignore' });
      evicting = new Redis({ port, maxRetriesPerRequest: 1 });
      evicting.on('error', () => {});
      await waitFor(async () => (await evicting.ping().catch(() => null)) === 'PONG', { what: 'a second redis-server' });
    });
    afterAll(() => {
      evicting?.disconnect();
      server?.kill();
    });

    it('/readyz reports the eviction policy', async () => {
      const app = await createServer({ db: wh.db, redis: evicting, metrics: createPipelineMetrics({ db: wh.db }) });
      const res = await app.inject({ url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json().problems).toEqual(['maxmemory-policy is allkeys-lru; BullMQ needs noeviction or Redis may drop queued jobs']);
      await app.close();
    });
  });

  it('reads the eviction policy from INFO', () => {
    expect(evictionPolicy('# Memory\r\nused_memory:1\r\nmaxmemory_policy:noeviction\r\n')).toBe('noeviction');
    expect(evictionPolicy('# Memory\r\n')).toBeNull();
  });

  it('/metrics reports sync runs, rows, step durations, queue depth and the last successful sync', async () => {
    const config = parseConfig(configYaml({ connectors: [{ name: 'ads' }] }), 'kpi.yaml', { env: {} });
    const metrics = createPipelineMetrics({ db: wh.db, queues });
    const handlers = metrics.instrument(createPipelineHandlers({ config, db: wh.db, log, connectors: { csv: scriptedConnector() }, metrics: noMetrics }));
    const outcome = await handlers.sync({ connector: 'ads', trigger: 'manual' });
    await handlers.recompute(outcome.touched!);
    await handlers.evaluate(new Date());
    await enqueueBackfill(queues, 'ads', { from: defaultStart(), to: today() });

    const app = await createServer({ db: wh.db, metrics, queues });
    const res = await app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const text = res.body;
    expect(text).toContain('kpi_sync_runs_total{connector="ads",status="succeeded"} 1');
    expect(text).toContain('kpi_rows_ingested_total{connector="ads"} 8');
    expect(text).toContain('kpi_rows_rejected_total{connector="ads"} 0');
    expect(text).toMatch(/kpi_job_duration_seconds_count\{step="sync",outcome="ok"\} 1/);
    expect(text).toMatch(/kpi_job_duration_seconds_count\{step="recompute",outcome="ok"\} 1/);
    expect(text).toMatch(/kpi_job_duration_seconds_bucket\{le="\+Inf",step="evaluate",outcome="ok"\} 1/);
    expect(text).toContain('kpi_queue_jobs{queue="sync",state="waiting"} 1');
    expect(text).toContain('kpi_queue_jobs{queue="notify",state="failed"} 0');
    const last = Number(/kpi_last_successful_sync_timestamp_seconds\{connector="ads"\} (\S+)/.exec(text)?.[1]);
    expect(Math.abs(last - new Date(outcome.run.finished_at!).getTime() / 1000)).toBeLessThan(1);
    expect(text).toContain('process_cpu_user_seconds_total');
    await app.close();
  });

  it('serves the queue dashboard behind basic auth only when credentials are configured', async () => {
    const dashboard = { user: 'ops', password: 'correct-horse' };
    const app = await createServer({ db: wh.db, metrics: createPipelineMetrics({ db: wh.db }), queues, dashboard });
    const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
    expect((await app.inject({ url: '/admin/queues' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/admin/queues' })).headers['www-authenticate']).toContain('Basic');
    expect((await app.inject({ url: '/admin/queues', headers: basic('ops', 'wrong-password') })).statusCode).toBe(401);
    const page = await app.inject({ url: '/admin/queues', headers: basic('ops', 'correct-horse') });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    const api = await app.inject({ url: '/admin/queues/api/queues', headers: basic('ops', 'correct-horse') });
    expect((api.json() as { queues: Array<{ name: string }> }).queues.map((q) => q.name).sort()).toEqual(['evaluate', 'notify', 'recompute', 'sync']);
    // The probes stay open.
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    await app.close();

    const bare = await createServer({ db: wh.db, metrics: createPipelineMetrics({ db: wh.db }), queues });
    expect((await bare.inject({ url: '/admin/queues' })).statusCode).toBe(404);
    await bare.close();
  });
});
