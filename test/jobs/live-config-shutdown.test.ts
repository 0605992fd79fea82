import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { startApp, type AlertsEngine, type App, type MetricsEngine } from '../../src/app.ts';
import { configChecks } from '../../src/config-checks.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/core/log.ts';
import type { Warehouse } from '../../src/warehouse/index.ts';
import { testWarehouse } from '../helpers/warehouse.ts';
import { scriptedConnector } from './fixtures/scripted.ts';
import { configYaml, tempDir } from './helpers.ts';

const noMetrics: MetricsEngine = { recompute: async () => {}, recordGoals: async () => {} };
const noAlerts: AlertsEngine = { evaluateAlerts: async () => ({ outboxIds: [] }), deliver: async () => {} };

function yaml(reportSchedule: string): string {
  const extra = `channels:\n  ops: { type: slack, url: "https://hooks.slack.com/services/T0/B0/ops" }\nreports:\n  - { name: weekly, schedule: "${reportSchedule}", channels: [ops] }`;
  return configYaml({ connectors: [{ name: 'alpha' }], extra });
}

/**
 * SIGTERM while a reload is being applied (a SIGHUP and a `docker stop` a moment apart): what the
 * reload starts must not outlive the stop, or the process keeps sending reports and evaluating
 * alerts against a closed database, and never exits by itself.
 */
describe('live configuration: a reload being applied when the process stops', () => {
  const tmp = tempDir('kpi-live-shutdown-');
  const file = path.join(tmp.dir, 'kpi.yaml');
  let wh: Warehouse | undefined;
  afterAll(async () => {
    await wh?.close();
    tmp.cleanup();
  });

  it('leaves no report timer or alert loop running after stop()', async () => {
    wh = await testWarehouse('pglite');
    writeFileSync(file, yaml('0 8 * * 1'));
    const load = () => loadConfig(file, { env: {}, checks: configChecks });
    let app: App | undefined;
    let stopped: Promise<void> | undefined;
    // The stop comes in the middle of applying: right as the connectors' timers have followed the file.
    const destination = new Writable({
      write(chunk, _enc, cb) {
        if (String(chunk).includes('connector timers follow the new configuration')) stopped ??= app!.stop(2_000);
        cb();
      },
    });
    const log = createLogger({ level: 'info', destination });
    app = await startApp({ config: load(), warehouse: wh, env: {}, log, connectors: { csv: scriptedConnector() }, metrics: noMetrics, alerts: noAlerts, http: false, reloadConfig: load });
    expect(app.reportTasks?.get('weekly')?.next()).not.toBeNull();

    writeFileSync(file, yaml('0 9 * * 2'));
    const reload = await app.live.reload({ reason: 'SIGHUP' });
    expect(reload.outcome).toBe('applied');
    expect(stopped).toBeDefined();
    await stopped;
    // Whatever the reload started was stopped with the rest.
    const left = [...(app.reportTasks?.entries() ?? [])].filter(([, task]) => task.next() !== null).map(([name]) => name);
    expect(left).toEqual([]);
  });
});
