import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pngjs from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { evaluateAlerts } from '../../src/alerts/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { runCli, tempProject } from '../helpers/cli.ts';
import { testPostgres, type TestPostgres } from '../helpers/warehouse.ts';
import { reply, startHttp, type HttpServer } from '../notify/helpers.ts';
import { at, days } from './helpers.ts';

const { PNG } = pngjs;

describe('kpi alerts and kpi digest', () => {
  let server: HttpServer;
  let wh: TestPostgres;
  let project: { dir: string; cleanup(): void };
  let env: NodeJS.ProcessEnv;
  const run = (...args: string[]) => runCli([...args, '--config', 'kpi.yaml'], { env, cwd: project.dir });

  beforeAll(async () => {
    server = await startHttp((res, _n, req) => (req.path.includes('/gone/') ? reply(res, 404, 'no_service') : reply(res, 200, 'ok')));
    wh = await testPostgres();
    project = tempProject({
      'kpi.yaml': `
reporting: { timezone: Europe/Berlin }
northStar: clicks
channels:
  slack: { type: slack, url: "\${env:SLACK_URL}", minIntervalMs: 0 }
  gone: { type: slack, url: "${server.base}/services/T/gone/x", minIntervalMs: 0, maxRetries: 0 }
alerting: { groupWait: 0 }
alerts:
  - name: ctr_low
    series: { kpi: ctr, grain: day, dimension: channel }
    condition: { kind: threshold, op: below, threshold: 0.02 }
    severity: critical
    channels: [slack]
  - name: stale
    condition: { kind: freshness }
    channels: [slack]
digest: { schedule: "0 8 * * 1", timezone: Europe/Berlin, channels: [slack], kpis: [ctr], periods: 4 }
`,
    });
    env = { DATABASE_URL: wh.url, SLACK_URL: `${server.base}/services/T/B/secret-part`, USER: 'ops' };
    const values: Record<string, Record<string, number>> = {};
    for (let d = 2; d <= 29; d++) values[`2026-03-${String(d).padStart(2, '0')}`] = { impressions: 1000, clicks: 10 + d };
    await upsertFacts(wh.db, [...days({ channel: 'paid_search' }, values), ...days({ channel: 'email', connector: 'mc' }, { '2026-03-29': { impressions: 100, clicks: 1 } })]);
  });
  afterAll(async () => {
    await server.close();
    await wh.close();
    project.cleanup();
  });

  it('alerts list shows rules not evaluated yet, then each series with state, since and last value', async () => {
    const before = await run('alerts', 'list');
    expect(before.code).toBe(0);
    expect(before.stdout).toMatch(/│ ctr_low +│ threshold +│ critical +│ +│ not evaluated yet/);

    const config = loadConfig(path.join(project.dir, 'kpi.yaml'), { env });
    // 2026-03-29: paid search 39/1000 = 3.9%, email 1/100 = 1%.
    await evaluateAlerts(wh.db, config, { now: at('2026-03-30T06:00:00Z') });
    const after = await run('alerts', 'list');
    expect(after.code).toBe(0);
    expect(after.stdout).toContain('times in Europe/Berlin');
    expect(after.stdout).toMatch(/│ ctr_low +│ threshold +│ critical +│ channel=email +│ firing +│ 2026-03-30 08:00 │ 1\.0% +│ 2026-03-30 08:00 +│ Click-through rate \(Email\) 1\.0% is below 2\.0% on/);
    expect(after.stdout).toMatch(/│ ctr_low +│ threshold +│ critical +│ channel=paid_search +│ ok +│ 2026-03-30 08:00 │ 3\.9% +│ +│/);
    expect(after.stdout).toMatch(/│ stale +│ freshness +│ warning +│ +│ not evaluated yet/);

    const json = await run('alerts', 'list', '--json');
    expect(JSON.parse(json.stdout)[0]).toMatchObject({ rule: 'ctr_low', instance: 'channel=email', state: 'firing', lastValue: 0.01, labels: { channel: 'email', alertname: 'ctr_low' } });
  });

  it('alerts test-channel sends a test notification, or exits 1 with the reason, or 2 for an unknown channel', async () => {
    const ok = await run('alerts', 'test-channel', 'slack');
    expect(ok).toMatchObject({ code: 0, stdout: 'sent a test notification to slack (slack)\n', stderr: '' });
    const body = JSON.parse(server.requests.at(-1)!.body) as { text: string };
    expect(body.text).toBe("[FIRING] Test notification (info): A test from kpi-pipeline to channel 'slack': if you can read this, alerts reach this channel.");

    const bad = await run('alerts', 'test-channel', 'gone');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      'could not send a test notification to gone: channels.gone.url: Slack rejected the message: HTTP 404 no_service (the webhook URL is wrong or the webhook was removed; create a new incoming webhook and update the url)\n',
    );
    const unknown = await run('alerts', 'test-channel', 'pager');
    expect(unknown).toMatchObject({ code: 2, stderr: "no channel named 'pager'; configured: slack, gone\n" });
    // Names every object has by inheritance are no channels either.
    for (const name of ['valueOf', 'constructor', '__proto__', 'hasOwnProperty']) {
      expect(await run('alerts', 'test-channel', name)).toMatchObject({ code: 2, stderr: `no channel named '${name}'; configured: slack, gone\n` });
    }
  });

  it('alerts silence, silences and unsilence', async () => {
    const set = await run('alerts', 'silence', '--matcher', 'alertname=ctr_low', '--matcher', 'channel=~em.*', '--for', '2h', '--comment', 'tracking fix under way', '--hold');
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/^silence 1: alertname=ctr_low, channel=~em\.\* until \d{4}-\d\d-\d\d \d\d:\d\d \(Europe\/Berlin\); notifications are held until it ends\n/);
    expect(set.stdout).toContain('matches 1 firing series: ctr_low{channel=email}\n');

    const list = await run('alerts', 'silences');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/│ 1 +│ alertname=ctr_low, channel=~em\.\* │ .+ │ hold +│ tracking fix under way │ ops │/);

    expect((await run('alerts', 'silence', '--matcher', 'nope', '--for', '2h')).code).toBe(2);
    expect(await run('alerts', 'silence', '--matcher', 'a=b', '--for', 'forever')).toMatchObject({
      code: 2,
      stderr: "error: option '--for <duration>' argument 'forever' is invalid. expected a duration from 1m to 365d, such as 30m, 2h or 1d\n(run with --help for usage)\n",
    });
    expect((await run('alerts', 'silence', '--for', '2h')).code).toBe(2);
    expect(await run('alerts', 'silence', '--matcher', 'campaign=~(?!brand).*', '--for', '2h')).toMatchObject({
      code: 2,
      stdout: '',
      stderr: "error: option '--matcher <k=v>' argument 'campaign=~(?!brand).*' is invalid. invalid regular expression in \"campaign=~(?!brand).*\": error parsing regexp: invalid or unsupported Perl syntax: `(?!` (RE2 syntax: no lookarounds or backreferences)\n(run with --help for usage)\n",
    });

    // A silence stored before matchers took RE2 syntax, with a lookahead: it matches nothing, and says so.
    const now = new Date();
    await wh.db.insertInto('alert_silences').values({ matchers: JSON.stringify([{ name: 'campaign', op: '=~', value: '(?!brand).*' }]), starts_at: now, ends_at: new Date(now.getTime() + 3_600_000) }).execute();
    expect((await run('alerts', 'silences')).stdout).toContain('silence 2 matches nothing: invalid regular expression in "campaign=~(?!brand).*": error parsing regexp: invalid or unsupported Perl syntax: `(?!` (RE2 syntax: no lookarounds or backreferences)\n');
    await wh.db.deleteFrom('alert_silences').where('id', '=', 2).execute();

    expect(await run('alerts', 'unsilence', '1')).toMatchObject({ code: 0, stdout: 'silence 1 ended\n' });
    expect(await run('alerts', 'unsilence', '1')).toMatchObject({ code: 2, stderr: 'no active silence with id 1\n' });
    expect((await run('alerts', 'silences')).stdout).toBe('no active silences\n');
    expect((await run('alerts', 'silences', '--all')).stdout).toContain('tracking fix under way');
  });

  it('digest prints, writes a folder with HTML and PNGs, and sends', async () => {
    const printed = await run('digest', '--as-of', '2026-03-30');
    expect(printed.code).toBe(0);
    expect(printed.stdout).toMatch(/^Weekly KPI digest\nWeek 13, 23–29 Mar 2026\n\nNorth Star: Clicks: 253 \(\+24\.6%; previous 203\)\n\nKPIs\n- Click-through rate: 3\.6% \(\+0\.66 pp; previous 2\.9%\)\n/);

    const out = await run('digest', '--as-of', '2026-03-30', '--out', 'digest');
    expect(out).toMatchObject({ code: 0, stdout: 'wrote Week 13, 23–29 Mar 2026 to digest: digest.html, digest.txt and 2 images\n' });
    const dir = path.join(project.dir, 'digest');
    const html = readFileSync(path.join(dir, 'digest.html'), 'utf8');
    expect(html).toContain('src="clicks.png"');
    expect(html).toContain('src="ctr.png"');
    expect(html).toContain('Firing alerts (1)');
    expect(existsSync(path.join(dir, 'digest.txt'))).toBe(true);
    expect(PNG.sync.read(readFileSync(path.join(dir, 'ctr.png'))).width).toBe(120);

    const before = server.requests.length;
    const sent = await run('digest', '--as-of', '2026-03-30', '--send');
    expect(sent).toMatchObject({ code: 0, stdout: 'sent the digest to slack\n' });
    expect(server.requests.length).toBe(before + 1);
  });

  it('digest --report picks a report by name; an unknown name exits 3 naming the reports there are', async () => {
    const yaml = readFileSync(path.join(project.dir, 'kpi.yaml'), 'utf8');
    writeFileSync(
      path.join(project.dir, 'reports.yaml'),
      `${yaml}reports:\n  - { name: team, title: Team daily, grain: day, northStar: false, kpis: [clicks], schedule: "0 7 * * *", channels: [slack], periods: 3 }\n`,
    );
    const runWith = (...args: string[]) => runCli([...args, '--config', 'reports.yaml'], { env, cwd: project.dir });
    // Sunday the 29th: paid search 10 + 29 clicks and email 1; Saturday 10 + 28.
    const printed = await runWith('digest', '--report', 'team', '--as-of', '2026-03-30');
    expect(printed.code).toBe(0);
    expect(printed.stdout).toMatch(/^Team daily\nSunday 29 March 2026\n\nKPIs\n- Clicks: 40 \(\+5\.3%; previous 38\)\n/);
    // Without --report: the digest, as before.
    expect((await runWith('digest', '--as-of', '2026-03-30')).stdout).toMatch(/^Weekly KPI digest\nWeek 13/);

    const before = server.requests.length;
    expect(await runWith('digest', '--report', 'team', '--as-of', '2026-03-30', '--send')).toMatchObject({ code: 0, stdout: "sent the report 'team' to slack\n" });
    expect(server.requests.length).toBe(before + 1);
    expect(JSON.parse(server.requests.at(-1)!.body)).toMatchObject({ text: 'Team daily: Sunday 29 March 2026' });

    const unknown = await runWith('digest', '--report', 'nope');
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain("reports: no report named 'nope'; the reports are team, digest");
  });

  it('exits 3 naming the path of a bad rule', async () => {
    writeFileSync(path.join(project.dir, 'bad.yaml'), 'alerts:\n  - name: x\n    series: { kpi: ctr }\n    condition: { kind: threshold, op: below, threshold: high }\n    channels: [slack]\n');
    const res = await runCli(['alerts', 'list', '--config', 'bad.yaml'], { env, cwd: project.dir });
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/^configuration error:\n\S*bad\.yaml:4:57 alerts\[0\]\.condition\.threshold: Invalid input: expected number, received string\n$/);
  });
});
