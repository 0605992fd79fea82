import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.ts';
import { loadConfig } from '../../src/config/index.ts';
import { evaluateAlerts } from '../../src/alerts/index.ts';
import { recompute } from '../../src/metrics/index.ts';
import { addSilence } from '../../src/alerts/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { addRuns, days } from '../alerts/helpers.ts';
import { runCli, tempProject, type CliRun } from '../helpers/cli.ts';
import { testDatabaseUrlWithSchema, testPostgres, type TestPostgres } from '../helpers/warehouse.ts';
import { migrateToLatest, openWarehouse, type Warehouse } from '../../src/warehouse/index.ts';
import { reply, replyJson, startHttp, type HttpServer } from '../notify/helpers.ts';

// What a source or a campaign name could carry to a terminal.
const RETITLE = '\u001b]0;pwned\u0007';
const FAKE_SUCCESS = 'quota\r\u001b[32msucceeded\u001b[0m \u001b[2J';
const RTL = 'evil\u202etxt.exe';
const C1_CSI = 'c1\u009b31mred';

/** Raw C0/C1 controls (newlines and tabs aside) and bidi overrides: none may reach the terminal. */
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

describe('what the CLI prints from data and sources is shown, never obeyed', () => {
  let api: HttpServer;
  let wh: TestPostgres;
  let project: { dir: string; cleanup(): void };
  let env: NodeJS.ProcessEnv;
  const kpi = (...args: string[]): Promise<CliRun> => runCli([...args, '--config', 'kpi.yaml'], { env, cwd: project.dir });

  beforeAll(async () => {
    api = await startHttp((res, _n, req) =>
      req.path.startsWith('/orders') ? replyJson(res, 400, { error: { message: `${RETITLE} ${FAKE_SUCCESS} ${RTL}` } }) : reply(res, 200, 'ok'),
    );
    wh = await testPostgres();
    project = tempProject({
      'kpi.yaml': `
reporting: { timezone: UTC }
northStar: clicks
kpis:
  - { name: tricky, label: "Tricky \\e[31mred\\e[0m \\u202Eevil", formula: clicks / impressions, unit: percent }
connectors:
  - name: api
    type: http_json
    url: ${api.base}/orders
    recordsPath: orders
    fields: { date: day, metrics: { orders: { count: true } } }
  - { name: leads, type: csv, path: leads.csv, date: { column: Day }, metrics: { leads: Leads } }
channels:
  slack: { type: slack, url: "${api.base}/slack", minIntervalMs: 0 }
alerting: { groupWait: 0 }
alerts:
  - name: ctr_low
    series: { kpi: ctr, grain: day, dimension: campaign }
    condition: { kind: threshold, op: below, threshold: 0.02 }
    channels: [slack]
digest: { schedule: "0 8 * * 1", channels: [slack], kpis: [ctr], periods: 4 }
`,
      'bad.yaml': 'reporting: { timezone: "\\e]0;pwned\\a" }\n',
      'leads.csv': 'Day,Leads\n2026-01-01,3\n2026-01-02,5\n',
    });
    env = { DATABASE_URL: wh.url, USER: 'ops' };
    const values: Record<string, Record<string, number>> = {};
    for (let d = 2; d <= 29; d++) values[`2026-03-${String(d).padStart(2, '0')}`] = { impressions: 1000, clicks: 10 };
    await upsertFacts(wh.db, [...days({ campaign: RETITLE }, values), ...days({ campaign: `line\n${FAKE_SUCCESS}` }, values)]);
    const config = loadConfig(path.join(project.dir, 'kpi.yaml'), { env });
    // KPI values computed, so no later command finds work owed and evaluates the alerts at today's date.
    await recompute(wh.db, config);
    await evaluateAlerts(wh.db, config, { now: new Date('2026-03-30T06:00:00Z') });
  });
  afterAll(async () => {
    await api.close();
    await wh.close();
    project.cleanup();
  });

  it('kpi sync: a source error with OSC, CSI, carriage-return and bidi codes is printed as visible text, and the log line stays valid JSON', async () => {
    const res = await kpi('sync', 'api');
    const host = new URL(api.base).host;
    const said = `${host} rejected GET ${host}/orders (HTTP 400): \\u001b]0;pwned\\u0007 quota \\u001b[32msucceeded\\u001b[0m \\u001b[2J evil\\u202etxt.exe; check the connector's configuration (field names, account or property ids)`;
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/^api: failed \(run \d+\), 0 rows read, 0 written, 0 deleted, 0 rejected in \d+ ms\n/);
    expect(res.stdout.split('\n').slice(1)).toEqual([`  error: ${said}`, '']);
    const logged = JSON.parse(res.stderr) as { msg: string; err: string };
    expect(logged.msg).toBe('sync failed');
    // The log keeps the real characters, escaped as JSON.
    expect(logged.err).toBe(`${host} rejected GET ${host}/orders (HTTP 400): ${RETITLE} quota \u001b[32msucceeded\u001b[0m \u001b[2J ${RTL}; check the connector's configuration (field names, account or property ids)`);
  });

  it('kpi runs: the error column', async () => {
    await addRuns(wh.db, [{ connector: 'api', status: 'failed', started: '2026-03-30T06:00:00Z', finished: '2026-03-30T06:00:01.500Z', error: `${RETITLE}${FAKE_SUCCESS}` }]);
    const { id } = await wh.db.selectFrom('sync_runs').select((eb) => eb.fn.max('id').as('id')).executeTakeFirstOrThrow();
    const res = await kpi('runs', '--limit', '1');
    const error = '\\u001b]0;pwned\\u0007quota \\u001b[32msucceeded\\u001b[0m \\u001b[2J';
    const pad = (text: string, width: number) => text.padEnd(width);
    const idWidth = Math.max(2, String(id).length);
    expect(res).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        `┌${'─'.repeat(idWidth + 2)}┬───────────┬────────┬────────┬──────┬─────────┬─────────┬──────────┬──────────┬───────┬──────────┬${'─'.repeat(error.length + 2)}┐`,
        `│ ${pad('id', idWidth)} │ connector │ status │ window │ read │ written │ deleted │ rejected │ requests │ quota │ duration │ ${pad('error', error.length)} │`,
        `├${'─'.repeat(idWidth + 2)}┼───────────┼────────┼────────┼──────┼─────────┼─────────┼──────────┼──────────┼───────┼──────────┼${'─'.repeat(error.length + 2)}┤`,
        `│ ${pad(String(id), idWidth)} │ api       │ failed │        │ 0    │ 0       │ 0       │ 0        │ 0        │       │ 1.5 s    │ ${error} │`,
        `└${'─'.repeat(idWidth + 2)}┴───────────┴────────┴────────┴──────┴─────────┴─────────┴──────────┴──────────┴───────┴──────────┴${'─'.repeat(error.length + 2)}┘`,
        '',
      ].join('\n'),
    });
  });

  it('kpi alerts list: campaign names in the series and reason columns, one line per row; --json stays valid JSON', async () => {
    const res = await kpi('alerts', 'list');
    expect(res.stderr).toBe('');
    expect(res.stdout.split('\n')).toEqual([
      'times in UTC',
      '┌─────────┬───────────┬──────────┬──────────────────────────────────────────────────────────────────────┬────────┬──────────────────┬────────────┬──────────────────┬───────────────────────────────────────────────────────────────────────────────────────┐',
      '│ rule    │ kind      │ severity │ series                                                               │ state  │ since            │ last value │ firing since     │ reason                                                                                │',
      '├─────────┼───────────┼──────────┼──────────────────────────────────────────────────────────────────────┼────────┼──────────────────┼────────────┼──────────────────┼───────────────────────────────────────────────────────────────────────────────────────┤',
      '│ ctr_low │ threshold │ warning  │ campaign=\\u001b]0;pwned\\u0007                                        │ firing │ 2026-03-30 06:00 │ 1.0%       │ 2026-03-30 06:00 │ Click-through rate (campaign \\u001b]0;pwned\\u0007) 1.0% is below 2.0% on 2026-0…      │',
      '├─────────┼───────────┼──────────┼──────────────────────────────────────────────────────────────────────┼────────┼──────────────────┼────────────┼──────────────────┼───────────────────────────────────────────────────────────────────────────────────────┤',
      '│ ctr_low │ threshold │ warning  │ campaign=line\\u000aquota\\u000d\\u001b[32msucceeded\\u001b[0m \\u001b[2J │ firing │ 2026-03-30 06:00 │ 1.0%       │ 2026-03-30 06:00 │ Click-through rate (campaign line quota \\u001b[32msucceeded\\u001b[0m \\u001b[2J) 1.0%… │',
      '└─────────┴───────────┴──────────┴──────────────────────────────────────────────────────────────────────┴────────┴──────────────────┴────────────┴──────────────────┴───────────────────────────────────────────────────────────────────────────────────────┘',
      '',
    ]);
    const json = await kpi('alerts', 'list', '--json');
    expect(json.stdout).not.toMatch(RAW_CONTROL);
    const states = JSON.parse(json.stdout) as Array<{ labels: { campaign: string } }>;
    expect(states.map((s) => s.labels.campaign)).toEqual([RETITLE, `line\n${FAKE_SUCCESS}`]);
  });

  it('kpi report: a KPI label from the config with CSI and bidi codes; --json gives the label back as it is', async () => {
    const res = await kpi('report', '--as-of', '2026-03-30', '--grain', 'day');
    expect(res).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'KPI report, day 2026-03-29..2026-03-29 against 2026-03-28..2026-03-28 (as of 2026-03-30, USD)',
        '',
        'North Star: Clicks 20 (previous 20, 0.00%)',
        '',
        '┌──────────────────────────────────────────┬───────┬──────────┬─────────┐',
        '│ KPI                                      │ value │ previous │  change │',
        '│ Tricky \\u001b[31mred\\u001b[0m \\u202eevil │ 1.00% │    1.00% │ 0.00 pp │',
        '│ Click-through rate                       │ 1.00% │    1.00% │ 0.00 pp │',
        '└──────────────────────────────────────────┴───────┴──────────┴─────────┘',
        '',
      ].join('\n'),
    });
    const json = await kpi('report', '--as-of', '2026-03-30', '--grain', 'day', '--json');
    expect(json.stdout).not.toMatch(RAW_CONTROL);
    expect((JSON.parse(json.stdout) as { kpis: Array<{ label: string }> }).kpis[0]!.label).toBe('Tricky \u001b[31mred\u001b[0m \u202eevil');
  });

  it('kpi alerts silences: matchers, comment (C1 CSI, a newline) and author', async () => {
    await addSilence(wh.db, { matchers: [{ name: 'campaign', op: '=', value: RETITLE }], startsAt: new Date(), endsAt: new Date(Date.now() + 3_600_000), action: 'drop', comment: `${FAKE_SUCCESS}\nsecond line ${C1_CSI}`, createdBy: RTL });
    const res = await kpi('alerts', 'silences');
    expect(res.stderr).toBe('');
    const lines = res.stdout.split('\n');
    expect(lines).toHaveLength(7);
    expect(lines[4]).toMatch(/^│ 1 {2}│ campaign=\\u001b\]0;pwned\\u0007 │ \d{4}-\d\d-\d\d \d\d:\d\d │ \d{4}-\d\d-\d\d \d\d:\d\d │ drop {3}│ quota \\u001b\[32msucceeded\\u001b\[0m \\u001b\[2J second line c1\\u009b31mr… │ evil\\u202etxt\.exe │$/);
  });

  it('kpi digest (text): campaign names of firing alerts', async () => {
    const res = await kpi('digest', '--as-of', '2026-03-30');
    expect(res).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'Weekly KPI digest',
        'Week 13, 23–29 Mar 2026',
        '',
        'North Star: Clicks: 140 (±0.0%; previous 140)',
        '',
        'KPIs',
        '- Click-through rate: 1.0% (±0.00 pp; previous 1.0%)',
        '',
        'Firing alerts (2)',
        // The digest keeps each alert on one line: its own text has the control characters replaced by spaces already.
        '- ctr_low (campaign  ]0;pwned ): Click-through rate (campaign  ]0;pwned ) 1.0% is below 2.0% on 2026-03-29 (since 2026-03-30 06:00 UTC (UTC))',
        '- ctr_low (campaign line quota [32msucceeded [0m  [2J): Click-through rate (campaign line quota [32msucceeded [0m  [2J) 1.0% is below 2.0% on 2026-03-29 (since 2026-03-30 06:00 UTC (UTC))',
        '',
      ].join('\n'),
    });
  });

  it('kpi validate: a YAML value echoed in the error', async () => {
    const res = await runCli(['validate', '--config', 'bad.yaml'], { env, cwd: project.dir });
    const file = path.relative(process.cwd(), path.join(project.dir, 'bad.yaml'));
    expect(res).toEqual({
      code: 3,
      stdout: '',
      stderr: `configuration error:\n${file}:1:24 reporting.timezone: "\\u001b]0;pwned\\u0007" is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)\n`,
    });
  });

  it("keeps the progress bar's own carriage return and erase-line on a terminal", async () => {
    let stdout = '';
    let stderr = '';
    const code = await main(['sync', 'leads', '--from', '2026-01-01', '--to', '2026-01-02', '--config', 'kpi.yaml'], {
      stdout: { write: (s: string) => ((stdout += s), true), isTTY: true },
      stderr: { write: (s: string) => ((stderr += s), true) },
      env,
      cwd: project.dir,
    });
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const bar = '\rleads csv [###############...............] 1/2 days, 2026-01-01\u001b[K\rleads csv [##############################] 2/2 days, 2026-01-02\u001b[K\n';
    expect(stdout.slice(0, bar.length)).toBe(bar);
    expect(stdout.slice(bar.length)).toMatch(/^leads: succeeded \(run \d+\), 2 rows read, 2 written, 0 deleted, 0 rejected in \d+ ms\nrecomputed 2026-01-01\.\.2026-01-02; goals evaluated; \d+ notifications\n$/);
  });
});

describe('a campaign named after a configured secret (a hostile source can name its campaigns)', () => {
  // With characters JSON escapes, so --json output is checked in its escaped form too.
  const token = 'bottok-7Rq&"Zk2Pw9\\m';
  const yaml = `
reporting: { timezone: UTC }
channels:
  bot: { type: slack_bot, token: "\${env:BOT_TOKEN}", channel: "#alerts", baseUrl: "http://127.0.0.1:9/api" }
alerts:
  - name: ctr_low
    series: { kpi: ctr, grain: day, dimension: campaign }
    condition: { kind: threshold, op: below, threshold: 0.02 }
    channels: [bot]
`;
  let opened: { db: Awaited<ReturnType<typeof testDatabaseUrlWithSchema>>; wh: Warehouse; project: { dir: string; cleanup(): void } } | undefined;
  const env = (): NodeJS.ProcessEnv => ({ DATABASE_URL: opened!.db.url, BOT_TOKEN: token });

  beforeAll(async () => {
    const db = await testDatabaseUrlWithSchema();
    opened = { db, wh: await openWarehouse({ url: db.url, poolSize: 2 }), project: tempProject({ 'kpi.yaml': yaml }) };
    await migrateToLatest(opened.wh.db);
    await upsertFacts(opened.wh.db, days({ campaign: `promo ${token}` }, { '2026-03-29': { impressions: 1000, clicks: 10 } }));
    const config = loadConfig(path.join(opened.project.dir, 'kpi.yaml'), { env: env() });
    await recompute(opened.wh.db, config);
    await evaluateAlerts(opened.wh.db, config, { now: new Date('2026-03-30T06:00:00Z') });
  });
  afterAll(async () => {
    await opened?.wh.close();
    await opened?.db.drop();
    opened?.project.cleanup();
  });

  it('kpi alerts list shows it redacted, in the table and in --json', async () => {
    const kpi = (...args: string[]) => runCli([...args, '--config', 'kpi.yaml'], { env: env(), cwd: opened!.project.dir });
    const table = await kpi('alerts', 'list');
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('│ campaign=promo [redacted] │');
    const json = await kpi('alerts', 'list', '--json');
    expect((JSON.parse(json.stdout) as Array<{ labels: { campaign: string } }>).map((s) => s.labels.campaign)).toEqual(['promo [redacted]']);
    for (const out of [table.stdout, json.stdout]) {
      expect(out).not.toContain(token);
      expect(out).not.toContain(JSON.stringify(token).slice(1, -1));
    }
  });
});
