/**
 * Who may read and who may write in the console, without a browser: on loopback the pages
 * are open but a silence needs a signed-in session and its form's token; off loopback nothing
 * is shown before a sign-in; a bad parameter is a 400 saying which.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { consoleRoutes } from '../../src/console/index.ts';
import { createPipelineMetrics, createServer } from '../../src/server/index.ts';
import { useWarehouse } from '../helpers/warehouse.ts';
import { configFrom } from '../alerts/helpers.ts';

const PASSWORD = 'a-long-console-password';
const TOKEN = 'wall-screen-token-0123456789';
const config = configFrom(`
reporting: { timezone: UTC }
server:
  dashboard: { user: ops, password: "\${env:CONSOLE_PASSWORD}" }
  token: "\${env:CONSOLE_TOKEN}"
`, { CONSOLE_PASSWORD: PASSWORD, CONSOLE_TOKEN: TOKEN });

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('console access', () => {
  const wh = useWarehouse('pglite');
  let loopback: FastifyInstance;
  let open: FastifyInstance;

  const server = (host: string) => createServer({ db: wh.db, metrics: createPipelineMetrics({ db: wh.db }), console: consoleRoutes({ db: wh.db, config: () => config, host }) });

  beforeAll(async () => {
    loopback = await server('127.0.0.1');
    open = await server('0.0.0.0');
  });
  afterAll(async () => {
    await loopback.close();
    await open.close();
  });

  /** Signs in through the form; the session cookie and the token of the alerts page's forms. */
  async function signIn(app: FastifyInstance): Promise<{ cookie: string; csrf: string }> {
    const res = await app.inject({ method: 'POST', url: '/console/login', headers: FORM, payload: form({ user: 'ops', password: PASSWORD, next: '/console/alerts' }) });
    expect([res.statusCode, res.headers.location]).toEqual([303, '/console/alerts']);
    const setCookie = String(res.headers['set-cookie']);
    expect(setCookie).toMatch(/^kpi_console=[^;]+; Path=\/console; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    const cookie = setCookie.split(';')[0]!;
    const page = await app.inject({ url: '/console/alerts', headers: { cookie } });
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)?.[1];
    expect(page.body).toContain('Signed in as ops');
    return { cookie, csrf: csrf! };
  }

  it('on loopback: pages open to read; a silence needs the session and its token, and is then created and expired', async () => {
    const overview = await loopback.inject({ url: '/console/' });
    expect(overview.statusCode).toBe(200);
    expect(overview.headers['content-security-policy']).toContain("script-src 'self'");
    expect((await loopback.inject({ url: '/' })).headers.location).toBe('/console/');
    const alerts = await loopback.inject({ url: '/console/alerts' });
    expect(alerts.body).toContain('Sign in</a> to create or expire silences');
    expect(alerts.body).not.toContain('name="csrf"');

    const payload = form({ matchers: 'alertname=spend-high', for: '2h' });
    const anonymous = await loopback.inject({ method: 'POST', url: '/console/alerts/silences', headers: FORM, payload });
    expect(anonymous.statusCode).toBe(403);
    const { cookie, csrf } = await signIn(loopback);
    const noToken = await loopback.inject({ method: 'POST', url: '/console/alerts/silences', headers: { ...FORM, cookie }, payload });
    expect(noToken.statusCode).toBe(403);
    expect(noToken.body).toContain('the form has expired');
    const otherSite = await loopback.inject({ method: 'POST', url: '/console/alerts/silences', headers: { ...FORM, cookie, origin: 'https://evil.example' }, payload: form({ matchers: 'alertname=spend-high', for: '2h', csrf }) });
    expect(otherSite.statusCode).toBe(403);
    expect(await wh.db.selectFrom('alert_silences').select('id').execute()).toEqual([]);

    const bad = await loopback.inject({ method: 'POST', url: '/console/alerts/silences', headers: { ...FORM, cookie }, payload: form({ matchers: 'alertname=spend-high', for: '400d', csrf }) });
    expect([bad.statusCode, /Silence not created: ([^<]+)/.exec(bad.body)?.[1]]).toEqual([400, 'for must be a duration from 1m to 365d, e.g. 30m, 2h, 1d']);
    const badRegex = await loopback.inject({ method: 'POST', url: '/console/alerts/silences', headers: { ...FORM, cookie }, payload: form({ matchers: 'campaign=~(a', for: '2h', csrf }) });
    expect(badRegex.statusCode).toBe(400);
    expect(badRegex.body).toContain('invalid regular expression');

    const created = await loopback.inject({ method: 'POST', url: '/console/alerts/silences', headers: { ...FORM, cookie }, payload: form({ matchers: 'alertname=spend-high\ncampaign=~brand.*', for: '2h', comment: 'launch', csrf }) });
    expect(created.statusCode).toBe(303);
    const rows = await wh.db.selectFrom('alert_silences').selectAll().execute();
    expect(rows.map((r) => ({ matchers: r.matchers, comment: r.comment, by: r.created_by, hours: (new Date(r.ends_at).getTime() - new Date(r.starts_at).getTime()) / 3_600_000 }))).toEqual([
      { matchers: [{ name: 'alertname', op: '=', value: 'spend-high' }, { name: 'campaign', op: '=~', value: 'brand.*' }], comment: 'launch', by: 'ops', hours: 2 },
    ]);
    const expired = await loopback.inject({ method: 'POST', url: `/console/alerts/silences/${rows[0]!.id}/expire`, headers: { ...FORM, cookie }, payload: form({ csrf }) });
    expect(expired.statusCode).toBe(303);
    expect(new Date((await wh.db.selectFrom('alert_silences').select('ends_at').executeTakeFirstOrThrow()).ends_at).getTime()).toBeLessThanOrEqual(Date.now());
    const again = await loopback.inject({ method: 'POST', url: `/console/alerts/silences/${rows[0]!.id}/expire`, headers: { ...FORM, cookie }, payload: form({ csrf }) });
    expect(again.statusCode).toBe(400);
    expect(again.body).toContain(`no active silence with id ${rows[0]!.id}`);
  });

  it('off loopback: 401 with the sign-in form before signing in, for pages and the CSV; the assets and the form itself are served', async () => {
    for (const url of ['/console/', '/console/kpi/clicks?grain=day', '/console/kpi/clicks/data.csv', '/console/goals', '/console/alerts', '/console/connectors']) {
      const res = await open.inject({ url });
      expect([url, res.statusCode]).toEqual([url, 401]);
      expect(res.body).toContain('action="/console/login"');
      expect(res.body).not.toContain(PASSWORD);
    }
    expect((await open.inject({ url: '/console/assets/chart.umd.min.js' })).statusCode).toBe(200);
    expect((await open.inject({ url: '/console/login' })).statusCode).toBe(200);
    const wrong = await open.inject({ method: 'POST', url: '/console/login', headers: FORM, payload: form({ user: 'ops', password: 'not-it' }) });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).toContain('Wrong user or password.');
    const forged = `kpi_console=${Buffer.from('ops').toString('base64url')}.${Date.now() + 3_600_000}.forged`;
    expect((await open.inject({ url: '/console/', headers: { cookie: forged } })).statusCode).toBe(401);
    const { cookie } = await signIn(open);
    expect((await open.inject({ url: '/console/', headers: { cookie } })).statusCode).toBe(200);
    // The token: as a Bearer header, or in the form with no user, which then writes as `token`.
    expect((await open.inject({ url: '/console/', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode).toBe(200);
    expect((await open.inject({ url: '/console/', headers: { authorization: `Bearer ${TOKEN}x` } })).statusCode).toBe(401);
    const byToken = await open.inject({ method: 'POST', url: '/console/login', headers: FORM, payload: form({ user: '', password: TOKEN, next: '/console/alerts' }) });
    expect(byToken.statusCode).toBe(303);
    const tokenPage = await open.inject({ url: '/console/alerts', headers: { cookie: String(byToken.headers['set-cookie']).split(';')[0]! } });
    expect(tokenPage.body).toContain('Signed in as token');
    expect(tokenPage.body).not.toContain(TOKEN);
    // Nine more wrong passwords (ten with the one above) from one address: the form is refused for a while, even with the right one.
    for (let i = 0; i < 9; i++) expect((await open.inject({ method: 'POST', url: '/console/login', headers: FORM, payload: form({ user: 'ops', password: `guess-${i}` }) })).statusCode).toBe(401);
    const refused = await open.inject({ method: 'POST', url: '/console/login', headers: FORM, payload: form({ user: 'ops', password: PASSWORD }) });
    expect(refused.statusCode).toBe(429);
    expect(refused.body).toContain('Too many wrong sign-ins for this user from this address');
    expect((await loopback.inject({ method: 'POST', url: '/console/login', headers: FORM, payload: form({ user: 'ops', password: PASSWORD }) })).statusCode).toBe(303);
    // (Another server, another count.) A link back after signing in stays on this server.
    const away = await loopback.inject({ method: 'POST', url: '/console/login', headers: FORM, payload: form({ user: 'ops', password: PASSWORD, next: '//evil.example/console' }) });
    expect(away.headers.location).toBe('/console/');
  });

  it('says which parameter is wrong', async () => {
    const cases: Array<[string, string]> = [
      ['/console/?grain=year', 'grain must be one of day, week, month, quarter'],
      ['/console/?as_of=2026-02-30', 'as_of must be a date as YYYY-MM-DD'],
      ['/console/kpi/clickz', 'kpi is no KPI of this configuration'],
      ['/console/kpi/clicks?by=region', 'by must be one of all, connector, channel, campaign'],
      ['/console/kpi/clicks?periods=1000', 'periods must be a whole number from 2 to 366'],
      ['/console/alerts?since=forever', 'since must be how long back, from 1m to 3650d (such as 2h or 7d), or a date as YYYY-MM-DD'],
    ];
    for (const [url, message] of cases) {
      const res = await loopback.inject({ url });
      expect([url, res.statusCode, /<p class="error">([^<]+)<\/p>/.exec(res.body)?.[1]]).toEqual([url, 400, message]);
    }
  });
});
