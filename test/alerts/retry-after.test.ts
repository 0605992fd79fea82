import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempProject } from '../helpers/cli.ts';
import { testPostgres, type TestPostgres } from '../helpers/warehouse.ts';
import { reply, startHttp, type HttpServer } from '../notify/helpers.ts';
import { outbox } from './helpers.ts';

const YEAR_S = 31_536_000;
const dayBefore = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);

describe('a destination that asks to wait a year (kpi run --once)', () => {
  let slack: HttpServer;
  let wh: TestPostgres;
  const project = tempProject({});
  const kpi = (...args: string[]) => runCli([...args, '--config', 'kpi.yaml'], { cwd: project.dir, env: { DATABASE_URL: wh.url } });

  beforeAll(async () => {
    // Slack rate-limits the alerts webhook with a Retry-After of a year; the ops webhook works.
    slack = await startHttp((res, _n, req) => (req.path.includes('/alerts/') ? reply(res, 429, 'rate_limited', { 'retry-after': String(YEAR_S) }) : reply(res, 200, 'ok')));
    wh = await testPostgres({ migrate: false });
    mkdirSync(path.join(project.dir, 'exports'));
    writeFileSync(path.join(project.dir, 'exports/leads.csv'), `Day,Leads\n${dayBefore(2)},3\n${dayBefore(1)},5\n`);
    writeFileSync(
      path.join(project.dir, 'kpi.yaml'),
      `
connectors:
  - { name: leads, type: csv, path: exports/leads.csv, account: crm, date: { column: Day }, metrics: { leads: Leads } }
channels:
  alerts: { type: slack, url: "${slack.base}/services/T/alerts/x", minIntervalMs: 0 }
  ops: { type: slack, url: "${slack.base}/services/T/ops/x", minIntervalMs: 0 }
alerting: { groupWait: 0, evaluationInterval: 10ms }   # every command its own tick
alerts:
  - name: leads_high
    series: { kpi: leads, grain: day }
    condition: { kind: threshold, op: above, threshold: 1 }
    channels: [alerts]
  - name: undelivered
    condition: { kind: delivery_failure, watch: [alerts] }
    severity: critical
    channels: [ops]
`,
    );
  });
  afterAll(async () => {
    await slack.close();
    await wh.close();
    project.cleanup();
  });

  it('marks the notification failed at once, exits 1, lists it, and alerts on another channel', async () => {
    const reason = `gave up: asked to wait 365 d, longer than alerting.maxRetryAfter (10 min): Slack webhook "alerts" asked to wait ${YEAR_S} s: HTTP 429 rate_limited`;
    const first = await kpi('run', '--once');
    expect(first.code).toBe(1);
    expect(first.stdout).toContain(`notification of leads_high to alerts failed: ${reason}\n`);
    expect(slack.requests.map((r) => r.path)).toEqual(['/services/T/alerts/x']);
    const [row] = await outbox(wh.db);
    expect(row).toMatchObject({ rule: 'leads_high', channel: 'alerts', status: 'failed', attempts: 1, last_error: reason, claimed_by: null });
    expect(row!.failed_at).toBeInstanceOf(Date);

    const list = await kpi('alerts', 'list');
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('delivery failures in the last 7 days (failed for good unless retrying):\n');
    expect(list.stdout).toMatch(/│ alerts +│ 1 notification +│ \d{4}-\d\d-\d\d \d\d:\d\d +│ gave up: asked to wait 365 d, longer than alerting\.maxRetryAfter \(10 … │/);

    // The next cycle finds the failure and says so where someone will read it.
    const second = await kpi('run', '--once');
    expect(second.code).toBe(0);
    const ops = slack.requests.filter((r) => r.path.includes('/ops/')).map((r) => (JSON.parse(r.body) as { text: string }).text);
    expect(ops).toEqual([`[FIRING] undelivered (critical): alerts: 1 notification could not be delivered in the last 24 h; last error: ${reason}`]);
    // Nothing more was asked of the webhook that wants a year's rest.
    expect(slack.requests.filter((r) => r.path.includes('/alerts/'))).toHaveLength(1);
  });
});
