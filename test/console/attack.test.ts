/**
 * The console attacked without a browser: hostile data (markup, quotes, formulas, secrets) in
 * every text a page or the CSV shows, odd URLs and parameters, sign-in guessing from one
 * address (or from behind a proxy), forged writes, and a warehouse with nothing in it yet.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { consoleRoutes } from '../../src/console/index.ts';
import { SERIES_PAGE } from '../../src/console/alerts.ts';
import { createPipelineMetrics, createServer } from '../../src/server/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { useWarehouse } from '../helpers/warehouse.ts';
import { addRuns, clearAlerts, configFrom, days } from '../alerts/helpers.ts';
import { capturedLogger } from '../reliability/helpers.ts';

const PASSWORD = 'attack-console-password';
const TOKEN = 'attack-wall-screen-token-42';
const SECRET = 'sk_live_Attack/Secret+Value=9';
const yaml = (extra = '') => `
reporting: { timezone: UTC }
server:
  dashboard: { user: ops, password: "\${env:CONSOLE_PASSWORD}" }
  token: "\${env:CONSOLE_TOKEN}"
connectors:
  - name: gads
    type: http_json
    url: https://api.example/x
    auth: { type: header, name: X-Key, value: "\${env:SOURCE_KEY}" }
    pagination: { type: none }
    recordsPath: rows
    fields: { date: date, metrics: { clicks: { sum: clicks } } }
channels:
  mail: { type: email, host: 127.0.0.1, port: 2525, from: a@example.com, to: [b@example.com] }
alerts:
  - name: clicks_low
    series: { kpi: clicks, grain: day, dimension: campaign }
    condition: { kind: threshold, op: below, threshold: 1 }
    channels: [mail]
${extra}`;
const ENV = { CONSOLE_PASSWORD: PASSWORD, CONSOLE_TOKEN: TOKEN, SOURCE_KEY: SECRET };
const config = configFrom(yaml(), ENV);
const EVIL = `</script><script>alert(1)</script>"'><img src=x onerror=alert(2)>`;

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const PAGES = ['/console/', '/console/kpi/clicks', '/console/kpi/clicks?by=campaign', '/console/goals', '/console/alerts', '/console/connectors'];

/** Every form a secret takes on its way out that a reader could decode. */
const secretForms = (s: string) => [s, encodeURIComponent(s), Buffer.from(s).toString('base64'), Buffer.from(s).toString('base64url'), JSON.stringify(s).slice(1, -1)];

describe('the console under attack', () => {
  const wh = useWarehouse('pglite', clearAlerts);
  let app: FastifyInstance;
  let open: FastifyInstance;
  let proxied: FastifyInstance;
  const server = (host: string, trustProxy?: string[]) => createServer({ db: wh.db, metrics: createPipelineMetrics({ db: wh.db }), console: consoleRoutes({ db: wh.db, config: () => config, host }), ...(trustProxy ? { trustProxy } : {}) });

  beforeAll(async () => {
    app = await server('127.0.0.1');
    open = await server('0.0.0.0');
    proxied = await server('0.0.0.0', ['127.0.0.1']);
  });
  afterAll(async () => {
    await app.close();
    await open.close();
    await proxied.close();
  });

  async function signIn(target: FastifyInstance, headers: Record<string, string> = {}): Promise<{ cookie: string; csrf: string; setCookie: string }> {
    const res = await target.inject({ method: 'POST', url: '/console/login', headers: { ...FORM, ...headers }, payload: form({ user: 'ops', password: PASSWORD, next: '/console/alerts' }) });
    expect(res.statusCode).toBe(303);
    const setCookie = String(res.headers['set-cookie']);
    const cookie = setCookie.split(';')[0]!;
    const page = await target.inject({ url: '/console/alerts', headers: { ...headers, cookie } });
    return { cookie, csrf: /name="csrf" value="([^"]+)"/.exec(page.body)![1]!, setCookie };
  }

  it('an empty warehouse on first start: every page renders, says there is nothing yet, never NaN, undefined or Infinity', async () => {
    for (const url of [...PAGES, '/console/kpi/clicks/data.csv', '/console/?period=current', '/console/kpi/clicks?grain=quarter&periods=8']) {
      const res = await app.inject({ url });
      expect([url, res.statusCode]).toEqual([url, 200]);
      expect([url, /NaN|undefined|Infinity|\[object Object\]/.exec(res.body)?.[0]]).toEqual([url, undefined]);
    }
    for (const url of ['/console/', '/console/kpi/clicks']) expect((await app.inject({ url })).body).toContain('<p class="notice" role="status" id="no-data">No data yet: no connector has written any facts.');
    const connectors = await app.inject({ url: '/console/connectors' });
    expect(connectors.body).toContain('No runs yet.');
    const alerts = await app.inject({ url: '/console/alerts' });
    expect(/<p id="series-count">([^<]*)/.exec(alerts.body)?.[1]).toBe('1 series: ');
    expect(alerts.body).toContain('not evaluated yet');
  });

  it('markup, quotes and </script> in campaign names, error texts and silences come out as text; javascript: never becomes a link', async () => {
    await upsertFacts(wh.db, days({ connector: 'gads', campaign: EVIL, channel: 'javascript:alert(3)' }, { '2026-06-01': { clicks: 5 }, '2026-06-02': { clicks: 7 } }));
    await upsertFacts(wh.db, days({ connector: 'gads', campaign: `named after ${SECRET}` }, { '2026-06-02': { clicks: 2 } }));
    await addRuns(wh.db, [{ connector: 'gads', status: 'failed', started: '2026-06-02T10:00:00Z', error: `HTTP 500: ${EVIL} while reading https://api.example/x?key=${SECRET}` }]);
    const { cookie, csrf } = await signIn(app);
    const created = await app.inject({ method: 'POST', url: '/console/alerts/silences', headers: { ...FORM, cookie }, payload: form({ matchers: `campaign=${EVIL.replace(/[\r\n]/g, '')}`, for: '1h', comment: EVIL, csrf }) });
    expect(created.statusCode).toBe(303);
    const urls = ['/console/kpi/clicks?by=campaign&grain=day&as_of=2026-06-03', `/console/kpi/clicks?grain=day&as_of=2026-06-03&campaign=${encodeURIComponent(EVIL)}`, '/console/connectors', '/console/alerts', `/console/alerts?matchers=${encodeURIComponent(EVIL)}`, '/console/?grain=day&as_of=2026-06-03'];
    for (const url of urls) {
      const res = await app.inject({ url, headers: { cookie } });
      expect([url, res.statusCode]).toEqual([url, 200]);
      // The only script elements are the page's own and the charts' JSON; no tag or handler from the data.
      expect([url, res.body.match(/<script(?![^>]*(src="\/console\/assets\/|type="application\/json"))[^>]*>/g)]).toEqual([url, null]);
      // Attribute values are quoted with " escaped inside them: with them set aside, no tag or handler is left from the data.
      expect([url, /<img|<[^>]*\sonerror=/i.exec(res.body.replace(/"[^"]*"/g, '""'))?.[0], /href="\s*javascript:/i.exec(res.body)?.[0]]).toEqual([url, undefined, undefined]);
      for (const json of res.body.match(/<script type="application\/json"[^>]*>[\s\S]*?<\/script>/g) ?? []) expect(json.slice(0, -'</script>'.length)).not.toMatch(/<\/script/i);
      for (const s of secretForms(SECRET)) expect([url, res.body.includes(s)]).toEqual([url, false]);
    }
    const explorer = await app.inject({ url: '/console/kpi/clicks?by=campaign&grain=day&as_of=2026-06-03' });
    expect(explorer.body).not.toContain('id="no-data"');
    expect(explorer.body).toContain('&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&gt;&lt;img src=x onerror=alert(2)&gt;');
    const connectors = await app.inject({ url: '/console/connectors' });
    expect(/data-field="last-error">([^<]*)/.exec(connectors.body)?.[1]).toContain('HTTP 500: &lt;/script&gt;');
  });

  it('the CSV: a cell that starts with = + - @ is text to a spreadsheet, and no secret is in it', async () => {
    const names = ['=HYPERLINK("http://evil.example","x")', '+SUM(A1)', '-2+3', '@cmd', `brand ${SECRET}`];
    for (const campaign of names) await upsertFacts(wh.db, days({ connector: 'gads', campaign }, { '2026-06-01': { clicks: 4 } }));
    const res = await app.inject({ url: '/console/kpi/clicks/data.csv?by=campaign&grain=day&as_of=2026-06-02&periods=2' });
    expect(res.statusCode).toBe(200);
    const labels = res.body.trim().split('\r\n').slice(1).filter((l) => l.includes(',campaign,')).map((l) => l.split(',campaign,')[1]!);
    for (const label of labels) expect(label).not.toMatch(/^"?[=+\-@]/);
    expect(labels.some((l) => l.startsWith(`"'=HYPERLINK(""http://evil.example""`))).toBe(true);
    for (const s of secretForms(SECRET)) expect(res.body.includes(s)).toBe(false);
  });

  it('the asset route serves its three files and nothing else, whatever the spelling', async () => {
    for (const url of ['/console/assets/constructor', '/console/assets/__proto__', '/console/assets/toString', '/console/assets/hasOwnProperty', '/console/assets/..%2f..%2fpackage.json', '/console/assets/%2e%2e%2f%2e%2e%2fpackage.json', '/console/assets/..%252f..%252fpackage.json', '/console/assets/../../package.json', '/console/assets/..\\..\\package.json', '/console/assets/console.js%00.json']) {
      const res = await open.inject({ url });
      expect([url, res.statusCode]).toEqual([url, 404]);
      expect(res.body).not.toContain('"dependencies"');
    }
    expect((await open.inject({ url: '/console/assets/console.css' })).statusCode).toBe(200);
  });

  it('bad parameters are a 400 saying which, never a 500', async () => {
    const cases: Array<[string, string]> = [
      ['/console/?as_of=0001-01-01&grain=quarter', 'as_of must be a date from 1970-01-01 to 2999-12-31'],
      ['/console/kpi/clicks?as_of=9999-12-31', 'as_of must be a date from 1970-01-01 to 2999-12-31'],
      ['/console/goals?as_of=9999-12-31', 'as_of must be a date from 1970-01-01 to 2999-12-31'],
      ['/console/kpi/clicks?grain=day&periods=366&as_of=1970-01-01', ''],
      ['/console/?as_of=2026-02-30', 'as_of must be a date as YYYY-MM-DD'],
      ['/console/alerts?page=0', 'page must be a whole number from 1 to 1'],
      ['/console/alerts?page=1e3', 'page must be a whole number from 1 to 1'],
      ['/console/alerts?rule=__proto__', 'rule must name a rule of this configuration'],
      ['/console/alerts?state=exploded', 'state must be one of firing, pending, ok, not evaluated'],
    ];
    for (const [url, message] of cases) {
      const res = await app.inject({ url });
      if (message === '') expect([url, res.statusCode]).toEqual([url, 200]);
      else expect([url, res.statusCode, /<p class="error">([^<]+)<\/p>/.exec(res.body)?.[1]]).toEqual([url, 400, message]);
    }
    const csv = await app.inject({ url: '/console/kpi/clicks/data.csv?as_of=0001-01-01&grain=quarter' });
    expect([csv.statusCode, csv.body]).toEqual([400, 'as_of must be a date from 1970-01-01 to 2999-12-31\n']);
  });

  it('writes: no session, no token, a forged token, another site, a malformed Origin or a GET all write nothing', async () => {
    const { cookie, csrf } = await signIn(app);
    const payload = (extra: Record<string, string> = {}) => form({ matchers: 'alertname=clicks_low', for: '1h', ...extra });
    const attempts = [
      { headers: FORM, payload: payload({ csrf }) },
      { headers: { ...FORM, cookie }, payload: payload() },
      { headers: { ...FORM, cookie }, payload: payload({ csrf: `${csrf.slice(0, -2)}AA` }) },
      { headers: { ...FORM, cookie, origin: 'https://evil.example' }, payload: payload({ csrf }) },
      { headers: { ...FORM, cookie, origin: 'not a url' }, payload: payload({ csrf }) },
      { headers: { ...FORM, cookie: `${cookie}x` }, payload: payload({ csrf }) },
    ];
    for (const a of attempts) {
      const res = await app.inject({ method: 'POST', url: '/console/alerts/silences', ...a });
      expect([a.headers, res.statusCode]).toEqual([a.headers, 403]);
    }
    for (const url of ['/console/alerts/silences?matchers=alertname%3Dclicks_low&for=1h', '/console/logout', '/console/alerts/silences/1/expire']) {
      expect([url, (await app.inject({ url, headers: { cookie } })).statusCode]).toEqual([url, 404]);
    }
    expect(await wh.db.selectFrom('alert_silences').select('id').execute()).toEqual([]);
    // Signing out needs the form's token too: a link of another site cannot end the session.
    const forgedOut = await app.inject({ method: 'POST', url: '/console/logout', headers: { ...FORM, cookie }, payload: form({}) });
    expect(forgedOut.headers['set-cookie']).toBeUndefined();
    const out = await app.inject({ method: 'POST', url: '/console/logout', headers: { ...FORM, cookie }, payload: form({ csrf }) });
    expect(String(out.headers['set-cookie'])).toBe('kpi_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0');
  });

  it('the session cookie: HttpOnly and SameSite=Strict always, Secure behind an https proxy the server trusts', async () => {
    expect((await signIn(open)).setCookie).toMatch(/HttpOnly; SameSite=Strict; Max-Age=43200$/);
    const behind = await signIn(proxied, { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.7' });
    expect(behind.setCookie).toMatch(/HttpOnly; SameSite=Strict; Max-Age=43200; Secure$/);
    // The page to go back to goes into a Location header: a line break in its query is no header of its own, nor a 500.
    const injected = await open.inject({ method: 'POST', url: '/console/login', headers: FORM, payload: form({ user: 'ops', password: PASSWORD, next: '/console/?x=1\r\nSet-Cookie: kpi_console=evil' }) });
    expect([injected.statusCode, injected.headers.location]).toEqual([303, '/console/']);
    // A session cookie planted before signing in is not kept: signing in sets a fresh one.
    const planted = 'kpi_console=planted-by-someone-else';
    const res = await open.inject({ method: 'POST', url: '/console/login', headers: { ...FORM, cookie: planted }, payload: form({ user: 'ops', password: PASSWORD }) });
    expect(String(res.headers['set-cookie'])).not.toContain('planted');
  });

  it('sign-in guessing: locked per user name and address, so a stranger locks out neither another address, nor the token, nor (behind a trusted proxy) the clients beside them', async () => {
    const guess = (target: FastifyInstance, user: string, password: string, headers: Record<string, string> = {}, remoteAddress?: string) =>
      target.inject({ method: 'POST', url: '/console/login', headers: { ...FORM, ...headers }, payload: form({ user, password }), ...(remoteAddress ? { remoteAddress } : {}) });
    for (let i = 0; i < 10; i++) expect((await guess(open, 'ops', `guess-${i}`, {}, '198.51.100.1')).statusCode).toBe(401);
    const locked = await guess(open, 'ops', PASSWORD, {}, '198.51.100.1');
    expect(locked.statusCode).toBe(429);
    expect(locked.body).toContain('Too many wrong sign-ins for this user from this address');
    expect((await guess(open, '', TOKEN, {}, '198.51.100.1')).statusCode).toBe(303);
    expect((await guess(open, 'ops', PASSWORD, {}, '198.51.100.2')).statusCode).toBe(303);
    // Made-up names share one count per address: they cannot flood the table, nor lock out `ops`.
    for (let i = 0; i < 12; i++) await guess(open, `nobody-${i}`, 'x', {}, '198.51.100.3');
    expect((await guess(open, 'nobody-99', 'x', {}, '198.51.100.3')).statusCode).toBe(429);
    expect((await guess(open, 'ops', PASSWORD, {}, '198.51.100.3')).statusCode).toBe(303);
    // Behind the proxy the server trusts, each client counts as itself.
    for (let i = 0; i < 10; i++) await guess(proxied, 'ops', `guess-${i}`, { 'x-forwarded-for': '203.0.113.66' });
    expect((await guess(proxied, 'ops', PASSWORD, { 'x-forwarded-for': '203.0.113.66' })).statusCode).toBe(429);
    expect((await guess(proxied, 'ops', PASSWORD, { 'x-forwarded-for': '203.0.113.67' })).statusCode).toBe(303);
    // A proxy the server does not trust: the operator is told, once, why the count is shared.
    const { log, lines } = capturedLogger('warn');
    const unaware = await createServer({ db: wh.db, metrics: createPipelineMetrics({ db: wh.db }), console: consoleRoutes({ db: wh.db, config: () => config, host: '0.0.0.0', log }) });
    try {
      for (let i = 0; i < 3; i++) await guess(unaware, 'ops', 'wrong', { 'x-forwarded-for': `203.0.113.${i}` });
      const warnings = lines.filter((l) => l.includes('server.trustProxy does not name it'));
      expect(warnings.length).toBe(1);
      expect(JSON.parse(warnings[0]!).address).toBe('127.0.0.1');
    } finally {
      await unaware.close();
    }
  });

  it('on an address other than loopback with no sign-in configured, nothing is shown and the page says what to set', async () => {
    const bare = configFrom('reporting: { timezone: UTC }');
    const { log, lines } = capturedLogger('warn');
    const closed = await createServer({ db: wh.db, metrics: createPipelineMetrics({ db: wh.db }), console: consoleRoutes({ db: wh.db, config: () => bare, host: '0.0.0.0', log }) });
    try {
      expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['the web console at /console shows nothing: it listens on an address other than loopback and neither server.dashboard nor server.token is set, so no one can sign in']);
      for (const url of [...PAGES, '/console/kpi/clicks/data.csv']) {
        const res = await closed.inject({ url });
        expect([url, res.statusCode]).toEqual([url, 401]);
        expect(res.body).toContain('Signing in needs <code>server.dashboard</code>');
        expect(res.body).toContain('This server listens on an address other than loopback, so nothing is shown without it.');
        expect(res.body).not.toContain('<form class="stack"');
      }
    } finally {
      await closed.close();
    }
  });

  it('the alerts page pages thousands of series: the count by state, firing first, a page at a time, the URL keeping since, rule and state', async () => {
    const total = 2 * SERIES_PAGE + 30;
    const rows = Array.from({ length: total }, (_, i) => {
      const campaign = `c${String(i).padStart(4, '0')}`;
      const state = i % 97 === 5 ? 'firing' : i % 50 === 7 ? 'pending' : 'ok';
      return { rule: 'clicks_low', instance: `campaign=${campaign}`, labels: JSON.stringify({ alertname: 'clicks_low', campaign }), state, state_since: new Date('2026-06-01T00:00:00Z'), reason: `${state} ${campaign}` };
    });
    await wh.db.insertInto('alert_instances').values(rows).execute();
    const firing = rows.filter((r) => r.state === 'firing').map((r) => r.instance);
    const pending = rows.filter((r) => r.state === 'pending').map((r) => r.instance);
    const seriesOf = (body: string) => [...body.matchAll(/<tr data-rule="clicks_low" data-state="(\w+)"><td>.*?<\/td><td>\w+<\/td><td>([^<]+)<\/td>/g)].map((m) => [m[1], m[2]]);

    const first = await app.inject({ url: '/console/alerts?since=30d' });
    expect(first.statusCode).toBe(200);
    const shown = seriesOf(first.body);
    expect(shown.length).toBe(SERIES_PAGE);
    expect(shown.slice(0, firing.length + pending.length)).toEqual([...firing.map((f) => ['firing', f]), ...pending.map((p) => ['pending', p])]);
    expect(/<p id="series-count">([\s\S]*?)<\/p>/.exec(first.body)![1]!.replace(/<[^>]+>/g, '')).toBe(`${total} series: ${firing.length} firing, ${pending.length} pending, ${total - firing.length - pending.length} ok`);
    expect(first.body).toContain(`Page 1 of 3 (series 1–${SERIES_PAGE} of ${total})`);
    const next = /<a href="([^"]+)" rel="next">/.exec(first.body)![1]!.replace(/&amp;/g, '&');
    expect(next).toBe('/console/alerts?since=30d&page=2#states-title');

    const last = await app.inject({ url: '/console/alerts?since=30d&page=3' });
    expect(seriesOf(last.body).length).toBe(total - 2 * SERIES_PAGE);
    expect(last.body).toContain(`Page 3 of 3 (series ${2 * SERIES_PAGE + 1}–${total} of ${total})`);

    const onlyFiring = await app.inject({ url: '/console/alerts?state=firing&rule=clicks_low' });
    expect(seriesOf(onlyFiring.body)).toEqual(firing.map((f) => ['firing', f]));
    expect(onlyFiring.body).not.toContain('rel="next"');
    expect((await app.inject({ url: '/console/alerts?page=4' })).statusCode).toBe(400);
    // The overview's firing list links each series to its rule's firing series on this page.
    const overview = await app.inject({ url: '/console/' });
    expect(overview.body).toContain('href="/console/alerts?rule=clicks_low&amp;state=firing#states-title"');
  });

  it('the overview lists the first 25 firing series of the configured rules and links to all of them', async () => {
    const firing = (rule: string, i: number) => ({ rule, instance: `campaign=f${String(i).padStart(3, '0')}`, labels: JSON.stringify({ alertname: rule, campaign: `f${i}` }), state: 'firing', state_since: new Date('2026-06-01T00:00:00Z'), reason: `firing f${i}` });
    // 40 of clicks_low, stored out of order; a rule no longer configured fires too, and is not counted.
    await wh.db.insertInto('alert_instances').values([...Array.from({ length: 40 }, (_, i) => firing('clicks_low', 39 - i)), ...Array.from({ length: 5 }, (_, i) => firing('removed_rule', i))]).execute();
    await wh.db.insertInto('alert_instances').values({ ...firing('clicks_low', 99), state: 'ok' }).execute();
    const overview = await app.inject({ url: '/console/' });
    const list = /<ul id="firing">([\s\S]*?)<\/ul>/.exec(overview.body)![1]!;
    expect([...list.matchAll(/\(campaign=(f\d+)\)/g)].map((m) => m[1])).toEqual(Array.from({ length: 25 }, (_, i) => `f${String(i).padStart(3, '0')}`));
    expect(list).not.toContain('removed_rule');
    expect(overview.body).toContain('All 40 firing series');
  });
});
