/**
 * readStatus and `kpi status` against run histories an operator produces by accident: a job
 * for a connector a reload had just removed (a skipped run, with its note) landing after the
 * connector's failed run, and the connector put back; a sync whose process was killed, left
 * running with no heartbeat; errors that start with blank lines or say nothing.
 */
import { describe, expect, it } from 'vitest';
import { statusTable } from '../../src/cli/status.ts';
import { configChecks } from '../../src/config-checks.ts';
import { parseConfig } from '../../src/config/index.ts';
import { readStatus } from '../../src/metrics/index.ts';
import { finishRun, recordProgress, recordSkippedRun, startRun } from '../../src/warehouse/index.ts';
import { useWarehouse, warehouseKinds } from '../helpers/warehouse.ts';

const config = parseConfig(
  `reporting: { currency: EUR, timezone: UTC }
connectors:
  - { name: sg, type: sendgrid, apiKey: "\${env:SG_KEY}", schedule: "0 6 * * *" }
`,
  '/tmp/kpi.yaml',
  { env: { SG_KEY: 'SG.edges0test0key' }, checks: configChecks },
);

describe.each(warehouseKinds)('kpi status on awkward run histories on %s', (kind) => {
  const wh = useWarehouse(kind, async (db) => void (await db.deleteFrom('sync_runs').execute()));

  it("a failing connector's error is its failed run's, not a later skipped job's note", async () => {
    const ok = await startRun(wh.db, { connector: 'sg', trigger: 'schedule' });
    await finishRun(wh.db, ok, { status: 'succeeded' });
    const failed = await startRun(wh.db, { connector: 'sg', trigger: 'schedule' });
    const failedRun = await finishRun(wh.db, failed, { status: 'failed', error: new Error('credentials were rejected by SendGrid (401)\nbody: {"errors":[]}'), errorKind: 'auth' });
    // Removed by a reload while its job was queued, then put back.
    await recordSkippedRun(wh.db, { connector: 'sg', trigger: 'schedule', error: 'connector sg is not in the configuration (removed or disabled); the job was not run', errorKind: 'not-configured' });

    const status = await readStatus(wh.db, config, new Date());
    const sg = status.connectors.find((c) => c.name === 'sg')!;
    expect(sg.verdict).toBe('failing');
    expect(sg.lastError).toEqual({ runId: failed, at: new Date(failedRun.finished_at!).toISOString(), kind: 'auth', message: 'credentials were rejected by SendGrid (401)\nbody: {"errors":[]}' });
    expect(statusTable(status, 'UTC')).toContain('│ credentials were rejected by SendGrid (401) │');
  });

  it('a run left running by a killed process is a warning once it has shown no sign of life for an hour', async () => {
    const ok = await startRun(wh.db, { connector: 'sg', trigger: 'schedule' });
    await finishRun(wh.db, ok, { status: 'succeeded' });
    const stuck = await startRun(wh.db, { connector: 'sg', trigger: 'schedule' });
    await recordProgress(wh.db, stuck, { rowsRead: 10 });
    const alive = await readStatus(wh.db, config, new Date());
    const sgAlive = alive.connectors.find((c) => c.name === 'sg')!;
    expect(sgAlive.lastRun).toMatchObject({ id: stuck, status: 'running' });
    expect(sgAlive.reasons.filter((r) => r.includes('no sign of life'))).toEqual([]);

    // The process was killed: its last heartbeat is 61 minutes, then 3 hours, old.
    const heartbeat = (await wh.db.selectFrom('sync_runs').select('heartbeat_at').where('id', '=', stuck).executeTakeFirstOrThrow()).heartbeat_at;
    const later = (ms: number) => new Date(new Date(heartbeat).getTime() + ms);
    const soon = (await readStatus(wh.db, config, later(61 * 60_000))).connectors.find((c) => c.name === 'sg')!;
    expect(soon.verdict).toBe('warning');
    expect(soon.reasons).toContain(`run ${stuck} has been running with no sign of life for 61 minutes (its process stopped?)`);
    const status = await readStatus(wh.db, config, later(3 * 3_600_000 + 5_000));
    expect(status.verdict).toBe('warning');
    expect(status.connectors.find((c) => c.name === 'sg')!.reasons).toContain(`run ${stuck} has been running with no sign of life for 3 hours (its process stopped?)`);
    expect(statusTable(status, 'UTC')).toContain(`run ${stuck} has been running with no sign of life for 3 hours`);
  });

  it("a failing connector's detail is the first line of its error that says something, or why it fails when none does", async () => {
    const failed = await startRun(wh.db, { connector: 'sg', trigger: 'schedule' });
    await finishRun(wh.db, failed, { status: 'failed', error: '\r\n  \nupstream said: 502 Bad Gateway\n<html>' });
    expect(statusTable(await readStatus(wh.db, config, new Date()), 'UTC')).toContain('│ upstream said: 502 Bad Gateway │');
    const silent = await startRun(wh.db, { connector: 'sg', trigger: 'schedule' });
    await finishRun(wh.db, silent, { status: 'failed', error: new Error('') });
    const status = await readStatus(wh.db, config, new Date());
    expect(status.connectors[0]!.lastError?.runId).toBe(silent);
    expect(statusTable(status, 'UTC')).toContain('│ last sync failed │');
  });
});
