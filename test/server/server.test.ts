import { spawn, type ChildProcess } from 'node:child_process';
import { createServer as createNetServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPipelineHandlers, startApp, type MetricsEngine } from '../../src/app.ts';
import { parseConfig } from '../../src/config/index.ts';
import { openQueues, defaultTuning, enqueueBackfill, type PipelineQueues } from '../../src/jobs/index.ts';
import { createPipelineMetrics, createServer, evictionPolicy } from '../../src/server/index.ts';
import { openWarehouse, type Warehouse } from '../../src/warehouse/index.ts';
import { connects, outsideAddress } from '../helpers/net.ts';
import { testWarehouse, testDatabaseUrlWithSchema } from '../helpers/warehouse.ts';
import { scriptedConnector } from '../jobs/fixtures/scripted.ts';
import { configYaml, defaultStart, memoryLog, today, waitFor } from '../jobs/helpers.ts';

const { log } = memoryLog();
const noMetrics: MetricsEngine = { recompute: async () => {}, recordGoals: async () => {} };

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
      expect(body.problems[1]).toBe('redis unreachable');
      await app.close();
    } finally {
      gone.disconnect();
      await unmigrated.close();
      await fresh.drop();
    }
  });

  it('/readyz is 503 when the database is down, with a fixed reason: the host, port, user, database and password are only in the log, once', async () => {
    const port = await freePort();
    const down = await openWarehouse({ url: `postgres://kpi_reader:pw-s3cret-4471@127.0.0.1:${port}/warehouse_prod`, poolSize: 1 });
    const logged = memoryLog();
    const app = await createServer({ db: down.db, metrics: createPipelineMetrics({ db: down.db }), log: logged.log });
    try {
      const res = await app.inject({ url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.body).toBe(JSON.stringify({ status: 'not ready', ready: false, checks: { database: { ok: false, detail: 'database unreachable' } }, problems: ['database unreachable'] }));
      for (const leak of ['kpi_reader', 'pw-s3cret', '127.0.0.1', String(port), 'warehouse_prod', 'ECONNREFUSED']) expect(res.body).not.toContain(leak);

      const again = await app.inject({ url: '/readyz' });
      expect(again.body).toBe(res.body);
      const lines = logged.lines.map((l) => JSON.parse(l) as { level: number; msg: string; check: string; reason: string; err: string });
      expect(lines.map(({ level, msg, check, reason }) => ({ level, msg, check, reason }))).toEqual([{ level: 40, msg: 'readiness check failed', check: 'database', reason: 'database unreachable' }]);
      expect(lines[0]!.err).toContain(`ECONNREFUSED 127.0.0.1:${port}`);
      expect(logged.lines.join('')).not.toContain('pw-s3cret');
    } finally {
      await app.close();
      await down.close();
    }
  });

  it('/metrics asks for the dashboard credentials when protectMetrics is set, with the dashboard (queue mode) or without it (embedded)', async () => {
    const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
    const withDashboard = await createServer({ db: wh.db, metrics: createPipelineMetrics({ db: wh.db }), queues, dashboard: { user: 'ops', password: 'correct-horse', protectMetrics: true } });
    try {
      expect((await withDashboard.inject({ url: '/metrics' })).statusCode).toBe(401);
      expect((await withDashboard.inject({ url: '/metrics', headers: basic('ops', 'correct-horse') })).statusCode).toBe(200);
      expect((await withDashboard.inject({ url: '/admin/queues' })).statusCode).toBe(401);
      expect((await withDashboard.inject({ url: '/admin/queues', headers: basic('ops', 'correct-horse') })).statusCode).toBe(200);
    } finally {
      await withDashboard.close();
    }
    const guarded = await createServer({ db: wh.db, metrics: createPipelineMetrics({ db: wh.db }), dashboard: { user: 'ops', password: 'correct-horse', protectMetrics: true } });
    try {
      const bare = await guarded.inject({ url: '/metrics' });
      expect(bare.statusCode).toBe(401);
      expect(bare.headers['www-authenticate']).toBe('Basic realm="kpi-pipeline", charset="UTF-8"');
      expect(bare.body).not.toContain('kpi_sync_runs_total');
      expect((await guarded.inject({ url: '/metrics', headers: basic('ops', 'wrong-password') })).statusCode).toBe(401);
      const scraped = await guarded.inject({ url: '/metrics', headers: basic('ops', 'correct-horse') });
      expect(scraped.statusCode).toBe(200);
      expect(scraped.body).toContain('# TYPE kpi_sync_runs_total counter');
      // The probes stay open for the orchestrator.
      expect((await guarded.inject({ url: '/healthz' })).statusCode).toBe(200);
      expect((await guarded.inject({ url: '/readyz' })).statusCode).toBe(200);
    } finally {
      await guarded.close();
    }
    const open = await createServer({ db: wh.db, metrics: createPipelineMetrics({ db: wh.db }), dashboard: { user: 'ops', password: 'correct-horse' } });
    expect((await open.inject({ url: '/metrics' })).statusCode).toBe(200);
    await open.close();
  });

  it('server.dashboard.protectMetrics in the config guards /metrics of a started app', async () => {
    const yaml = configYaml({ connectors: [] }).replace(/^server:\n  port: 0$/m, 'server: { port: 0, dashboard: { user: ops, password: correct-horse, protectMetrics: true } }');
    const app = await startApp({ config: parseConfig(yaml, 'kpi.yaml', { env: {} }), warehouse: wh, env: {}, log, http: { port: 0 }, background: false, metrics: noMetrics });
    try {
      const url = `http://127.0.0.1:${app.port}/metrics`;
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(url, { headers: { authorization: `Basic ${Buffer.from('ops:correct-horse').toString('base64')}` } })).status).toBe(200);
    } finally {
      await app.stop(0);
    }
  });

  const outside = outsideAddress();

  it(`listens on 127.0.0.1 unless server.host says otherwise${outside ? ` (checked from ${outside})` : ''}`, async () => {
    for (const [extra, address, reachableFromOutside] of [
      ['', '127.0.0.1', false],
      ['server: { port: 0, host: 0.0.0.0 }', '0.0.0.0', true],
    ] as const) {
      const yaml = configYaml({ connectors: [] }).replace(/^server:\n  port: 0$/m, '') + `\n${extra}\n`;
      const config = parseConfig(yaml, 'kpi.yaml', { env: {} });
      const app = await startApp({ config, warehouse: wh, env: {}, log, http: { port: 0 }, background: false, metrics: noMetrics });
      try {
        expect(app.server!.server.address()).toMatchObject({ address, family: 'IPv4' });
        expect(await connects('127.0.0.1', app.port!)).toBe(true);
        if (outside) expect(await connects(outside, app.port!)).toBe(reachableFromOutside);
      } finally {
        await app.stop(0);
      }
    }
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
