import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createPipelineHandlers, type MetricsEngine } from '../../src/app.ts';
import { parseConfig } from '../../src/config/index.ts';
import { runCycle, memoryGate, startEmbedded, type Embedded } from '../../src/jobs/index.ts';
import type { Warehouse } from '../../src/warehouse/index.ts';
import { testWarehouse } from '../helpers/warehouse.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { expectedFacts, scriptedConnector, type Script } from './fixtures/scripted.ts';
import { configYaml, defaultStart, factsOf, memoryLog, today, waitFor, type TestConnector } from './helpers.ts';

let wh: Warehouse;
const { log } = memoryLog();
const window = () => ({ from: defaultStart(), to: today() });

beforeAll(async () => {
  wh = await testWarehouse('postgres');
});
afterAll(async () => {
  await wh.close();
});
beforeEach(async () => {
  await sql`truncate metric_facts, checkpoints, sync_runs, quarantine`.execute(wh.db);
});

function setup(connectors: TestConnector[], script: Script = {}) {
  const config = parseConfig(configYaml({ connectors }), 'kpi.yaml', { env: {} });
  const events: string[] = [];
  const metrics: MetricsEngine = {
    recompute: async (_db, _c, range) => void events.push(`recompute ${range.from}..${range.to}`),
    recordGoals: async () => void events.push('goals'),
  };
  const handlers = createPipelineHandlers({ config, db: wh.db, log, connectors: { csv: scriptedConnector(script) }, metrics });
  return { config, handlers, events };
}

describe('embedded mode', () => {
  let embedded: Embedded | undefined;
  afterAll(async () => {
    await embedded?.stop(1_000);
  });

  it('fires schedules in-process, one sync per connector at a time, and runs the chain after each', async () => {
    let active = 0;
    let maxActive = 0;
    const { config, handlers, events } = setup([{ name: 'slow', schedule: '* * * * * *' }], {
      // Each sync outlasts the one-second schedule, so ticks land while it runs.
      dayDelayMs: 400,
      onRead: (_name, phase) => {
        active += phase === 'start' ? 1 : -1;
        maxActive = Math.max(maxActive, active);
      },
    });
    embedded = startEmbedded({ connectors: config.connectors, handlers, log });
    expect([...embedded.tasks.keys()]).toEqual(['slow']);

    const runs = () => wh.db.selectFrom('sync_runs').selectAll().orderBy('id').execute();
    await waitFor(async () => (await runs()).filter((r) => r.status === 'succeeded').length >= 2, { timeoutMs: 10_000, what: 'two scheduled syncs' });
    await embedded.stop(5_000);
    embedded = undefined;

    const all = await runs();
    expect(maxActive).toBe(1);
    expect(all.every((r) => r.trigger === 'schedule' && r.status === 'succeeded')).toBe(true);
    for (let i = 1; i < all.length; i++) expect(new Date(all[i]!.started_at).getTime()).toBeGreaterThanOrEqual(new Date(all[i - 1]!.finished_at!).getTime());
    // Syncs of 1.6 s on a 1 s schedule: the ticks that found it busy were skipped, not queued.
    const span = new Date(all.at(-1)!.finished_at!).getTime() - new Date(all[0]!.started_at).getTime();
    expect(all.length).toBeLessThanOrEqual(Math.ceil(span / 1_000));
    expect(await factsOf(wh.db)).toEqual(expectedFacts('slow', window()));
    // The first sync wrote four days; later ones changed nothing and started no chain.
    expect(events).toEqual([`recompute ${window().from}..${window().to}`, 'goals']);
  });

  it('trigger() runs what a tick runs, and a trigger while the connector syncs is skipped', async () => {
    const { config, handlers, events } = setup([{ name: 'manual' }], { dayDelayMs: 100 });
    embedded = startEmbedded({ connectors: config.connectors, handlers, log });
    const [first, second] = await Promise.all([embedded.trigger('manual'), embedded.trigger('manual')]);
    expect(first?.ok).toBe(true);
    expect(second).toBeNull();
    await embedded.idle();
    expect(events).toEqual([`recompute ${window().from}..${window().to}`, 'goals']);
    await embedded.stop();
    embedded = undefined;
  });

  it('stop() aborts a sync that outlasts the timeout', async () => {
    const { config, handlers } = setup([{ name: 'stuck' }], { dayDelayMs: 2_000 });
    embedded = startEmbedded({ connectors: config.connectors, handlers, log });
    const run = embedded.trigger('stuck');
    await waitFor(async () => (await wh.db.selectFrom('sync_runs').selectAll().execute()).length === 1, { what: 'the sync to start' });
    const t0 = Date.now();
    await embedded.stop(200);
    embedded = undefined;
    expect(Date.now() - t0).toBeLessThan(4_000);
    expect((await run)?.run).toMatchObject({ status: 'failed', error_kind: 'transient', error: 'shutting down' });
  });
});

describe('runCycle (kpi run --once)', () => {
  it('syncs every enabled connector, then recomputes the merged touched ranges once and evaluates', async () => {
    const start = defaultStart();
    const { config, handlers, events } = setup(
      [{ name: 'a' }, { name: 'b', startDate: today() }, { name: 'off', enabled: false }, { name: 'bad' }],
      { failOpen: (name) => (name === 'bad' ? new ConfigError('credentials were rejected by the source (401)') : null) },
    );
    const report = await runCycle({ connectors: config.connectors, handlers, gate: memoryGate(), log, concurrency: 2 });
    expect(report.syncs.map((s) => [s.connector, s.outcome?.run.status])).toEqual([
      ['a', 'succeeded'],
      ['b', 'succeeded'],
      ['bad', 'failed'],
    ]);
    expect(report.ok).toBe(false);
    expect(report.downstream).toEqual({ recomputed: [{ from: start, to: today() }], outboxIds: [], notifyFailures: [] });
    expect(events).toEqual([`recompute ${start}..${today()}`, 'goals']);
  });

  it('leaves a connector that another process is syncing alone', async () => {
    const { config, handlers } = setup([{ name: 'a' }]);
    const gate = memoryGate();
    const held = await gate.enter({ connector: 'a', source: 'csv', job: 'elsewhere' });
    const report = await runCycle({ connectors: config.connectors, handlers, gate, log });
    expect(report.syncs).toMatchObject([{ connector: 'a', skipped: 'connector-busy' }]);
    expect(report.ok).toBe(true);
    if (typeof held !== 'string') await held.release();
  });
});

describe('embedded mode with the config\'s job settings', () => {
  it('a source at its limit makes the other connectors of its type wait for a slot, not lose their tick', async () => {
    let active = 0;
    let maxActive = 0;
    const { config, handlers } = setup([{ name: 'one' }, { name: 'two' }, { name: 'three' }], {
      dayDelayMs: 50,
      onRead: (_name, phase) => {
        active += phase === 'start' ? 1 : -1;
        maxActive = Math.max(maxActive, active);
      },
    });
    const embedded = startEmbedded({ connectors: config.connectors, handlers, log, gate: memoryGate({ csv: 1 }), sourceWaitMs: 20 });
    try {
      const outcomes = await Promise.all(['one', 'two', 'three'].map((name) => embedded.trigger(name)));
      expect(outcomes.map((o) => o?.ok)).toEqual([true, true, true]);
      expect(maxActive).toBe(1);
      for (const name of ['one', 'two', 'three']) expect(await factsOf(wh.db, name)).toEqual(expectedFacts(name, window()));
    } finally {
      await embedded.stop(1_000);
    }
  });

  it('retries the steps after a sync as often as jobs.attempts says, then gives up', async () => {
    for (const [attempts, failures, expected] of [
      [3, 2, ['fail', 'fail', 'recompute', 'goals']],
      [2, 2, ['fail', 'fail']],
    ] as const) {
      await sql`truncate metric_facts, checkpoints, sync_runs, quarantine`.execute(wh.db);
      const config = parseConfig(configYaml({ connectors: [{ name: `flaky${attempts}` }] }), 'kpi.yaml', { env: {} });
      const events: string[] = [];
      let left: number = failures;
      const metrics: MetricsEngine = {
        recompute: async () => {
          if (left-- > 0) {
            events.push('fail');
            throw new Error('database restarting');
          }
          events.push('recompute');
        },
        recordGoals: async () => void events.push('goals'),
      };
      const handlers = createPipelineHandlers({ config, db: wh.db, log, connectors: { csv: scriptedConnector({}) }, metrics });
      const embedded = startEmbedded({ connectors: config.connectors, handlers, log, retry: { attempts, baseMs: 5 } });
      try {
        expect((await embedded.trigger(`flaky${attempts}`))?.ok).toBe(true);
        await embedded.idle();
        expect(events).toEqual(expected);
      } finally {
        await embedded.stop(1_000);
      }
    }
  });
});
