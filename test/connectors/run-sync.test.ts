import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { z } from 'zod';
import { ConfigError, DataError, TransientError } from '../../src/core/errors.ts';
import { createLogger } from '../../src/core/log.ts';
import { runSync } from '../../src/connectors/shared/run-sync.ts';
import type { AnyConnector } from '../../src/connectors/shared/connector.ts';
import type { DateRange } from '../../src/core/dates.ts';
import { addDays, daysOf } from '../../src/core/dates.ts';
import { getCheckpoint, listQuarantine, type Warehouse } from '../../src/warehouse/index.ts';
import { testWarehouse, warehouseKinds } from '../helpers/warehouse.ts';

/** The source's truth: day → campaign → clicks. Tests edit it to restate days. */
type Source = Map<string, Map<string, number>>;

const record = z.object({ day: z.string(), campaign: z.string(), clicks: z.number() });

function scriptedConnector(source: Source, behaviour: { failAfterDays?: number; error?: Error; pageSize?: number; extra?: unknown[] } = {}): AnyConnector {
  return {
    type: 'scripted',
    defaultLookbackDays: () => 3,
    streams: () => ['acct'],
    open: () => ({
      describe: async () => ({ currency: 'EUR', timeZone: 'Europe/Berlin' }),
      recordSchema: record,
      async *read(_stream: string, window: DateRange) {
        let served = 0;
        if (behaviour.extra) yield behaviour.extra;
        for (const day of daysOf(window)) {
          const rows = [...(source.get(day) ?? new Map()).entries()].map(([campaign, clicks]) => ({ day, campaign, clicks }));
          // Split a day across pages: the framework must still commit the whole day at once.
          const size = behaviour.pageSize ?? 2;
          const failing = behaviour.failAfterDays !== undefined && served === behaviour.failAfterDays;
          for (let i = 0; i < rows.length; i += size) {
            // Fail in the middle of a day, after part of it has been handed over.
            if (failing && i > 0) throw behaviour.error ?? new TransientError('connection reset');
            yield rows.slice(i, i + size);
          }
          if (failing) throw behaviour.error ?? new TransientError('connection reset');
          served++;
        }
      },
      normalize: (r: z.infer<typeof record>) => {
        if (r.campaign === 'poison') throw new DataError('campaign "poison" is not allowed');
        return [{ date: r.day, campaign: r.campaign, channel: 'paid_search', metric: 'clicks', value: r.clicks }];
      },
    }),
  } as AnyConnector;
}

function makeSource(from: string, days: number): Source {
  const s: Source = new Map();
  for (let d = 0; d < days; d++) {
    const day = addDays(from, d);
    s.set(day, new Map([['alpha', 100 + d], ['beta', 200 + d], ['gamma', 300 + d]]));
  }
  return s;
}

const NOW = () => new Date('2026-03-10T12:00:00Z');
const config = { name: 'scripted-ads', type: 'scripted', startDate: '2026-03-01' };

describe.each(warehouseKinds)('sync framework on %s', (kind) => {
  let wh: Warehouse;
  const logLines: string[] = [];
  const log = createLogger({ level: 'debug', destination: new Writable({ write: (c, _e, cb) => (logLines.push(String(c)), cb()) }) });

  beforeAll(async () => {
    wh = await testWarehouse(kind);
  });
  afterAll(async () => {
    await wh.close();
  });
  beforeEach(async () => {
    await sql`truncate metric_facts, checkpoints, sync_runs, quarantine`.execute(wh.db);
  });

  async function facts() {
    const rows = await wh.db.selectFrom('metric_facts').select(['date', 'campaign', 'value', 'currency']).orderBy('date').orderBy('campaign').execute();
    return rows.map((r) => `${r.date} ${r.campaign} ${r.value} ${r.currency}`);
  }
  function expected(source: Source) {
    return [...source.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .flatMap(([day, m]) => [...m.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([c, v]) => `${day} ${c} ${v} EUR`));
  }

  it('backfills from startDate to today in the account zone, then re-syncs only the lookback and writes nothing new', async () => {
    const source = makeSource('2026-03-01', 10);
    const first = await runSync({ db: wh.db, connector: scriptedConnector(source), config, log, now: NOW });
    expect(first.ok).toBe(true);
    expect(first.run).toMatchObject({ status: 'succeeded', rows_read: 30, rows_written: 30, rows_rejected: 0, touched_from: '2026-03-01', touched_to: '2026-03-10' });
    expect(await facts()).toEqual(expected(source));
    expect(await getCheckpoint(wh.db, 'scripted-ads', 'acct')).toBe('2026-03-10');

    const second = await runSync({ db: wh.db, connector: scriptedConnector(source), config, log, now: NOW });
    expect(second.run).toMatchObject({ status: 'succeeded', rows_read: 12, rows_written: 0, rows_deleted: 0, touched_from: null });
    expect(second.run.flags['stream:acct']).toMatchObject({ window: { from: '2026-03-07', to: '2026-03-10' } });
    expect(await facts()).toEqual(expected(source));
  });

  it('replaces a restated day inside the lookback, including a campaign the source dropped', async () => {
    const source = makeSource('2026-03-01', 10);
    await runSync({ db: wh.db, connector: scriptedConnector(source), config, log, now: NOW });
    source.get('2026-03-08')!.set('alpha', 999);
    source.get('2026-03-09')!.delete('gamma');
    const res = await runSync({ db: wh.db, connector: scriptedConnector(source), config, log, now: NOW });
    expect(res.run).toMatchObject({ rows_written: 1, rows_deleted: 1, touched_from: '2026-03-08', touched_to: '2026-03-09' });
    expect(await facts()).toEqual(expected(source));
  });

  it('a crash mid-window leaves only whole days, and the next run resumes to the same facts as a clean run', async () => {
    const source = makeSource('2026-03-01', 10);
    const crashed = await runSync({ db: wh.db, connector: scriptedConnector(source, { failAfterDays: 6, pageSize: 1 }), config, log, now: NOW });
    expect(crashed.ok).toBe(false);
    expect(crashed.run).toMatchObject({ status: 'failed', error_kind: 'transient', error: 'connection reset' });
    // Day 7 had been partly read when the source failed; it must not be half there.
    const afterCrash = await facts();
    expect(afterCrash).toEqual(expected(source).filter((f) => f < '2026-03-07'));
    expect(await getCheckpoint(wh.db, 'scripted-ads', 'acct')).toBe('2026-03-06');

    const resumed = await runSync({ db: wh.db, connector: scriptedConnector(source), config, log, now: NOW });
    expect(resumed.run.flags['stream:acct']).toMatchObject({ window: { from: '2026-03-03', to: '2026-03-10' } });
    expect(await facts()).toEqual(expected(source));
  });

  it('quarantines bad records with their reason, counts them, and keeps going', async () => {
    const source = makeSource('2026-03-08', 3);
    source.get('2026-03-09')!.set('poison', 1);
    const extra = [
      { day: '2026-03-08', campaign: 'x', clicks: 'twelve' },
      { day: '2026-03-06', campaign: 'early', clicks: 1 },
      { day: '2026-02-01', campaign: 'before startDate minus lookback', clicks: 1 },
      { day: '9999-12-31', campaign: 'sentinel', clicks: 1 },
    ];
    const res = await runSync({ db: wh.db, connector: scriptedConnector(source, { extra }), config: { ...config, startDate: '2026-03-08' }, log, now: NOW });
    expect(res.ok).toBe(true);
    expect(res.run).toMatchObject({ rows_read: 14, rows_written: 9, rows_rejected: 5 });
    const q = await listQuarantine(wh.db, { syncRunId: res.run.id });
    expect(q.map((r) => r.reason).sort()).toEqual([
      'campaign "poison" is not allowed',
      'clicks: Invalid input: expected number, received string',
      'date 2026-02-01 is outside the dates this connector accepts (2026-03-05..2026-03-11: from its startDate minus lookback, or 2000-01-01, to tomorrow)',
      'date 2026-03-06 is outside the requested window 2026-03-08..2026-03-10',
      'date 9999-12-31 is outside the dates this connector accepts (2026-03-05..2026-03-11: from its startDate minus lookback, or 2000-01-01, to tomorrow)',
    ]);
    expect(q.find((r) => r.reason.startsWith('clicks'))?.record).toEqual({ day: '2026-03-08', campaign: 'x', clicks: 'twelve' });
  });

  it('records a ConfigError as a failed run of kind config', async () => {
    const source = makeSource('2026-03-01', 10);
    const res = await runSync({ db: wh.db, connector: scriptedConnector(source, { failAfterDays: 0, error: new ConfigError('credentials were rejected by the source (401)') }), config, log, now: NOW });
    expect(res.run).toMatchObject({ status: 'failed', error_kind: 'config', error: 'credentials were rejected by the source (401)', rows_written: 0 });
    expect(await facts()).toEqual([]);
  });

  it('an explicit backfill window does not move the checkpoint backwards', async () => {
    const source = makeSource('2026-02-01', 38);
    await runSync({ db: wh.db, connector: scriptedConnector(source), config, log, now: NOW });
    await runSync({ db: wh.db, connector: scriptedConnector(source), config, log, now: NOW, window: { from: '2026-02-01', to: '2026-02-05' } });
    expect(await getCheckpoint(wh.db, 'scripted-ads', 'acct')).toBe('2026-03-10');
    expect((await facts()).length).toBe(3 * 15);
  });
});
