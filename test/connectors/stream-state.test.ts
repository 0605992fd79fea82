import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runSync } from '../../src/connectors/index.ts';
import { defineConnector } from '../../src/connectors/shared/connector.ts';
import { TransientError } from '../../src/core/errors.ts';
import { daysOf } from '../../src/core/dates.ts';
import { createLogger } from '../../src/core/log.ts';
import { getCheckpoint, type Warehouse } from '../../src/warehouse/index.ts';
import { testWarehouse, warehouseKinds } from '../helpers/warehouse.ts';

const configSchema = z.object({ type: z.literal('tally'), name: z.string(), startDate: z.string().optional() });
const recordSchema = z.object({ day: z.string(), clicks: z.number() });
const stateSchema = z.object({ reads: z.number().int(), through: z.string() });
type State = z.infer<typeof stateSchema>;

/** What the reader was handed: the state its plan and its read saw, in order. */
type Seen = Array<['plan' | 'read', State | undefined]>;

/** A source whose reader keeps a count of its reads as its state. */
function tally(seen: Seen, behaviour: { failOn?: string; keepState?: boolean } = {}) {
  return defineConnector({
    type: 'tally',
    configSchema,
    defaultLookbackDays: 1,
    streams: () => ['acct'],
    open: () => ({
      recordSchema,
      stateSchema,
      describe: async () => ({ currency: null, timeZone: 'UTC' }),
      async planWindow(_stream: string, proposed: { from: string; to: string }, plan: { state: State | undefined }) {
        seen.push(['plan', plan.state]);
        return proposed;
      },
      async *read(_stream: string, window: { from: string; to: string }, ctx: { state: State | undefined }) {
        seen.push(['read', ctx.state]);
        for (const day of daysOf(window)) {
          if (day === behaviour.failOn) throw new TransientError('connection reset');
          yield [{ day, clicks: 1 }];
        }
        if (behaviour.keepState) return;
        return { reads: (ctx.state?.reads ?? 0) + 1, through: window.to };
      },
      normalize: (r: z.infer<typeof recordSchema>) => [{ date: r.day, metric: 'clicks', value: r.clicks }],
    }),
  });
}

const NOW = () => new Date('2026-03-10T12:00:00Z');
const config = { type: 'tally' as const, name: 'tally', startDate: '2026-03-06' };

describe.each(warehouseKinds)('per-stream state on %s', (kind) => {
  let wh: Warehouse;
  const logLines: string[] = [];
  const log = createLogger({ level: 'info', destination: new Writable({ write: (c, _e, cb) => (logLines.push(String(c)), cb()) }) });
  const stored = async () => (await wh.db.selectFrom('checkpoints').select(['cursor', 'state']).where('connector', '=', 'tally').execute()).map((r) => [r.cursor, r.state]);

  beforeAll(async () => {
    wh = await testWarehouse(kind);
  });
  afterAll(async () => {
    await wh.close();
  });
  beforeEach(async () => {
    await sql`truncate metric_facts, checkpoints, sync_runs, quarantine`.execute(wh.db);
    logLines.length = 0;
  });

  it("is kept with the stream's last day and handed to the next sync's plan and read", async () => {
    const seen: Seen = [];
    expect((await runSync({ db: wh.db, connector: tally(seen), config, log, now: NOW })).ok).toBe(true);
    expect(await stored()).toEqual([['2026-03-10', { reads: 1, through: '2026-03-10' }]]);

    // The second sync's window already holds facts, so its days are judged before they are applied.
    expect((await runSync({ db: wh.db, connector: tally(seen), config, log, now: NOW })).ok).toBe(true);
    expect(seen).toEqual([
      ['plan', undefined],
      ['read', undefined],
      ['plan', { reads: 1, through: '2026-03-10' }],
      ['read', { reads: 1, through: '2026-03-10' }],
    ]);
    expect(await stored()).toEqual([['2026-03-10', { reads: 2, through: '2026-03-10' }]]);
  });

  it('a sync that fails keeps the state the last good one left, though it committed days', async () => {
    await runSync({ db: wh.db, connector: tally([]), config, log, now: NOW });
    const failed = await runSync({ db: wh.db, connector: tally([], { failOn: '2026-03-04' }), config, log, now: NOW, window: { from: '2026-03-01', to: '2026-03-05' } });
    expect(failed.run).toMatchObject({ status: 'failed', error: 'connection reset' });
    // The backfill committed 03-01 and 03-02 before failing on the 4th (the 3rd was still open).
    expect(await wh.db.selectFrom('metric_facts').select('date').where('date', '<', '2026-03-06').orderBy('date').execute()).toEqual([{ date: '2026-03-01' }, { date: '2026-03-02' }]);
    expect(await stored()).toEqual([['2026-03-10', { reads: 1, through: '2026-03-10' }]]);
  });

  it('a reader that returns nothing leaves the stored state as it was', async () => {
    await runSync({ db: wh.db, connector: tally([]), config, log, now: NOW });
    const seen: Seen = [];
    expect((await runSync({ db: wh.db, connector: tally(seen, { keepState: true }), config, log, now: NOW })).ok).toBe(true);
    expect(await stored()).toEqual([['2026-03-10', { reads: 1, through: '2026-03-10' }]]);
  });

  it('stored state that no longer fits the schema is dropped with a warning, and the stream starts as if it had none', async () => {
    await runSync({ db: wh.db, connector: tally([]), config, log, now: NOW });
    await sql`update checkpoints set state = '{"reads": "many"}'::jsonb where connector = 'tally'`.execute(wh.db);
    const seen: Seen = [];
    const res = await runSync({ db: wh.db, connector: tally(seen), config, log, now: NOW });
    expect(res.ok).toBe(true);
    expect(seen).toEqual([['plan', undefined], ['read', undefined]]);
    const warning = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.level === 40);
    expect(warning).toMatchObject({ msg: 'stored stream state does not fit this version; reading the stream as if for the first time', connector: 'tally', stream: 'acct', problem: 'reads: Invalid input: expected number, received string' });
    expect(await stored()).toEqual([['2026-03-10', { reads: 1, through: '2026-03-10' }]]);
    expect(await getCheckpoint(wh.db, 'tally', 'acct')).toBe('2026-03-10');
  });
});
