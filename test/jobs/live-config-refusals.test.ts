import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startApp, type AlertsEngine, type App, type MetricsEngine } from '../../src/app.ts';
import { configChecks } from '../../src/config-checks.ts';
import { loadConfig } from '../../src/config/index.ts';
import type { Warehouse } from '../../src/warehouse/index.ts';
import { testWarehouse } from '../helpers/warehouse.ts';
import { scriptedConnector } from './fixtures/scripted.ts';
import { configYaml, memoryLog, tempDir } from './helpers.ts';

const noMetrics: MetricsEngine = { recompute: async () => {}, recordGoals: async () => {} };
const noAlerts: AlertsEngine = { evaluateAlerts: async () => ({ outboxIds: [] }), deliver: async () => {} };
const YEARLY = '0 0 1 1 *';

/**
 * A reload that reads a file an editor, `cp` or a ConfigMap update has only half written (empty,
 * or cut off before `connectors:`) must not be taken as "no connectors": applying it would
 * remove every job scheduler from Redis, and syncing would stop with nothing said.
 */
describe('live configuration: a file read while being written is refused, not applied as no connectors', () => {
  const tmp = tempDir('kpi-live-refusals-');
  const file = path.join(tmp.dir, 'kpi.yaml');
  const prefix = `${inject('redisPrefix')}-refusals`;
  const { log } = memoryLog();
  let wh: Warehouse;
  let app: App;
  let syncQueue: Queue;
  const load = () => loadConfig(file, { env: {}, checks: configChecks });
  const schedulers = async () => (await syncQueue.getJobSchedulers()).map((s) => s.key).sort();
  const full = configYaml({ connectors: [{ name: 'alpha', schedule: YEARLY }, { name: 'beta', schedule: YEARLY }], redisPrefix: prefix });

  beforeAll(async () => {
    wh = await testWarehouse('pglite');
    writeFileSync(file, full);
    syncQueue = new Queue('sync', { connection: { url: inject('redisUrl') }, prefix });
    app = await startApp({ config: load(), warehouse: wh, env: { REDIS_URL: inject('redisUrl') }, log, connectors: { csv: scriptedConnector() }, metrics: noMetrics, alerts: noAlerts, background: false, http: false, reloadConfig: load });
  }, 60_000);

  afterAll(async () => {
    await app?.stop(2_000);
    await syncQueue?.obliterate({ force: true }).catch(() => {});
    await syncQueue?.close();
    await wh?.close();
    tmp.cleanup();
  });

  it('an empty file, one of comments only, and one cut off before connectors: are refused; the job schedulers stay', async () => {
    expect(app.mode).toBe('queue');
    expect(await schedulers()).toEqual(['alpha', 'beta']);
    const cutOff = full.slice(0, full.indexOf('connectors:'));
    for (const text of ['', '\n', '# kpi.yaml\n', cutOff]) {
      writeFileSync(file, text);
      const r = await app.live.reload({ reason: 'SIGHUP' });
      expect(r.outcome, JSON.stringify(text)).toBe('refused');
      expect(app.live.refused()?.problems.join('\n')).toMatch(/connectors/);
      expect(app.live.current().connectors.map((c) => c.name)).toEqual(['alpha', 'beta']);
      expect(await schedulers()).toEqual(['alpha', 'beta']);
    }
  });

  it('connectors: [] said outright removes them all', async () => {
    writeFileSync(file, configYaml({ connectors: [], redisPrefix: prefix }));
    const r = await app.live.reload({ reason: 'SIGHUP' });
    expect(r.outcome).toBe('applied');
    expect(app.live.refused()).toBeNull();
    expect(await schedulers()).toEqual([]);
  });
});
