import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { configSummary, diffSummaries, formatDiff, loadConfig, type Config } from '../src/config/index.ts';
import { createLiveConfig, listenForReloads, type LiveConfig, type ReloadListener } from '../src/live-config.ts';
import { configYaml, memoryLog, tempDir, waitFor } from './jobs/helpers.ts';

const connectors = (names: string[]) => names.map((name) => ({ name }));

describe('the running configuration: reloads by signal and file watch', () => {
  const tmp = tempDir('kpi-live-');
  let listener: ReloadListener | undefined;
  afterEach(() => {
    listener?.stop();
    listener = undefined;
  });

  function setup(): { file: string; live: LiveConfig; lines: string[]; applied: string[][] } {
    const file = path.join(tmp.dir, `kpi-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, configYaml({ connectors: connectors(['alpha']) }));
    const { log, lines } = memoryLog();
    const load = () => loadConfig(file, { env: {} });
    const live = createLiveConfig({ initial: load(), load, log });
    const applied: string[][] = [];
    live.onApply(async (next) => void applied.push(next.connectors.map((c) => c.name)));
    return { file, live, lines, applied };
  }

  it('SIGHUP reloads; one received before the process is up is taken once it is', async () => {
    const { file, live, applied } = setup();
    const { log } = memoryLog();
    listener = listenForReloads({ file, log });
    writeFileSync(file, configYaml({ connectors: connectors(['alpha', 'beta']) }));
    // Before attach: the process must not die of it (SIGHUP's default), and nothing is lost.
    process.kill(process.pid, 'SIGHUP');
    await waitFor(() => true);
    expect(applied).toEqual([]);
    listener.attach(live);
    await waitFor(() => applied.length === 1, { what: 'the pending reload' });
    expect(live.current().connectors.map((c) => c.name)).toEqual(['alpha', 'beta']);

    writeFileSync(file, configYaml({ connectors: connectors(['beta']) }));
    process.kill(process.pid, 'SIGHUP');
    await waitFor(() => applied.length === 2, { what: 'the reload on SIGHUP' });
    expect(applied).toEqual([['alpha', 'beta'], ['beta']]);
  });

  it('--watch-config: a changed file is reloaded without a signal', async () => {
    const { file, live, applied } = setup();
    const { log } = memoryLog();
    listener = listenForReloads({ file, log, watch: true, intervalMs: 50 });
    listener.attach(live);
    writeFileSync(file, configYaml({ connectors: connectors(['alpha', 'gamma']) }));
    await waitFor(() => applied.length === 1, { what: 'the watched file to be reloaded' });
    expect(live.current().connectors.map((c) => c.name)).toEqual(['alpha', 'gamma']);
  });

  it('--watch-config: an edit of a type: source definition file alone is reloaded, and its connector asks what the new definition says', async () => {
    const definition = path.join(tmp.dir, `orders-${Math.random().toString(36).slice(2)}.yaml`);
    const shopify = readFileSync(path.join(import.meta.dirname, '../config/sources/shopify-orders.yaml'), 'utf8');
    writeFileSync(definition, shopify);
    const file = path.join(tmp.dir, `kpi-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, `connectors:\n  - name: shop\n    type: source\n    definition: ${path.basename(definition)}\n    settings: { shop: example, accessToken: "\${env:SHOP_TOKEN}" }\n`);
    const { log } = memoryLog();
    const load = () => loadConfig(file, { env: { SHOP_TOKEN: 'shop-token-123456' } });
    const live = createLiveConfig({ initial: load(), load, log });
    const limits: string[] = [];
    const limitOf = (c: Config) => String((c.connectors[0] as { source?: { request: { query: Record<string, string> } } }).source?.request.query.limit);
    live.onApply(async (next) => void limits.push(limitOf(next)));
    listener = listenForReloads({ file, log, watch: true, intervalMs: 50 });
    listener.attach(live);
    expect(limitOf(live.current())).toBe('250');
    // A worker's re-read of the same files is no change; one after the definition changed is.
    expect((await live.reload({ reason: 'test', ifChanged: true })).outcome).toBe('unchanged');
    writeFileSync(definition, shopify.replace('limit: "250"', 'limit: "100"'));
    await waitFor(() => limits.length === 1, { what: 'the edited definition file to be reloaded' });
    expect(limits).toEqual(['100']);
    expect(limitOf(live.current())).toBe('100');
  });

  it('a re-read of an unchanged file does nothing; reloads run one at a time and read the file when they run', async () => {
    const { file, live, applied, lines } = setup();
    expect(await live.reload({ reason: 'test', ifChanged: true })).toEqual({ outcome: 'unchanged', version: live.summary().version });
    expect(lines.filter((l) => l.includes('configuration reload'))).toEqual([]);
    writeFileSync(file, configYaml({ connectors: connectors(['one']) }));
    const first = live.reload({ reason: 'first' });
    writeFileSync(file, configYaml({ connectors: connectors(['two']) }));
    const second = live.reload({ reason: 'second' });
    // Two signals in a row end on the latest file, applied once.
    expect((await first).outcome).toBe('applied');
    expect((await second).outcome).toBe('unchanged');
    expect(applied).toEqual([['two']]);
  });

  it('settings read only at start are named in a warning when a reload changes them', async () => {
    const { file, live, lines } = setup();
    writeFileSync(file, configYaml({ connectors: connectors(['alpha']), extra: 'jobs:\n  syncConcurrency: 9' }));
    const r = await live.reload({ reason: 'test' });
    expect(r).toMatchObject({ outcome: 'applied', restartOnly: ['jobs'] });
    expect(lines.map((l) => JSON.parse(l) as { msg: string }).map((l) => l.msg)).toContain('changes to jobs take effect at the next restart; the rest of the new configuration is in force');
  });
});

describe('a configuration summary', () => {
  const tmp = tempDir('kpi-summary-');
  const load = (text: string, env: Record<string, string>): Config => loadConfig(tmp.file('kpi.yaml', text), { env });
  const withHook = configYaml({ connectors: connectors(['alpha']), extra: 'channels:\n  ops: { type: slack, url: "${env:OPS_HOOK}" }' });

  it('fingerprints hold no secret, and a rotated secret behind the same reference is no change', () => {
    const a = configSummary(load(withHook, { OPS_HOOK: 'https://hooks.slack.com/services/T0/B0/first-secret-value' }));
    const b = configSummary(load(withHook, { OPS_HOOK: 'https://hooks.slack.com/services/T0/B0/second-secret-value' }));
    expect(a.version).toBe(b.version);
    expect(JSON.stringify(a)).not.toContain('secret-value');
    expect(Object.keys(a.sections.channels)).toEqual(['ops']);
  });

  it('the diff names what was added, removed and changed, section by section', () => {
    const env = { OPS_HOOK: 'https://hooks.slack.com/services/T0/B0/some-secret-value' };
    const before = configSummary(load(withHook, env));
    const after = configSummary(
      load(configYaml({ connectors: [{ name: 'alpha', schedule: '0 5 * * *' }, { name: 'beta' }], extra: 'channels:\n  team: { type: slack, url: "${env:OPS_HOOK}" }\nretention:\n  syncRuns: 30d' }), env),
    );
    expect(formatDiff(diffSummaries(before, after))).toEqual(['connectors: + beta; ~ alpha', 'channels: + team; - ops', 'other settings: ~ retention']);
  });
});
