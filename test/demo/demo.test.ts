import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataset } from '../../src/sandbox/index.ts';
import { openWarehouse, type Warehouse } from '../../src/warehouse/index.ts';
import { runCli, type CliRun } from '../helpers/cli.ts';

const root = path.resolve(__dirname, '../..');
const AS_OF = '2026-06-30';

/** The demo, as the README's first command runs it, on a dated data set so its figures are known. */
describe('kpi demo', () => {
  let dir: string;
  let first: CliRun;
  let second: CliRun;
  let wh: Warehouse;
  const ds = createDataset({ seed: 42, endDate: AS_OF, days: 90 });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kpi-demo-'));
    first = await runCli(['demo', '--as-of', AS_OF, '--data', dir], { cwd: root, env: { PATH: process.env.PATH } });
    second = await runCli(['demo', '--as-of', AS_OF, '--data', dir], { cwd: root, env: { PATH: process.env.PATH } });
    wh = await openWarehouse({ dataDir: dir });
  }, 240_000);
  afterAll(async () => {
    await wh?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('syncs every connector of config/demo.yaml from the sandbox and exits 0', () => {
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    for (const name of ['ga4-shop', 'search-console', 'google-ads', 'meta-ads', 'mailchimp', 'sendgrid', 'linkedin-ads', 'tiktok-ads', 'klaviyo', 'hubspot-deals', 'crm-leads', 'shop-orders']) {
      expect(first.stdout).toMatch(new RegExp(`^  ${name} +succeeded: \\d+ read, \\d+ written, 0 quarantined`, 'm'));
    }
    expect(first.stdout).toContain('12 of 12 connectors synced');
  });

  it('backfills the whole data set: every day of every daily source is in the warehouse', async () => {
    const rows = await wh.db.selectFrom('metric_facts').select(['connector', (eb) => eb.fn.min('date').as('first'), (eb) => eb.fn.max('date').as('last')]).groupBy('connector').execute();
    const byConnector = Object.fromEntries(rows.map((r) => [r.connector, `${r.first}..${r.last}`]));
    for (const daily of ['ga4-shop', 'google-ads', 'meta-ads', 'sendgrid', 'linkedin-ads', 'tiktok-ads', 'klaviyo', 'crm-leads', 'shop-orders']) expect(byConnector[daily]).toBe(`${ds.startDate}..${AS_OF}`);
  });

  it("reports the North Star first, with last week's revenue equal to the data set's", () => {
    // Last complete week before 2026-06-30 (a Tuesday), weeks starting on Monday.
    const from = '2026-06-22';
    const to = '2026-06-28';
    let revenue = 0;
    for (const r of ds.ga4.range(from, to)) revenue += r.purchaseRevenue;
    const shown = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(Math.round(revenue * 100) / 100);
    expect(first.stdout).toContain(`KPI report, week ${from}..${to} against 2026-06-15..2026-06-21 (as of ${AS_OF}, EUR)`);
    expect(first.stdout).toMatch(new RegExp(`North Star: Revenue ${shown.replace(/[.]/g, '\\.')} EUR`));
    expect(first.stdout.indexOf('North Star')).toBeLessThan(first.stdout.indexOf('│ KPI'));
  });

  it('shows both goals and the OKR with their status', () => {
    expect(first.stdout).toMatch(/revenue-this-quarter: Revenue reach 560,000\.00 EUR from 2026-05-02 to 2026-07-30\n +\[[#-]{20}\] \d+% \(expected \d+%\) +(on track|at risk|off track)/);
    expect(first.stdout).toMatch(/cac-under-control: Blended CAC stay below 150\.00 EUR/);
    expect(first.stdout).toMatch(/grow-efficiently: Grow revenue without buying it\n +\[[#-]{20}\] \d+% +(on track|at risk|off track)/);
  });

  it('a second run is incremental and changes nothing that was already right', async () => {
    expect(second.code).toBe(0);
    const written = [...second.stdout.matchAll(/^  [a-z0-9-]+ +succeeded: (\d+) read, (\d+) written/gm)].map((m) => Number(m[2]));
    expect(written).toHaveLength(12);
    expect(written.every((w) => w === 0)).toBe(true);
    const firstRead = [...first.stdout.matchAll(/succeeded: (\d+) read/g)].reduce((s, m) => s + Number(m[1]), 0);
    const secondRead = [...second.stdout.matchAll(/succeeded: (\d+) read/g)].reduce((s, m) => s + Number(m[1]), 0);
    expect(secondRead).toBeLessThan(firstRead / 5);
    // Nothing changed, so nothing is recomputed.
    expect(first.stdout).toMatch(/^  recomputed KPIs for /m);
    expect(second.stdout).not.toMatch(/recomputed KPIs/);
  });

  it('fires the alerts the data set calls for and delivers them to the local Slack and SMTP catcher', () => {
    // Google Ads stops serving on the day before as-of; the revenue goal lags its pace.
    expect(first.stdout).toMatch(/\[FIRING\] ad-clicks-anomaly \(connector=google-ads\): Clicks \(Google Ads\) [\d,]+ on 2026-06-29 is below its usual range/);
    expect(first.stdout).toMatch(/\[FIRING\] revenue-goal-pace \(goal=revenue-this-quarter\)/);
    const outbox = readdirSync(path.join(dir, 'outbox'));
    expect(outbox.some((f) => f.startsWith('slack-') && f.endsWith('.json'))).toBe(true);
    expect(outbox.some((f) => f.startsWith('email-') && f.endsWith('.eml'))).toBe(true);
    const anomalyMail = outbox.filter((f) => f.endsWith('.eml')).map((f) => readFileSync(path.join(dir, 'outbox', f), 'utf8')).find((m) => m.includes('ad-clicks-anomaly'));
    expect(anomalyMail).toMatch(/^Subject: \[FIRING\] Ad clicks unusual for the weekday \(critical\)/m);
    // The second run finds them already notified: nothing is sent twice.
    expect(second.stdout).toContain('Messages sent: none this run');
    expect(readdirSync(path.join(dir, 'outbox'))).toEqual(outbox);
  });

  it('writes the weekly digest as HTML with its sparkline PNGs', () => {
    const digest = readdirSync(path.join(dir, 'digest'));
    expect(digest).toContain('digest.html');
    const html = readFileSync(path.join(dir, 'digest', 'digest.html'), 'utf8');
    const images = [...html.matchAll(/<img [^>]*src="([^"]+\.png)"/g)].map((m) => m[1]!);
    expect(images.length).toBeGreaterThan(5);
    for (const image of images) expect(digest).toContain(image);
    expect(readFileSync(path.join(dir, 'digest', images[0]!)).subarray(1, 4).toString()).toBe('PNG');
  });

  it('keeps its database under the data folder', () => {
    expect(readdirSync(path.join(dir, 'pglite'))).toContain('PG_VERSION');
  });
});
