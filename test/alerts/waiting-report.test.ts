import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { sendDigest } from '../../src/alerts/index.ts';
import { runCli, tempProject } from '../helpers/cli.ts';
import { testPostgres, type TestPostgres } from '../helpers/warehouse.ts';
import { at } from './helpers.ts';

/**
 * A report whose KPIs wait for a source that never completes (a connector whose first sync
 * never succeeds) is not sent, rightly; but the operator must be able to see that it waits
 * and for what, not only in an info log line.
 */
describe('a report waiting for complete data', () => {
  let wh: TestPostgres;
  let project: { dir: string; cleanup(): void };
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    wh = await testPostgres();
    project = tempProject({
      'kpi.yaml': `
reporting: { timezone: Europe/Berlin }
connectors:
  - { name: crm, type: csv, path: exports/leads-*.csv, account: crm, date: { column: Day }, metrics: { leads: Leads } }
channels:
  ops: { type: slack, url: "http://127.0.0.1:9/services/T/B/x", minIntervalMs: 0, maxRetries: 0 }
reports:
  - name: weekly-leads
    kpis: [leads]
    northStar: false
    schedule: "0 8 * * 1"
    channels: [ops]
`,
    });
    env = { DATABASE_URL: wh.url };
  });
  afterAll(async () => {
    await wh.close();
    project.cleanup();
  });

  it('kpi alerts list says which report waits, for which period and channels, and for what', async () => {
    const config = loadConfig(path.join(project.dir, 'kpi.yaml'), { env });
    const r = await sendDigest(wh.db, config, { now: at('2026-03-30T06:00:00Z') });
    expect(r.sent).toEqual([]);
    expect(r.waiting?.reason).toBe('waiting for complete data through 2026-03-29: leads complete through no day yet');

    const list = await runCli(['alerts', 'list', '--config', 'kpi.yaml'], { env, cwd: project.dir });
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('reports not sent yet, waiting for complete data:');
    expect(list.stdout).toMatch(/│ weekly-leads +│ week of 2026-03-23 +│ ops +│ leads complete through no day yet +│/);
  });
});
