import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneHistory, type Database, type SyncRunStatus, type Warehouse } from '../../src/warehouse/index.ts';
import type { OutboxStatus } from '../../src/warehouse/tables.ts';
import { runCli } from '../helpers/cli.ts';
import { testPostgres, testWarehouse, warehouseKinds, type TestPostgres } from '../helpers/warehouse.ts';
import { inUnitTier } from '../helpers/tier.ts';

const DAY = 86_400_000;
const NOW = new Date('2026-06-30T12:00:00Z');
const ago = (days: number) => new Date(NOW.getTime() - days * DAY);
const policy = { syncRuns: 180 * DAY, quarantine: 90 * DAY, alertHistory: 90 * DAY };

/** History of every kind, some of it past the policy; returns what must survive, by table. */
async function seed(db: Kysely<Database>): Promise<Record<string, string[]>> {
  const run = (connector: string, status: SyncRunStatus, days: number) =>
    db
      .insertInto('sync_runs')
      .values({ connector, trigger: 'schedule', status, started_at: ago(days), heartbeat_at: ago(days), finished_at: status === 'running' ? null : ago(days) })
      .returning('id')
      .executeTakeFirstOrThrow();
  // ads: old successes, then a long outage of failures; its last success must stay however old.
  await run('ads', 'succeeded', 400);
  const adsLastSuccess = await run('ads', 'succeeded', 300);
  await run('ads', 'failed', 250);
  const adsRecentFail = await run('ads', 'failed', 10);
  // shop: synced once, a year ago: its only run is also its last.
  const shopOnly = await run('shop', 'succeeded', 365);
  // csv: a run still marked running (a live sync) is never pruned.
  const csvRunning = await run('csv', 'running', 200);
  const csvRecent = await run('csv', 'succeeded', 100);

  for (const [days, reason] of [[120, 'old'], [30, 'recent']] as const) {
    await db.insertInto('quarantine').values({ sync_run_id: null, connector: 'ads', stream: 's', reason, record: JSON.stringify({ days }), created_at: ago(days) }).execute();
  }
  for (const [seq, days] of [[1, 100], [2, 20]] as const) {
    await db.insertInto('alert_transitions').values({ rule: 'r', instance: 'i', seq, from_state: 'ok', to_state: 'firing', reason: `seq ${seq}`, value: null, at: ago(days) }).execute();
  }
  const outbox = (event: string, status: OutboxStatus, days: number) =>
    db
      .insertInto('alert_outbox')
      .values({ rule: 'r', instance: 'i', episode: 1, event, channel: 'ops', status, payload: JSON.stringify({}), created_at: ago(days), due_at: ago(days), not_before: ago(days), delivered_at: status === 'sent' ? ago(days) : null })
      .execute();
  await outbox('firing', 'sent', 120);
  await outbox('resolved', 'dropped', 95);
  // Held for months by a silence: still to be delivered, so kept.
  await outbox('repeat', 'pending', 150);
  await outbox('firing-2', 'sent', 5);
  for (const [start, status] of [['2026-01-05', 'sent'], ['2026-02-02', 'failed'], ['2026-06-22', 'sent']] as const) {
    await db.insertInto('digest_sends').values({ report: 'digest', grain: 'week', period_start: start, channel: 'ops', status }).execute();
  }
  for (const [days, comment] of [[100, 'expired long ago'], [-5, 'still active']] as const) {
    await db.insertInto('alert_silences').values({ matchers: JSON.stringify([]), starts_at: ago(days + 10), ends_at: ago(days), comment }).execute();
  }
  return {
    sync_runs: [adsLastSuccess, adsRecentFail, shopOnly, csvRunning, csvRecent].map((r) => String(r.id)).sort(),
    quarantine: ['recent'],
    alert_transitions: ['seq 2'],
    alert_outbox: ['firing-2', 'repeat'],
    digest_sends: ['2026-06-22'],
    alert_silences: ['still active'],
  };
}

async function remaining(db: Kysely<Database>): Promise<Record<string, string[]>> {
  const col = async (q: Promise<Array<{ v: unknown }>>) => (await q).map((r) => String(r.v)).sort();
  return {
    sync_runs: await col(db.selectFrom('sync_runs').select('id as v').execute()),
    quarantine: await col(db.selectFrom('quarantine').select('reason as v').execute()),
    alert_transitions: await col(db.selectFrom('alert_transitions').select('reason as v').execute()),
    alert_outbox: await col(db.selectFrom('alert_outbox').select('event as v').execute()),
    digest_sends: await col(db.selectFrom('digest_sends').select('period_start as v').execute()),
    alert_silences: await col(db.selectFrom('alert_silences').select('comment as v').execute()),
  };
}

describe.each(warehouseKinds)('history retention on %s', (kind) => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await testWarehouse(kind);
  });
  afterAll(async () => {
    await wh.close();
  });

  it('deletes history past the policy and keeps what the pipeline still reads, whatever its age', async () => {
    const keep = await seed(wh.db);
    const before = await remaining(wh.db);

    const dry = await pruneHistory(wh.db, policy, { now: NOW, dryRun: true });
    expect(dry).toEqual({ syncRuns: 2, quarantine: 1, alertTransitions: 1, alertOutbox: 2, digestSends: 2, alertSilences: 1 });
    expect(await remaining(wh.db)).toEqual(before);

    expect(await pruneHistory(wh.db, policy, { now: NOW })).toEqual(dry);
    expect(await remaining(wh.db)).toEqual(keep);
    // A second round (another replica, the next night) finds nothing more.
    expect(await pruneHistory(wh.db, policy, { now: NOW })).toEqual({ syncRuns: 0, quarantine: 0, alertTransitions: 0, alertOutbox: 0, digestSends: 0, alertSilences: 0 });
  });
});

describe.skipIf(inUnitTier)('kpi prune', () => {
  let dir: string;
  let wh: TestPostgres;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kpi-prune-'));
    wh = await testPostgres();
    await seed(wh.db);
    // The CLI prunes against the real clock: move everything seeded back by its distance to now.
    const shift = `${Math.round((Date.now() - NOW.getTime()) / 1000)} seconds`;
    await sql`update sync_runs set started_at = started_at + ${shift}::interval, finished_at = finished_at + ${shift}::interval`.execute(wh.db);
    await sql`update quarantine set created_at = created_at + ${shift}::interval`.execute(wh.db);
    writeFileSync(path.join(dir, 'kpi.yaml'), 'retention: { syncRuns: 180d, quarantine: 20d }\n');
  });
  afterAll(async () => {
    await wh.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const kpi = (argv: string[]) => runCli(argv, { env: { DATABASE_URL: wh.url }, cwd: dir });
  const row = (out: string, name: string) => out.split('\n').find((l) => l.includes(name))?.split('│').map((c) => c.trim()).filter(Boolean);

  it('counts with --dry-run and deletes nothing, then deletes with the configured retention', async () => {
    const dry = await kpi(['prune', '--dry-run', '--config', 'kpi.yaml']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(row(dry.stdout, 'sync runs')).toEqual(['sync runs', '180 d', '2']);
    // quarantine: 20 days configured, so the 30-day-old record goes too (the default 90 would keep it).
    expect(row(dry.stdout, 'quarantined records')).toEqual(['quarantined records', '20 d', '2']);
    expect(dry.stdout).toContain('dry run: nothing was deleted');

    const real = await kpi(['prune', '--config', 'kpi.yaml']);
    expect(real.code, real.stderr).toBe(0);
    expect(row(real.stdout, 'sync runs')).toEqual(['sync runs', '180 d', '2']);
    expect(real.stdout).toContain('never pruned');
    const again = await kpi(['prune', '--dry-run', '--config', 'kpi.yaml']);
    expect(row(again.stdout, 'sync runs')).toEqual(['sync runs', '180 d', '0']);
  });

  it('answers a bad retention setting with the path and exit code 3', async () => {
    writeFileSync(path.join(dir, 'bad.yaml'), 'retention: { syncRuns: forever }\n');
    const res = await kpi(['prune', '--config', 'bad.yaml']);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/retention\.syncRuns/);
    expect(res.stderr).toMatch(/duration/);
  });
});
