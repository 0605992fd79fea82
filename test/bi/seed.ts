/**
 * A warehouse seeded for the BI views and the Grafana dashboard: two weeks of ad facts (the
 * numbers test/metrics/cli.test.ts works out by hand), KPI values recomputed, a goal and an OKR
 * assessed twice, a threshold alert that fires and resolves, and two sync runs.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { evaluateAlerts } from '../../src/alerts/index.ts';
import { configChecks } from '../../src/config-checks.ts';
import { parseConfig, type Config } from '../../src/config/index.ts';
import { recompute, recordGoals, storeConfigTables } from '../../src/metrics/index.ts';
import { finishRun, recordProgress, startRun, type Warehouse } from '../../src/warehouse/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { ADS, facts } from '../metrics/helpers.ts';

export const BI_CONFIG = `
dataDir: ./data
northStar: clicks
channels:
  ops: { type: slack, url: "https://hooks.slack.com/services/T0/B0/x", minIntervalMs: 0 }
alerting: { groupWait: 0, channelFailing: false }
kpis:
  - name: cost_per_1k_clicks
    label: Cost per 1k clicks
    formula: spend / clicks * 1000
    unit: currency
    direction: lower
goals:
  - name: clicks_march
    kpi: clicks
    target: 500
    start: "2026-03-01"
    deadline: "2026-03-31"
    grain: week
okrs:
  - name: reach
    objective: More clicks
    keyResults: [{ goal: clicks_march, weight: 2 }]
alerts:
  - name: clicks-low
    series: { kpi: clicks, grain: week }
    condition: { kind: threshold, op: below, threshold: 100 }
    for: 1
    channels: [ops]
`;

/** The week of 2026-03-02 and the week of 2026-03-09, one day of facts each. */
export const BI_FACTS = facts(ADS, {
  '2026-03-02': { impressions: 4000, clicks: 80, spend: 160, conversions: 4 },
  '2026-03-09': { impressions: 5000, clicks: 125, spend: 200, conversions: 5 },
});

/** When the alert rule is evaluated: a week after each week of facts. */
export const FIRST_TICK = new Date('2026-03-10T12:00:00Z');
export const SECOND_TICK = new Date('2026-03-17T12:00:00Z');

export interface BiSeed {
  dir: string;
  config: Config;
  runIds: { succeeded: number; failed: number };
  cleanup(): void;
}

/** A project folder with the config as kpi.yaml, for the CLI; the embedded database goes in its data/. */
export function biProject(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'kpi-bi-'));
  writeFileSync(path.join(dir, 'kpi.yaml'), BI_CONFIG);
  return dir;
}

export async function seedBi(wh: Warehouse, dir: string = biProject()): Promise<BiSeed> {
  const config = parseConfig(BI_CONFIG, path.join(dir, 'kpi.yaml'), { env: {}, checks: configChecks });
  await upsertFacts(wh.db, BI_FACTS);
  await storeConfigTables(wh.db, config);
  await recompute(wh.db, config);
  await recordGoals(wh.db, config, '2026-03-10');
  await evaluateAlerts(wh.db, config, { now: FIRST_TICK });
  await recordGoals(wh.db, config, '2026-03-17');
  await evaluateAlerts(wh.db, config, { now: SECOND_TICK });

  const succeeded = await startRun(wh.db, { connector: 'gads', trigger: 'schedule' });
  await recordProgress(wh.db, succeeded, { rowsRead: 10, rowsWritten: 8, rowsDeleted: 1, rowsRejected: 2 });
  await finishRun(wh.db, succeeded, { status: 'succeeded' });
  const failed = await startRun(wh.db, { connector: 'gads', trigger: 'manual', window: { from: '2026-03-01', to: '2026-03-09' } });
  await recordProgress(wh.db, failed, { rowsRead: 3 });
  await finishRun(wh.db, failed, { status: 'failed', error: new Error('HTTP 503 from the source\nsecond line'), errorKind: 'transient' });
  return { dir, config, runIds: { succeeded, failed }, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
