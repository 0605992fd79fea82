import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type AlertsEngine, type App, type MetricsEngine } from '../../src/app.ts';
import { configChecks } from '../../src/config-checks.ts';
import { loadConfig } from '../../src/config/index.ts';
import type { SyncRun, Warehouse } from '../../src/warehouse/index.ts';
import { runCli } from '../helpers/cli.ts';
import { freePort } from '../reliability/helpers.ts';
import { testWarehouse } from '../helpers/warehouse.ts';
import { expectedFacts, scriptedConnector } from './fixtures/scripted.ts';
import { configYaml, defaultStart, factsOf, memoryLog, tempDir, today, waitFor, type TestConnector } from './helpers.ts';

const EVERY_SECOND = '* * * * * *';

const noMetrics: MetricsEngine = { recompute: async () => {}, recordGoals: async () => {} };
const noAlerts: AlertsEngine = { evaluateAlerts: async () => ({ outboxIds: [] }), deliver: async () => {} };

function yaml(connectors: TestConnector[], options: { maxAgeHours: number; channels: string[] }): string {
  const channels = options.channels.map((c) => `  ${c}: { type: slack, url: "https://hooks.slack.com/services/T0/B0/${c}" }`).join('\n');
  const alerts = `alerts:\n  - name: stale\n    condition: { kind: freshness, maxAgeHours: ${options.maxAgeHours} }\n    channels: [ops]`;
  return configYaml({ connectors, extra: `channels:\n${channels}\n${alerts}` });
}

/**
 * Embedded mode (no Redis): the same reloads move the connectors' timers; `kpi validate
 * --against-running` diffs a file with what the process runs; /readyz and /config say when a
 * reload was refused.
 */
describe('live configuration in embedded mode, and kpi validate --against-running', () => {
  const tmp = tempDir('kpi-live-embedded-');
  const file = path.join(tmp.dir, 'kpi.yaml');
  const window = { from: defaultStart(), to: today() };
  const { log, lines } = memoryLog();
  let wh: Warehouse;
  let app: App;
  let base: string;

  const v1 = yaml([{ name: 'alpha', schedule: EVERY_SECOND }, { name: 'beta', schedule: EVERY_SECOND }], { maxAgeHours: 24, channels: ['ops'] });
  // beta removed, gamma added, the rule changed, a channel added; alpha as it was.
  const v2 = yaml([{ name: 'alpha', schedule: EVERY_SECOND }, { name: 'gamma', schedule: EVERY_SECOND }], { maxAgeHours: 48, channels: ['ops', 'team'] });
  const load = () => loadConfig(file, { env: {}, checks: configChecks });
  const runs = (connector: string): Promise<SyncRun[]> => wh.db.selectFrom('sync_runs').selectAll().where('connector', '=', connector).orderBy('id').execute();
  const validate = () => runCli(['validate', '--config', file, '--against-running', base], { cwd: tmp.dir });

  beforeAll(async () => {
    wh = await testWarehouse('pglite');
    writeFileSync(file, v1);
    app = await startApp({ config: load(), warehouse: wh, env: {}, log, connectors: { csv: scriptedConnector() }, metrics: noMetrics, alerts: noAlerts, background: false, http: { port: 0 }, reloadConfig: load });
    base = `http://127.0.0.1:${app.port}`;
  }, 60_000);

  afterAll(async () => {
    await app?.stop(2_000);
    await wh?.close();
    tmp.cleanup();
  });

  it('kpi validate --against-running lists what a file adds, removes and changes', async () => {
    expect(app.mode).toBe('embedded');
    const same = await validate();
    expect(same.code).toBe(0);
    expect(same.stdout).toContain(`same as the configuration running at ${base} (version ${app.live.summary().version}, loaded `);

    writeFileSync(file, v2);
    const diff = await validate();
    expect(diff.code).toBe(0);
    const shown = diff.stdout.trim().split('\n');
    expect(shown[0]).toBe('kpi.yaml: valid (2 connectors, 0 custom KPIs, 0 goals, 0 OKRs, 1 alert rule, 2 channels)');
    expect(shown[1]).toMatch(new RegExp(`^against the configuration running at ${base.replace(/\./g, '\\.')} \\(version ${app.live.summary().version}, loaded [^)]+\\), this file \\(version [0-9a-f]{12}\\) changes:$`));
    expect(shown.slice(2)).toEqual(['  connectors: + gamma; - beta', '  alert rules: ~ stale', '  channels: + team', '  (+ added, - removed, ~ changed; send SIGHUP to every kpi start process to reload)']);
  });

  it('kpi validate --against-running says so when nothing runs there', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const r = await runCli(['validate', '--config', file, '--against-running', closed], { cwd: tmp.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^cannot reach the running process at ${closed.replace(/\./g, '\\.')}: `));
  });

  it('a reload starts, stops and keeps the timers to match the new file; a removed connector no longer syncs', async () => {
    writeFileSync(file, v1);
    await app.live.reload({ reason: 'test' });
    await waitFor(async () => (await runs('alpha')).some((r) => r.status === 'succeeded') && (await runs('beta')).some((r) => r.status === 'succeeded'), { timeoutMs: 20_000, what: 'alpha and beta to sync' });
    const alphaTimer = app.embedded!.tasks.get('alpha');

    writeFileSync(file, v2);
    const result = await app.live.reload({ reason: 'test' });
    expect(result).toMatchObject({ outcome: 'applied', diff: { connectors: { added: ['gamma'], removed: ['beta'], changed: [] }, alerts: { changed: ['stale'] }, channels: { added: ['team'] } } });
    expect([...app.embedded!.tasks.keys()].sort()).toEqual(['alpha', 'gamma']);
    // alpha's timer is the same one: none of its ticks lost or doubled by the reload.
    expect(app.embedded!.tasks.get('alpha')).toBe(alphaTimer);

    const betaDone = await waitFor(async () => {
      const rs = await runs('beta');
      return rs.every((r) => r.status !== 'running') ? rs.length : null;
    });
    await waitFor(async () => (await runs('gamma')).some((r) => r.status === 'succeeded'), { timeoutMs: 20_000, what: 'gamma to sync' });
    expect(await factsOf(wh.db, 'gamma')).toEqual(expectedFacts('gamma', window));
    const alphaBefore = (await runs('alpha')).length;
    await waitFor(async () => (await runs('alpha')).length >= alphaBefore + 2, { timeoutMs: 20_000, what: 'alpha to sync twice more' });
    expect((await runs('beta')).length).toBe(betaDone);

    const same = await validate();
    expect(same.stdout).toContain(`same as the configuration running at ${base} (version ${result.version}, `);
  }, 60_000);

  it('an invalid file is refused: the located error is logged, the previous configuration keeps running, /readyz and /config say so', async () => {
    const version = app.live.summary().version;
    writeFileSync(file, v2.replace('name: gamma', 'name: gamma\n    colour: blue'));
    const logFrom = lines.length;
    const result = await app.live.reload({ reason: 'test' });
    expect(result.outcome).toBe('refused');
    const problems = result.outcome === 'refused' ? result.problems : [];
    expect(problems).toEqual([expect.stringMatching(/kpi\.yaml:\d+:\d+ connectors\[1\]\.colour: unknown key "colour"$/)]);
    const logged = lines.slice(logFrom).map((l) => JSON.parse(l) as { level: number; msg: string; problems?: string[] });
    expect(logged.filter((l) => l.level >= 50)).toEqual([expect.objectContaining({ msg: 'configuration reload refused (1 problem in the file); the running configuration stays in force', problems })]);
    expect(app.live.summary().version).toBe(version);
    expect([...app.embedded!.tasks.keys()].sort()).toEqual(['alpha', 'gamma']);
    const gammaBefore = (await runs('gamma')).length;
    await waitFor(async () => (await runs('gamma')).length >= gammaBefore + 1, { timeoutMs: 20_000, what: 'gamma to keep syncing' });

    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { config: { version: string; reloadRefused: { problems: string[] } } };
    expect(body.config).toMatchObject({ version, reloadRefused: { problems } });
    const running = (await (await fetch(`${base}/config`)).json()) as { version: string; sections: { connectors: Record<string, string> }; refused: { problems: string[] } };
    expect(running.version).toBe(version);
    expect(Object.keys(running.sections.connectors).sort()).toEqual(['alpha', 'gamma']);
    expect(running.refused.problems).toEqual(problems);

    // Fixed: the refusal is over, in the process and on the probe.
    writeFileSync(file, v2);
    expect(await app.live.reload({ reason: 'test' })).toEqual({ outcome: 'unchanged', version });
    expect(((await (await fetch(`${base}/readyz`)).json()) as { config: object }).config).toEqual({ version, loadedAt: expect.any(String) });
  }, 60_000);
});
