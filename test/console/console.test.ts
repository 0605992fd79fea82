/**
 * The web console in a real browser (Debian's chromium through playwright-core), on a
 * warehouse filled by real syncs of the demo's connectors against the sandbox's fake APIs.
 * The server is bound to 0.0.0.0, so everything asks for a sign-in; the browser may reach
 * 127.0.0.1 only. Each page's numbers are held against `kpi report --json`; a silence created
 * in the page keeps its notification from the Slack catcher while the other rule's goes out.
 * Screenshots of every page, laptop and phone width, go to artifacts/console-screenshots/.
 */
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DateTime } from 'luxon';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPipelineHandlers, startApp, type App } from '../../src/app.ts';
import { sandboxEnv } from '../../src/cli/demo.ts';
import { loadConfig, type Config } from '../../src/config/index.ts';
import { configChecks } from '../../src/config-checks.ts';
import { memoryGate, runCycle } from '../../src/jobs/index.ts';
import type { Report, Status } from '../../src/metrics/index.ts';
import { when } from '../../src/console/html.ts';
import { formatKpiChange, formatProgress, formatValue } from '../../src/notify/format.ts';
import { createDataset, startCatcher, startSandbox, writeCrmExport, type Catcher, type Sandbox } from '../../src/sandbox/index.ts';
import { runCli } from '../helpers/cli.ts';
import { LAPTOP, PHONE, launchBrowser, loopbackOnly, screenshotPath } from '../helpers/browser.ts';
import { testPostgres, type TestPostgres } from '../helpers/warehouse.ts';
import { capturedLogger, ROOT, waitFor, workDir } from '../reliability/helpers.ts';

// What the page functions below read in the browser (the project's TypeScript has no DOM library).
declare const document: { querySelectorAll(selector: string): { length: number }; activeElement: { tagName: string; textContent: string | null } | null; documentElement: { scrollWidth: number } };

const AS_OF = '2026-06-30';
const USER = 'ops';
const PASSWORD = 'console-pass-7c1e9a';
const DEMO = path.join(ROOT, 'config/demo.yaml');

/**
 * config/demo.yaml, with a sign-in, schedules that do not fire during the test, and two rules
 * that fire on the data once evaluated: one to silence in the page, one to be delivered.
 */
function consoleConfigYaml(withTestRules: boolean): string {
  const rule = (name: string) => `  - name: ${name}\n    series: { kpi: revenue, grain: day }\n    condition: { kind: threshold, op: above, threshold: 1 }\n    channels: [slack-marketing]\n`;
  return readFileSync(DEMO, 'utf8')
    .replace(/schedule: "[^"]+"/g, 'schedule: "0 0 1 1 *"')
    .replace('server:\n', `server:\n  dashboard: { user: ${USER}, password: "\${env:CONSOLE_PASSWORD}" }\n`)
    .replace('\nalerts:\n', `\nalerts:\n${withTestRules ? rule('console-silenced') + rule('console-control') : ''}`);
}

describe('the web console in a browser', () => {
  const wd = workDir('console');
  const { log } = capturedLogger('warn');
  let sandbox: Sandbox;
  let catcher: Catcher;
  let pg: TestPostgres;
  let env: Record<string, string>;
  let config: Config;
  let app: App;
  let base: string;
  let report: Report;
  let file: string;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  /** Every page's HTML, for the secret scan at the end. */
  const shown: string[] = [];
  const evaluatedAt = DateTime.fromISO(`${AS_OF}T21:00:00`, { zone: 'Europe/Berlin' }).toJSDate();

  beforeAll(async () => {
    const dataset = createDataset({ seed: 42, endDate: AS_OF, days: 90, anomalyDate: DateTime.fromISO(AS_OF).minus({ days: 1 }).toISODate()! });
    const crmDir = wd.path('crm');
    writeCrmExport(dataset, crmDir);
    // One line no calendar has: the CRM connector quarantines it, for the Connectors page to show.
    appendFileSync(path.join(crmDir, readdirSync(crmDir).sort().at(-1)!), '31.02.2026;paid_search;5;1\n');
    sandbox = await startSandbox(dataset);
    catcher = await startCatcher(wd.path('outbox'));
    env = { ...sandboxEnv(sandbox, catcher, { start: dataset.startDate, asOf: AS_OF, crmDir }), CONSOLE_PASSWORD: PASSWORD };
    file = wd.file('console.yaml', consoleConfigYaml(false));
    const seeded = loadConfig(file, { env, checks: configChecks });
    // The app runs with the two test rules, which the cycle below has not evaluated yet.
    config = loadConfig(wd.file('console-rules.yaml', consoleConfigYaml(true)), { env, checks: configChecks });
    pg = await testPostgres({ poolSize: 6 });
    // The demo's cycle: every connector synced from the sandbox, then recompute, goals, alerts.
    const now = () => evaluatedAt;
    const cycle = await runCycle({ connectors: seeded.connectors, handlers: createPipelineHandlers({ config: seeded, db: pg.db, log, now }), gate: memoryGate(), log, now });
    expect(cycle.ok).toBe(true);
    const cli = await runCli(['report', '--json', '--as-of', AS_OF, '--config', file], { env: { ...env, DATABASE_URL: pg.url }, cwd: ROOT });
    expect(cli.stderr).toBe('');
    report = JSON.parse(cli.stdout) as Report;
    app = await startApp({ config, warehouse: pg, env: {}, log, http: { port: 0, host: '0.0.0.0' }, background: false });
    base = `http://127.0.0.1:${app.port}`;
    browser = await launchBrowser();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop(5_000);
    await pg?.close();
    await catcher?.close();
    await sandbox?.close();
    wd.cleanup();
  });

  /** The sign-in form, as a person fills it: by keyboard, from the first field; the page asked for follows. */
  async function signIn(page: Page, path: string): Promise<void> {
    const first = await page.goto(`${base}${path}`);
    expect(first?.status()).toBe(401);
    await page.getByLabel('User', { exact: true }).fill(USER);
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.getByText(`Signed in as ${USER}`).waitFor({ timeout: 30_000 });
    expect(new URL(page.url()).pathname).toBe(path);
  }

  /** A page of a context that reaches 127.0.0.1 only, signed in at `path`. */
  async function signedIn(viewport: { width: number; height: number }, path: string): Promise<{ context: BrowserContext; blocked: string[]; page: Page }> {
    const { context, blocked } = await loopbackOnly(browser.browser, viewport);
    const opened = await context.newPage();
    await signIn(opened, path);
    return { context, blocked, page: opened };
  }

  /** Waits until Chart.js (served by the app) has drawn every chart of the page. */
  async function chartsDrawn(page: Page): Promise<number> {
    const charts = await page.locator('canvas[data-chart]').count();
    await page.waitForFunction((n) => document.querySelectorAll('canvas[data-drawn]').length === n, charts, { timeout: 30_000 });
    shown.push(await page.content());
    return charts;
  }

  /** The focused element: its tag and text. */
  const focused = (page: Page): Promise<string> => page.evaluate(() => `${document.activeElement?.tagName} ${document.activeElement?.textContent?.trim()}`);

  async function screenshots(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: screenshotPath(name), fullPage: true });
  }

  it('refuses an unauthenticated request on an address other than loopback (401) and serves a signed-in one', async () => {
    const anonymous = await fetch(`${base}/console/`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).toContain('<button type="submit">Sign in</button>');
    const wrong = await fetch(`${base}/console/`, { headers: { authorization: `Basic ${Buffer.from(`${USER}:not-the-password`).toString('base64')}` } });
    expect(wrong.status).toBe(401);
    const signedIn = await fetch(`${base}/console/?as_of=${AS_OF}`, { headers: { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` } });
    expect(signedIn.status).toBe(200);
    expect(await signedIn.text()).toContain('North Star');
    // A form posted from nowhere (no session, no token) changes nothing.
    const forged = await fetch(`${base}/console/alerts/silences`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` }, body: 'matchers=alertname%3Dconsole-silenced&for=2h' });
    expect(forged.status).toBe(403);
    expect(await pg.db.selectFrom('alert_silences').select('id').execute()).toEqual([]);
  });

  it('overview: the North Star first, then every KPI tile with the value, change and completeness of kpi report --json; goals as the report judges them', async () => {
    const { context, blocked, page } = await signedIn(LAPTOP, '/console/');
    await page.goto(`${base}/console/?as_of=${AS_OF}`);
    await chartsDrawn(page);
    const tiles = await page.locator('article.tile').evaluateAll((els) =>
      els.map((el) => ({
        kpi: el.getAttribute('data-kpi'),
        value: el.querySelector('.value')!.getAttribute('data-value'),
        shown: el.querySelector('.value')!.textContent!.trim(),
        change: el.querySelector('.change')!.textContent!.trim(),
        mark: el.querySelector('.mark')!.textContent!.trim(),
      })),
    );
    const lines = [report.northStar!, ...report.kpis];
    expect(tiles.map((t) => t.kpi)).toEqual(lines.map((l) => l.kpi));
    expect(tiles[0]!.kpi).toBe('revenue');
    expect(tiles.map((t) => ({ kpi: t.kpi, value: t.value === '' ? null : Number(t.value), shown: t.shown, change: t.change, complete: t.mark === 'complete' }))).toEqual(
      lines.map((l) => ({
        kpi: l.kpi,
        value: l.value,
        shown: formatValue(l.value, l.unit, report.currency),
        change: formatKpiChange({ value: l.value, previous: l.previous, changePct: l.change === null ? null : l.change * 100, unit: l.unit }),
        complete: l.complete,
      })),
    );
    // The North Star's sparkline: 12 weeks ending with the two the report compares.
    const spark = JSON.parse((await page.locator('article.northstar script[type="application/json"]').textContent())!) as { datasets: Array<{ data: Array<number | null> }> };
    expect(spark.datasets[0]!.data).toHaveLength(12);
    expect(spark.datasets[0]!.data.slice(-2)).toEqual([report.northStar!.previous, report.northStar!.value]);
    // Percent KPIs change in points.
    expect(tiles.find((t) => t.kpi === 'ctr')!.change).toMatch(/ pp$/);
    const goals = await page.locator('article[data-goal]').evaluateAll((els) => els.map((el) => [el.getAttribute('data-goal'), el.querySelector('[data-field="progress"]')!.textContent]));
    expect(goals).toEqual(report.goals.map((g) => [g.goal, g.progress === null ? 'n/a' : formatProgress(g.progress)]));
    // The anomaly the data set has (Google Ads stops serving) is among the firing alerts.
    expect(await page.locator('#firing').textContent()).toContain('ad-clicks-anomaly');
    await screenshots(page, 'overview-laptop');
    expect(blocked).toEqual([]);
    await context.close();
  });

  it('KPI explorer: the report period and the one before, a breakdown chosen by keyboard, a URL that shows the same again, and the CSV', async () => {
    const { context, blocked, page } = await signedIn(LAPTOP, '/console/kpi/revenue');
    await page.goto(`${base}/console/kpi/revenue?as_of=${AS_OF}`);
    await chartsDrawn(page);
    const newest = page.locator('#series tbody tr').first();
    expect(await newest.getAttribute('data-period')).toBe(report.current.start);
    expect(Number(await newest.locator('td').nth(1).getAttribute('data-value'))).toBe(report.northStar!.value);
    expect(await newest.locator('td').nth(3).textContent()).toBe(formatValue(report.northStar!.previous, 'currency', report.currency));

    // By keyboard: the breakdown select, then the Show button.
    await page.getByLabel('Break down by').focus();
    await page.getByLabel('Break down by').selectOption('channel');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('BUTTON Show');
    await page.keyboard.press('Enter');
    await page.waitForURL(/by=channel/, { timeout: 30_000 });
    expect(await chartsDrawn(page)).toBe(2);
    const shared = page.url();
    // Each channel GA4 (revenue's one source here) reports revenue in, with the report period's value.
    const channels = await pg.db.selectFrom('metric_facts').select('channel').distinct().where('metric', '=', 'revenue').where('connector', '=', 'ga4-shop').execute();
    const breakdown = await page.locator('#breakdown tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-value')));
    expect(breakdown.sort()).toEqual(channels.map((c) => c.channel).sort());
    expect(breakdown.length).toBeGreaterThan(1);
    const perChannel = await page.locator('#breakdown tbody tr td:last-child').evaluateAll((cells) => cells.map((c) => Number(c.getAttribute('data-value'))));
    expect(perChannel.reduce((a, b) => a + b, 0)).toBeCloseTo(report.northStar!.value!, 6);
    await screenshots(page, 'explorer-laptop');

    // The URL holds the view: opened afresh it shows the same.
    const again = await context.newPage();
    await again.goto(shared);
    await chartsDrawn(again);
    expect(await again.locator('#breakdown tbody tr').count()).toBe(breakdown.length);
    expect(await again.getByLabel('Break down by').inputValue()).toBe('channel');

    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), page.getByRole('link', { name: 'Download CSV' }).click()]);
    const csv = readFileSync((await download.path())!, 'utf8').split('\r\n');
    expect(csv[0]).toBe('kpi,grain,period_start,period_end,to_date,dimension,dimension_value,label,value,previous_period_start,previous_value,overlay_period_start,overlay_value');
    const row = csv.find((l) => l.startsWith(`revenue,week,${report.current.start},`))!.split(',');
    expect([Number(row[8]), Number(row[10])]).toEqual([report.northStar!.value, report.northStar!.previous]);
    expect(blocked).toEqual([]);
    await context.close();
  });

  it('goals: each goal with its progress, expected pace and forecast as the report judges them, drawn with a pace line and a forecast', async () => {
    const { context, blocked, page } = await signedIn(LAPTOP, '/console/goals');
    await page.goto(`${base}/console/goals?as_of=${AS_OF}`);
    expect(await chartsDrawn(page)).toBe(report.goals.filter((g) => g.status !== 'waiting').length);
    for (const g of report.goals) {
      const card = page.locator(`section#goal-${g.goal} article[data-goal]`);
      expect(await card.locator('[data-field="progress"]').textContent()).toBe(g.progress === null ? 'n/a' : formatProgress(g.progress));
      expect(await card.locator('[data-field="expected"]').textContent()).toBe(formatProgress(g.expected));
      expect(await card.locator('[data-field="forecast"]').textContent()).toBe(formatValue(g.forecast, g.unit, report.currency));
    }
    expect(await page.locator('article[data-okr="grow-efficiently"] [data-field="progress"]').textContent()).toBe(formatProgress(report.okrs[0]!.progress));
    await screenshots(page, 'goals-laptop');
    expect(blocked).toEqual([]);
    await context.close();
  });

  it('alerts: a silence created in the page keeps its rule\'s notification from Slack while the other rule\'s is delivered; then it is expired', async () => {
    const { context, blocked, page } = await signedIn(LAPTOP, '/console/alerts');
    await page.getByLabel(/^Matchers/).fill('alertname=console-silenced');
    await page.getByLabel(/^For/).fill('2h');
    await page.getByLabel('Comment').fill('checking the console');
    await page.getByRole('button', { name: 'Create silence' }).click();
    await page.getByRole('status').filter({ hasText: 'created' }).waitFor({ timeout: 30_000 });
    expect(await page.locator('#silence-list tbody tr').count()).toBe(1);
    expect(await page.locator('#silence-list tbody tr').textContent()).toContain('alertname=console-silenced');

    // The pipeline's own evaluate and notify steps: both new rules fire on the seeded revenue.
    const before = catcher.received.length;
    const evaluated = await app.handlers.evaluate(new Date(evaluatedAt.getTime() + 60_000));
    expect(evaluated.outboxIds.length).toBeGreaterThanOrEqual(2);
    await app.handlers.notify(evaluated.outboxIds);
    const caught = () => catcher.received.slice(before).map((m) => readFileSync(m.file, 'utf8'));
    await waitFor(() => caught().some((m) => m.includes('console-control')), { timeoutMs: 30_000, what: 'the control rule\'s message in the Slack catcher' });
    expect(caught().filter((m) => m.includes('console-silenced'))).toEqual([]);

    // The evaluation was of the data set's last day: its history is as old.
    await page.goto(`${base}/console/alerts?since=${AS_OF}`);
    expect(await page.locator('#history tr[data-rule="console-silenced"][data-kind="notification"]').first().getAttribute('data-result')).toBe('silenced');
    expect(await page.locator('#history tr[data-rule="console-control"][data-kind="notification"]').first().getAttribute('data-result')).toBe('sent');
    expect(await page.locator('#states tr[data-rule="console-silenced"]').getAttribute('data-state')).toBe('firing');
    shown.push(await page.content());
    await screenshots(page, 'alerts-laptop');

    await page.getByRole('button', { name: /^Expire silence/ }).click();
    await page.getByRole('status').filter({ hasText: 'expired' }).waitFor({ timeout: 30_000 });
    expect(await page.locator('#silence-list').count()).toBe(0);
    expect(blocked).toEqual([]);
    await context.close();
  });

  it('connectors: each as kpi status --json judges it, with its runs\' rows and the quarantined CRM line with its reason', async () => {
    const cli = await runCli(['status', '--json', '--config', file], { env: { ...env, DATABASE_URL: pg.url }, cwd: ROOT });
    expect(cli.stderr).toBe('');
    const status = JSON.parse(cli.stdout) as Status;
    const zone = config.alerting.timezone ?? config.reporting.timezone;
    const { context, blocked, page } = await signedIn(LAPTOP, '/console/connectors');
    shown.push(await page.content());
    const rows = await page.locator('#connectors tbody tr').evaluateAll((trs) => trs.map((tr) => [tr.getAttribute('data-connector'), tr.getAttribute('data-verdict'), tr.querySelectorAll('td')[1]!.textContent]));
    expect(rows).toEqual(status.connectors.map((c) => [c.name, c.verdict, when(c.lastSuccessAt === null ? null : new Date(c.lastSuccessAt), zone)]));
    const crm = status.connectors.find((c) => c.name === 'crm-leads')!;
    expect(crm.quarantine.count).toBe(1);
    const section = page.locator('#connector-crm-leads');
    expect(await section.locator('table.quarantine tbody tr td').nth(3).textContent()).toBe(crm.quarantine.latest[0]!.reason);
    expect(await section.locator('table.runs tbody tr').first().locator('td').nth(7).textContent()).toBe(String(crm.runs[0]!.rowsQuarantined));
    expect(await section.locator('[data-field="next-run"]').textContent()).toContain(when(new Date(crm.nextRunAt!), zone));
    await screenshots(page, 'connectors-laptop');
    // The records themselves, on asking.
    await page.goto(`${base}/console/connectors?quarantine=crm-leads`);
    expect(await page.locator('#quarantine-crm-leads').textContent()).toContain('31.02.2026');
    shown.push(await page.content());
    expect(blocked).toEqual([]);
    await context.close();
  });

  it('every page at phone width, keyboard reachable, with nothing fetched beyond loopback and no secret shown', async () => {
    const { context, blocked, page } = await signedIn(PHONE, '/console/');
    for (const [name, path] of [
      ['overview', `/console/?as_of=${AS_OF}`],
      ['explorer', `/console/kpi/ctr?as_of=${AS_OF}&by=channel`],
      ['goals', `/console/goals?as_of=${AS_OF}`],
      ['alerts', '/console/alerts'],
      ['connectors', '/console/connectors'],
    ] as const) {
      await page.goto(`${base}${path}`);
      await chartsDrawn(page);
      // The first Tab reaches the skip link, the next the first section of the navigation.
      await page.keyboard.press('Tab');
      expect(await focused(page)).toBe('A Skip to content');
      await page.keyboard.press('Tab');
      expect(await focused(page)).toBe('A Overview');
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      expect(width).toBeLessThanOrEqual(PHONE.width);
      await screenshots(page, `${name}-phone`);
    }
    expect(blocked).toEqual([]);
    const secrets = [PASSWORD, ...Object.entries(env).filter(([k]) => /TOKEN|KEY|SECRET|WEBHOOK/.test(k)).map(([, v]) => v)];
    for (const html of shown) for (const secret of secrets) expect(html.includes(secret), `a page shows the secret ${secret.slice(0, 3)}…`).toBe(false);
    await context.close();
  });
});
