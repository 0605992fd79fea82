/**
 * The web console: server-rendered pages of the numbers `kpi report`, `kpi alerts` and
 * `kpi status` print, read through the same functions (src/metrics, src/alerts), with
 * Chart.js charts. `startApp` hands `consoleRoutes` to the HTTP server, which mounts it at
 * /console in embedded and queue mode alike.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Config } from '../config/index.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Database } from '../warehouse/index.ts';
import { CONSOLE_CSS, CONSOLE_JS, chartLibrary } from './assets.ts';
import { SESSION_COOKIE, TOKEN_USER, basicCredentials, bearerToken, cookieValue, credentialsMatch, csrfMatches, csrfToken, isLoopback, newSession, sessionUser, type ConsoleCredentials } from './auth.ts';
import type { PageContext } from './context.ts';
import { html, page, type Raw, type Section, type Viewer } from './html.ts';
import { BadRequest, type Query } from './params.ts';

export interface ConsoleOptions {
  db: Kysely<Database>;
  /** The configuration in force (a reload replaces it): read at each request. */
  config: () => Config;
  /** The address the server is bound to: anything but loopback needs a sign-in to read. */
  host: string;
  now?: () => Date;
  log?: Logger;
}

const SECURITY_HEADERS = {
  // Scripts and styles from this server only; Chart.js sizes its canvas through style properties.
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
};

function queryOf(req: FastifyRequest): Query {
  return Object.fromEntries(Object.entries((req.query ?? {}) as Record<string, unknown>).map(([k, v]) => [k, Array.isArray(v) ? String(v[0]) : String(v)]));
}

/** No Origin header (an older browser), or one naming this server; a malformed one is another site's. */
function sameOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  if (!origin || origin === 'null') return true;
  return URL.canParse(origin) && new URL(origin).host === req.headers.host;
}

/** A path inside the console to go back to after signing in; anything else goes to the overview. */
function safeNext(next: string | undefined): string {
  // No blank, control character or backslash anywhere, the query included: it goes into a Location header.
  return next && /^\/console(\/[^\s\\]*)?$/.test(next.split('?')[0]!) && !/[\s\\\u0000-\u001f\u007f]/.test(next) ? next : '/console/';
}

const LOGIN_WINDOW_MINUTES = 15;
const LOGIN_ATTEMPTS = 10;
const LOGIN_KEYS = 10_000;

/**
 * Wrong sign-ins per user name and client address: after LOGIN_ATTEMPTS within
 * LOGIN_WINDOW_MINUTES that pair is refused (429) until the window has passed, so a password
 * cannot be guessed at speed, while one stranger guessing cannot lock out another address, nor
 * the token's sign-ins the user's (or the other way round). Names that sign no one in share one
 * count per address, so made-up names cannot grow the table. Behind a reverse proxy every client
 * has the proxy's address unless server.trustProxy names it. Kept in memory (per process) and
 * bounded: past LOGIN_KEYS pairs the oldest is forgotten.
 */
function loginFailures() {
  const seen = new Map<string, number[]>();
  const recent = (key: string, at: Date) => (seen.get(key) ?? []).filter((t) => t > at.getTime() - LOGIN_WINDOW_MINUTES * 60_000);
  return {
    blocked: (key: string, at: Date) => recent(key, at).length >= LOGIN_ATTEMPTS,
    add(key: string, at: Date) {
      const times = [...recent(key, at), at.getTime()];
      seen.delete(key);
      seen.set(key, times);
      if (seen.size > LOGIN_KEYS) seen.delete(seen.keys().next().value!);
    },
  };
}

export function consoleRoutes(options: ConsoleOptions): (scope: FastifyInstance) => Promise<void> {
  const now = options.now ?? (() => new Date());
  const loopback = isLoopback(options.host);
  const pages = import('./pages.ts');

  /**
   * Who may sign in: the server.dashboard user, and `token` for server.token (its sign-ins
   * go by that name). Read at each request, so a reload that changes them applies at once.
   */
  const signIns = (): ConsoleCredentials[] => {
    const server = options.config().server;
    return [...(server.dashboard ? [{ user: server.dashboard.user, password: server.dashboard.password }] : []), ...(server.token ? [{ user: TOKEN_USER, password: server.token }] : [])];
  };

  /** The viewer, and the sign-in and session cookie a write is checked against. */
  const who = (req: FastifyRequest): Viewer & { credentials?: ConsoleCredentials; session?: string } => {
    const all = signIns();
    if (all.length === 0) return { user: null, csrf: null, canSignIn: false };
    const session = cookieValue(req.headers.cookie, SESSION_COOKIE);
    for (const credentials of all) {
      const user = sessionUser(credentials, session, now());
      if (user && session) return { user, csrf: csrfToken(credentials, session), canSignIn: true, credentials, session };
    }
    const basic = basicCredentials(req.headers.authorization);
    const basicUser = basic && all.find((c) => credentialsMatch(c, basic.user, basic.password));
    if (basicUser) return { user: basicUser.user, csrf: null, canSignIn: true };
    const bearer = bearerToken(req.headers.authorization);
    const token = bearer && all.find((c) => c.user === TOKEN_USER && credentialsMatch(c, TOKEN_USER, bearer));
    if (token) return { user: TOKEN_USER, csrf: null, canSignIn: true };
    return { user: null, csrf: null, canSignIn: true };
  };
  const viewerOf = (req: FastifyRequest): Viewer => {
    const { user, csrf, canSignIn } = who(req);
    return { user, csrf, canSignIn };
  };

  // Off loopback with no sign-in the console shows nothing: say so at start, not at the first visitor's 401.
  if (!loopback && signIns().length === 0) {
    options.log?.warn({ host: options.host }, 'the web console at /console shows nothing: it listens on an address other than loopback and neither server.dashboard nor server.token is set, so no one can sign in');
  }

  const failures = loginFailures();
  let warnedProxy = false;
  /** Once: sign-ins arrive through a proxy the server does not believe, so they all count against its address. */
  const warnUntrustedProxy = (req: FastifyRequest) => {
    if (warnedProxy || !req.headers['x-forwarded-for'] || req.ip !== req.socket.remoteAddress) return;
    warnedProxy = true;
    options.log?.warn({ address: req.ip }, 'console sign-ins come through a proxy (X-Forwarded-For) but server.trustProxy does not name it: wrong sign-ins are counted against the proxy\'s address, for every client behind it');
  };

  const send = (reply: FastifyReply, status: number, body: string) => reply.code(status).headers(SECURITY_HEADERS).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(body);

  const loginForm = (viewer: Viewer, next: string, problem?: string): string => {
    const body: Raw = viewer.canSignIn
      ? html`${problem ? html`<p class="error" role="alert">${problem}</p>` : ''}
<form class="stack" method="post" action="/console/login"><input type="hidden" name="next" value="${next}">
<label>User<input name="user" autocomplete="username" autofocus></label>
<label>Password (or the token, with no user)<input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form>`
      : html`<p class="notice">Signing in needs <code>server.dashboard</code> (a user and a password, the password from the environment) or <code>server.token</code> in the configuration.${loopback ? '' : ' This server listens on an address other than loopback, so nothing is shown without it.'}</p>`;
    return page({ title: 'Sign in', section: 'login', viewer, body });
  };

  return async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => done(null, new URLSearchParams(body as string)));

    // A Map, not an object: a name like `constructor` or `__proto__` is no asset.
    const assets = new Map<string, [string, () => string]>([
      ['chart.umd.min.js', ['text/javascript; charset=utf-8', chartLibrary]],
      ['console.js', ['text/javascript; charset=utf-8', () => CONSOLE_JS]],
      ['console.css', ['text/css; charset=utf-8', () => CONSOLE_CSS]],
    ]);
    scope.get<{ Params: { name: string } }>('/assets/:name', async (req, reply) => {
      const asset = assets.get(req.params.name);
      if (!asset) return reply.code(404).send('not found');
      return reply.headers(SECURITY_HEADERS).header('cache-control', 'public, max-age=3600').type(asset[0]).send(asset[1]());
    });

    scope.get('/login', async (req, reply) => send(reply, 200, loginForm(viewerOf(req), safeNext(queryOf(req).next))));
    scope.post('/login', async (req, reply) => {
      const form = req.body instanceof URLSearchParams ? req.body : new URLSearchParams();
      const next = safeNext(form.get('next') ?? undefined);
      const viewer = viewerOf(req);
      // The token signs in with the user left empty (or "token").
      const user = form.get('user') ?? '';
      const all = signIns();
      const named = user === '' && all.some((c) => c.user === TOKEN_USER) ? TOKEN_USER : user;
      const attempt = `${all.some((c) => c.user === named) ? named : '\u0000unknown'}\u0000${req.ip}`;
      if (failures.blocked(attempt, now())) {
        return send(reply, 429, loginForm(viewer, next, `Too many wrong sign-ins for this user from this address: try again in ${LOGIN_WINDOW_MINUTES} minutes.`));
      }
      const credentials = all.find((c) => credentialsMatch(c, c.user === TOKEN_USER && user === '' ? TOKEN_USER : user, form.get('password') ?? ''));
      if (!credentials) {
        warnUntrustedProxy(req);
        failures.add(attempt, now());
        return send(reply, 401, loginForm(viewer, next, viewer.canSignIn ? 'Wrong user or password.' : undefined));
      }
      const session = newSession(credentials, now());
      const secure = req.protocol === 'https' || /^https:/i.test(options.config().server.publicUrl ?? '') ? '; Secure' : '';
      reply.header('set-cookie', `${SESSION_COOKIE}=${session.value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=${session.maxAgeSeconds}${secure}`);
      return reply.code(303).header('location', next).send();
    });

    // Everything below needs a sign-in on an address other than loopback.
    scope.addHook('onRequest', async (req, reply) => {
      // By the route matched, not the raw path: no spelling of a URL reaches a page past this.
      const route = req.routeOptions.url;
      if (route === '/console/assets/:name' || route === '/console/login') return;
      if (loopback) return;
      const viewer = viewerOf(req);
      if (!viewer.user) return send(reply, 401, loginForm(viewer, safeNext(req.url)));
    });

    // Writes: a signed-in session (cookie) and its CSRF token, from a page of this server.
    const checkWrite = (req: FastifyRequest, form: URLSearchParams): Viewer | string => {
      const viewer = who(req);
      if (!viewer.user || !viewer.credentials || !viewer.session) return 'sign in first';
      if (!sameOrigin(req)) return 'the form was sent from another site';
      if (!csrfMatches(viewer.credentials, viewer.session, form.get('csrf') ?? undefined)) return 'the form has expired: load the page again';
      return viewer;
    };

    scope.post('/logout', async (req, reply) => {
      const form = req.body instanceof URLSearchParams ? req.body : new URLSearchParams();
      if (typeof checkWrite(req, form) === 'string') return reply.code(303).header('location', '/console/').send();
      reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0`);
      return reply.code(303).header('location', '/console/').send();
    });

    const context = (req: FastifyRequest): PageContext => ({ db: options.db, config: options.config(), viewer: viewerOf(req), now: now() });

    const render = (section: Section, title: (q: Query, params: Record<string, string>) => string, body: (p: Awaited<typeof pages>, ctx: PageContext, q: Query, params: Record<string, string>) => Promise<Raw>) =>
      async (req: FastifyRequest, reply: FastifyReply) => {
        const ctx = context(req);
        const q = queryOf(req);
        const params = (req.params ?? {}) as Record<string, string>;
        try {
          const content = await body(await pages, ctx, q, params);
          return send(reply, 200, page({ title: title(q, params), section, viewer: ctx.viewer, body: content, here: req.url }));
        } catch (err) {
          if (err instanceof BadRequest) return send(reply, 400, page({ title: 'Bad request', section, viewer: ctx.viewer, body: html`<p class="error">${err.message}</p>` }));
          options.log?.error({ err: errorMessage(err), path: req.url.split('?')[0] }, 'console page failed');
          return send(reply, 500, page({ title: 'Something went wrong', section, viewer: ctx.viewer, body: html`<p class="error">This page could not be built; the service log says why.</p>` }));
        }
      };

    scope.get('/', render('overview', () => 'Overview', (p, ctx, q) => p.overviewPage(ctx, q)));
    // The explorer's form names the KPI in its query; a link to the explorer without one shows the North Star.
    scope.get('/kpi', async (req, reply) => {
      const q = new URLSearchParams(queryOf(req));
      const target = q.get('kpi') || options.config().northStar || 'revenue';
      q.delete('kpi');
      const rest = q.toString();
      return reply.code(303).header('location', `/console/kpi/${encodeURIComponent(target)}${rest ? `?${rest}` : ''}`).send();
    });
    scope.get('/kpi/:kpi', render('kpi', (_q, params) => `KPI explorer: ${params.kpi}`, (p, ctx, q, params) => p.explorerPage(ctx, params.kpi!, q)));
    scope.get<{ Params: { kpi: string } }>('/kpi/:kpi/data.csv', async (req, reply) => {
      const ctx = context(req);
      try {
        const csv = await (await pages).explorerCsv(ctx, req.params.kpi, queryOf(req));
        return reply
          .headers(SECURITY_HEADERS)
          .header('cache-control', 'no-store')
          .header('content-disposition', `attachment; filename="${csv.filename}"`)
          .type('text/csv; charset=utf-8')
          .send(csv.text);
      } catch (err) {
        if (err instanceof BadRequest) return reply.code(400).type('text/plain; charset=utf-8').send(`${err.message}\n`);
        throw err;
      }
    });
    scope.get('/goals', render('goals', () => 'Goals and OKRs', (p, ctx, q) => p.goalsPage(ctx, q)));
    scope.get('/alerts', render('alerts', () => 'Alerts', (p, ctx, q) => p.alertsPage(ctx, q)));
    scope.get('/connectors', render('connectors', () => 'Connectors', (p, ctx, q) => p.connectorsPage(ctx, q)));

    scope.post('/alerts/silences', async (req, reply) => {
      const form = req.body instanceof URLSearchParams ? req.body : new URLSearchParams();
      const who = checkWrite(req, form);
      const ctx = context(req);
      const result = typeof who === 'string' ? { error: who } : await (await pages).createSilence(ctx, form, who.user!);
      if ('error' in result) return send(reply, typeof who === 'string' ? 403 : 400, page({ title: 'Alerts', section: 'alerts', viewer: ctx.viewer, body: html`<p class="error" role="alert">Silence not created: ${result.error}</p><p><a href="/console/alerts#silences">Back to the silences</a></p>` }));
      return reply.code(303).header('location', `/console/alerts?created=${result.id}#silences`).send();
    });
    scope.post<{ Params: { id: string } }>('/alerts/silences/:id/expire', async (req, reply) => {
      const form = req.body instanceof URLSearchParams ? req.body : new URLSearchParams();
      const who = checkWrite(req, form);
      const ctx = context(req);
      const result = typeof who === 'string' ? { error: who } : await (await pages).expireSilence(ctx, req.params.id);
      if ('error' in result) return send(reply, typeof who === 'string' ? 403 : 400, page({ title: 'Alerts', section: 'alerts', viewer: ctx.viewer, body: html`<p class="error" role="alert">Silence not expired: ${result.error}</p><p><a href="/console/alerts#silences">Back to the silences</a></p>` }));
      return reply.code(303).header('location', `/console/alerts?expired=${req.params.id}#silences`).send();
    });
  };
}
