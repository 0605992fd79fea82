import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPipelineHandlers, type AlertsEngine, type MetricsEngine } from '../../src/app.ts';
import { parseConfig } from '../../src/config/index.ts';
import { testClock } from '../../src/core/resilience/index.ts';
import { startEmbedded, startQueueMode, type Embedded, type PipelineHandlers, type QueueMode } from '../../src/jobs/index.ts';
import type { Warehouse } from '../../src/warehouse/index.ts';
import { testWarehouse } from '../helpers/warehouse.ts';
import { configYaml, memoryLog, waitFor } from './helpers.ts';

/*
 * The notify step keeps its rows' group wait outside the chain: a delayed job in queue mode,
 * a timer in embedded mode. Nothing is sent before the rows are due, and nothing twice.
 */

const { log, lines } = memoryLog();
const range = { from: '2026-03-01', to: '2026-03-02' };

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('queue mode: the notify job is delayed until its rows are due', () => {
  let wh: Warehouse;
  let mode: QueueMode | undefined;
  beforeAll(async () => {
    wh = await testWarehouse('postgres');
  });
  afterAll(async () => {
    await wh.close();
  });
  afterEach(async () => {
    await mode?.stop(2_000);
    mode = undefined;
  });

  it('evaluate queues notify with a delay up to notifyAt; the job runs once, not before', async () => {
    const config = parseConfig(configYaml({ connectors: [] }), 'kpi.yaml', { env: {} });
    const groupWaitMs = 3_000;
    let notifyAt: Date | undefined;
    const delivered: Array<{ ids: number[]; at: number }> = [];
    const alerts: AlertsEngine = {
      evaluateAlerts: async (_db, _config, asOf) => {
        notifyAt = new Date(asOf.getTime() + groupWaitMs);
        return { outboxIds: [21, 22], notifyAt };
      },
      deliver: async (_db, _config, ids) => void delivered.push({ ids, at: Date.now() }),
    };
    const metrics: MetricsEngine = { recompute: async () => {}, recordGoals: async () => {} };
    const handlers = createPipelineHandlers({ config, db: wh.db, log, metrics, alerts });
    mode = await startQueueMode({ redisUrl: inject('redisUrl'), prefix: `${inject('redisPrefix')}-notify-timing`, connectors: [], handlers, log, tuning: { backoffMs: 50, attempts: 2 } });

    await mode.chain(range);
    const done = await waitFor(async () => ((await mode!.queues.notify.getJobCounts('completed')).completed === 1 ? (await mode!.queues.notify.getJobs(['completed']))[0] : null), {
      what: 'the notify job to complete',
    });
    expect(done.opts.delay ?? 0).toBeLessThanOrEqual(groupWaitMs);
    // Due in Redis no earlier than the rows are due, and taken no earlier either (without
    // the delay it would run a few milliseconds after evaluate, seconds too early).
    expect(done.timestamp + (done.opts.delay ?? 0)).toBeGreaterThanOrEqual(notifyAt!.getTime());
    expect(done.processedOn!).toBeGreaterThanOrEqual(notifyAt!.getTime());
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.ids).toEqual([21, 22]);
    expect(delivered[0]!.at).toBeGreaterThanOrEqual(notifyAt!.getTime());
  });
});

describe('embedded mode: the notify step waits on a timer, not in the chain', () => {
  let embedded: Embedded | undefined;
  afterEach(async () => {
    await embedded?.stop(1_000);
    embedded = undefined;
  });

  function handlers(groupWaitMs: number, clock: { now(): number }) {
    const events: string[] = [];
    const evaluated = [deferred(), deferred()];
    let evaluations = 0;
    const h: PipelineHandlers = {
      sync: async () => {
        throw new Error('no syncs here');
      },
      notConfigured: async () => {
        throw new Error('no syncs here');
      },
      recompute: async (r) => void events.push(`recompute ${r.from}`),
      evaluate: async () => {
        const n = evaluations++;
        events.push(`evaluate ${n}`);
        evaluated[n]?.resolve();
        return { outboxIds: [100 + n], notifyAt: new Date(clock.now() + groupWaitMs) };
      },
      notify: async (ids) => {
        events.push(`notify ${ids.join(',')} at +${clock.now() - start}`);
        return { failures: [] };
      },
    };
    const start = clock.now();
    return { h, events, evaluated };
  }

  it('runs notify when the group wait is over, once, while the next chain goes ahead', async () => {
    const clock = testClock();
    const { h, events, evaluated } = handlers(30_000, clock);
    embedded = startEmbedded({ connectors: [], handlers: h, log, clock });
    embedded.chain(range);
    embedded.chain({ from: '2026-03-05', to: '2026-03-05' });
    await evaluated[1]!.promise;
    // Both chains evaluated; neither notify has run, as no time has passed.
    expect(events).toEqual(['recompute 2026-03-01', 'evaluate 0', 'recompute 2026-03-05', 'evaluate 1']);

    clock.advance(29_999);
    expect(events.filter((e) => e.startsWith('notify'))).toEqual([]);
    clock.advance(1);
    await embedded.idle();
    expect(events.filter((e) => e.startsWith('notify'))).toEqual(['notify 100 at +30000', 'notify 101 at +30000']);
    clock.advance(3_600_000);
    await embedded.idle();
    expect(events.filter((e) => e.startsWith('notify'))).toHaveLength(2);
  });

  it('on stop, leaves a notification that is not due in the outbox rather than send it early', async () => {
    const clock = testClock();
    const { h, events, evaluated } = handlers(30_000, clock);
    embedded = startEmbedded({ connectors: [], handlers: h, log, clock });
    embedded.chain(range);
    await evaluated[0]!.promise;
    // The chain hands the step to its timer as soon as evaluate has returned.
    await new Promise((resolve) => setImmediate(resolve));
    expect(clock.pending()).toBe(1);
    await embedded.stop(1_000);
    embedded = undefined;
    clock.advance(60_000);
    expect(events).toEqual(['recompute 2026-03-01', 'evaluate 0']);
    expect(lines.some((l) => l.includes('notifications not yet due are left in the outbox'))).toBe(true);
  });

  it('runs notify at once when its rows are already due', async () => {
    const clock = testClock();
    const { h, events } = handlers(0, clock);
    embedded = startEmbedded({ connectors: [], handlers: h, log, clock });
    embedded.chain(range);
    await embedded.idle();
    expect(events).toEqual(['recompute 2026-03-01', 'evaluate 0', 'notify 100 at +0']);
  });
});
