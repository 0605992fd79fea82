import { randomBytes } from 'node:crypto';
import type { Dataset, MetaAction, MetaRow } from './dataset.ts';
import { addDays, daysBetween, isIsoDate } from './dates.ts';
import { CredentialStore, decodeCursor, encodeCursor, json, lastResultCache, startFakeServer, type ErrorKind, type Fault, type FakeApi, type FakeRequest, type FakeResponse, type FakeServer } from './server.ts';

/**
 * Meta Marketing API insights: GET /v{N}/act_{id}/insights (cursor pages), the async report
 * runs (POST …/insights → report_run_id, GET /{id}, GET /{id}/insights), the ad account itself
 * (GET /v{N}/act_{id}) and the ad accounts the token's user can see (GET /v{N}/me/adaccounts,
 * cursor pages, the `fields` asked for plus `id`), and the usage headers that Meta's throttling
 * is read from. Tokens too: the exchange of a short-lived user token for a long-lived one
 * (GET /v{N}/oauth/access_token?grant_type=fb_exchange_token) and the token inspector
 * (GET /v{N}/debug_token, with `expires_at` and `data_access_expires_at`).
 */

export const META_ACCESS_TOKEN = 'EAAB-sandbox-meta-token';
/** A short-lived user token as Graph API Explorer or Facebook Login hands out, for the exchange. */
export const META_SHORT_LIVED_TOKEN = 'EAAB-sandbox-short-lived-user-token';
export const META_APP = { id: '100000000000001', secret: 'sandbox-meta-app-secret' } as const;

/** What debug_token tells of a token; times in Unix seconds, 0 for "never". */
export interface MetaTokenInfo {
  type: 'USER' | 'SYSTEM_USER' | 'PAGE';
  expiresAt: number;
  dataAccessExpiresAt: number;
  issuedAt: number;
  scopes: string[];
}

export interface MetaSettings {
  /** Synchronous requests over more days than this get error code 1, "Please reduce the amount of data…". */
  maxSyncDays: number;
  /** Default and largest `limit`. */
  defaultPageSize: number;
  maxPageSize: number;
  /** Status polls a report run answers "Job Running" before "Job Completed". */
  asyncPolls: number;
  /** Report runs end in "Job Failed" instead. */
  asyncFail: boolean;
  /** Usage percentage reported in the throttle headers (0–100); at 100 insights calls fail with code 80000. */
  usagePct: number;
  /** Added to usagePct on every call, to watch a client back off as usage climbs. */
  usagePerCall: number;
  /** The day date presets (yesterday, last_7d, …) count back from; default the day after the data ends. */
  today: string;
  /** The ad account's account_status: 1 active, 2 disabled, 3 unsettled, 101 closed, … */
  accountStatus: number;
  /** The app whose id and secret the token exchange takes. */
  app: { id: string; secret: string };
  /** Short-lived user tokens the exchange accepts. */
  shortLivedTokens: string[];
  /** expires_in of exchanged tokens: Meta's long-lived tokens last about 60 days. */
  longLivedExpiresInSec: number;
  /** Each token debug_token knows, by token; change one's expiresAt to bring its end closer. */
  tokens: Record<string, MetaTokenInfo>;
}

interface MetaFakeOptions {
  credentials?: CredentialStore;
  settings?: Partial<MetaSettings>;
}

const FIELDS = [
  'account_id', 'account_name', 'account_currency', 'campaign_id', 'campaign_name', 'objective', 'impressions', 'reach', 'clicks',
  'inline_link_clicks', 'spend', 'actions', 'action_values', 'cpm', 'cpc', 'ctr', 'frequency', 'date_start', 'date_stop',
] as const;

interface Job {
  id: string;
  params: URLSearchParams;
  since: string;
  until: string;
  polls: number;
  created: number;
  completed?: number;
}

interface Insight {
  campaignId?: string;
  campaignName?: string;
  dateStart: string;
  dateStop: string;
  impressions: number;
  reachSum: number;
  maxReach: number;
  days: number;
  clicks: number;
  spendCents: number;
  actions: Map<string, number>;
  valueCents: Map<string, number>;
}

class GraphError extends Error {
  readonly response: FakeResponse;

  constructor(response: FakeResponse) {
    super('graph error');
    this.response = response;
  }
}

function graphError(status: number, code: number, message: string, extra: { subcode?: number; type?: string; transient?: boolean; title?: string; userMsg?: string } = {}): FakeResponse {
  const error: Record<string, unknown> = { message, type: extra.type ?? 'OAuthException', code };
  if (extra.subcode !== undefined) error.error_subcode = extra.subcode;
  if (extra.transient !== undefined) error.is_transient = extra.transient;
  if (extra.title) error.error_user_title = extra.title;
  if (extra.userMsg) error.error_user_msg = extra.userMsg;
  error.fbtrace_id = randomBytes(8).toString('base64url');
  const headers: Record<string, string> = {};
  if (code === 190 || code === 104) headers['www-authenticate'] = `OAuth "Facebook Platform" "invalid_token" "${message.replace(/"/g, "'")}"`;
  return { status, body: { error }, headers };
}

const badParam = (message: string): GraphError => new GraphError(graphError(400, 100, `(#100) ${message}`));

export async function startMetaFake(dataset: Dataset, options: MetaFakeOptions = {}): Promise<FakeServer<MetaSettings>> {
  const settings: MetaSettings = {
    maxSyncDays: 30,
    defaultPageSize: 25,
    maxPageSize: 500,
    asyncPolls: 2,
    asyncFail: false,
    usagePct: 2,
    usagePerCall: 0,
    today: addDays(dataset.endDate, 1),
    accountStatus: 1,
    app: { ...META_APP },
    shortLivedTokens: [META_SHORT_LIVED_TOKEN],
    longLivedExpiresInSec: 5_183_944,
    tokens: {},
    ...options.settings,
  };
  const nowSec = () => Math.floor(Date.now() / 1000);
  const DAY = 86_400;
  // The sandbox's own token: a system user's, which does not expire (expires_at 0).
  settings.tokens[META_ACCESS_TOKEN] ??= { type: 'SYSTEM_USER', expiresAt: 0, dataAccessExpiresAt: 0, issuedAt: nowSec() - 30 * DAY, scopes: ['ads_read', 'read_insights'] };
  for (const t of settings.shortLivedTokens) {
    settings.tokens[t] ??= { type: 'USER', expiresAt: nowSec() + 3600, dataAccessExpiresAt: nowSec() + 90 * DAY, issuedAt: nowSec(), scopes: ['ads_read', 'read_insights'] };
  }
  const credentialStore = options.credentials ?? new CredentialStore([META_ACCESS_TOKEN]);
  const accountId = dataset.meta.accountId;
  const numericAccount = accountId.replace(/^act_/, '');
  const jobs = new Map<string, Job>();
  let nextJob = 0;
  const cache = lastResultCache<Array<Record<string, unknown>>>();

  function rateLimited(code = 80000): FakeResponse {
    if (code === 17) return graphError(400, 17, 'User request limit reached', { subcode: 2446079, transient: true, title: 'Too many calls', userMsg: 'There have been too many calls. Please wait a bit and try again.' });
    if (code === 4) return graphError(400, 4, 'Application request limit reached', { subcode: 1504022, transient: true });
    if (code === 613) return graphError(400, 613, 'Calls to this api have exceeded the rate limit.', { subcode: 1487742, transient: true });
    return graphError(400, 80000, 'There have been too many calls from this ad-account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.', { subcode: 2446079, transient: true });
  }

  function errorFor(kind: ErrorKind, _req: FakeRequest, fault?: Fault): FakeResponse {
    switch (kind) {
      case 'missingCredentials':
        return graphError(400, 104, 'An access token is required to request this resource.');
      case 'invalidCredentials':
        return graphError(400, 190, 'Invalid OAuth access token - Cannot parse access token');
      case 'expiredCredentials':
        return graphError(400, 190, `Error validating access token: Session has expired on ${new Date(Date.now() - 3_600_000).toUTCString()}. The current time is ${new Date().toUTCString()}.`, { subcode: 463 });
      case 'revokedCredentials':
        return graphError(400, 190, 'Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.', { subcode: 460 });
      case 'forbidden':
        return graphError(403, 200, '(#200) Ad account owner has NOT grant ads_management or ads_read permission', { type: 'OAuthException' });
      case 'rateLimited':
        return rateLimited(fault?.code);
      case 'internal':
        return graphError(500, 2, 'An unexpected error has occurred. Please retry your request later.', { transient: true });
      case 'unavailable':
        return graphError(503, 2, 'Service temporarily unavailable', { transient: true });
    }
  }

  function resolveRange(p: URLSearchParams): { since: string; until: string } {
    const raw = p.get('time_range');
    if (raw) {
      let tr: { since?: unknown; until?: unknown };
      try {
        tr = JSON.parse(raw) as { since?: unknown; until?: unknown };
      } catch {
        throw badParam('Param time_range must be a JSON object with since and until');
      }
      const since = String(tr.since ?? '');
      const until = String(tr.until ?? '');
      if (!isIsoDate(since) || !isIsoDate(until)) throw badParam('Param time_range[since] and time_range[until] must be dates as YYYY-MM-DD');
      if (since > until) throw badParam('time_range since must be on or before until');
      return { since, until };
    }
    const today = settings.today;
    const preset = p.get('date_preset') ?? 'last_30d';
    const lastN = /^last_(\d+)d$/.exec(preset);
    if (lastN) return { since: addDays(today, -Number(lastN[1])), until: addDays(today, -1) };
    switch (preset) {
      case 'today':
        return { since: today, until: today };
      case 'yesterday':
        return { since: addDays(today, -1), until: addDays(today, -1) };
      case 'this_month':
        return { since: `${today.slice(0, 7)}-01`, until: today };
      case 'last_month': {
        const end = addDays(`${today.slice(0, 7)}-01`, -1);
        return { since: `${end.slice(0, 7)}-01`, until: end };
      }
      case 'maximum':
        return { since: dataset.startDate, until: today };
      default:
        throw badParam(`Param date_preset must be one of {today, yesterday, this_month, last_month, last_Nd, maximum}; got ${preset}`);
    }
  }

  function parseFields(p: URLSearchParams): string[] {
    const fields = (p.get('fields') ?? 'impressions,spend').split(',').map((f) => f.trim()).filter(Boolean);
    for (const f of fields) {
      if (!(FIELDS as readonly string[]).includes(f)) throw badParam(`${f} is not valid for fields param. please check https://developers.facebook.com/docs/marketing-api/reference/ads-insights/ for all valid values`);
    }
    return fields;
  }

  /** Every insights row of a request, in order; computed once per distinct query. */
  function insights(p: URLSearchParams): Array<Record<string, unknown>> {
    const { since, until } = resolveRange(p);
    const fields = parseFields(p);
    const level = p.get('level') ?? 'account';
    if (level !== 'account' && level !== 'campaign') throw badParam(`Param level must be one of {account, campaign} in the sandbox; got ${level}`);
    if (p.get('breakdowns')) throw badParam('The sandbox data set has no breakdowns');
    const inc = p.get('time_increment') ?? 'all_days';
    if (!(inc === 'all_days' || inc === 'monthly' || (/^\d+$/.test(inc) && Number(inc) >= 1 && Number(inc) <= 90))) {
      throw badParam('Param time_increment must be all_days, monthly or an integer between 1 and 90');
    }
    const key = JSON.stringify([dataset.version, since, until, fields, level, inc]);
    return cache(key, () => {
      const bucketOf = (date: string): { start: string; stop: string } => {
        if (inc === 'all_days') return { start: since, stop: until };
        if (inc === 'monthly') {
          const first = `${date.slice(0, 7)}-01`;
          const last = addDays(`${addDays(first, 32).slice(0, 7)}-01`, -1);
          return { start: first < since ? since : first, stop: last > until ? until : last };
        }
        const n = Number(inc);
        const start = addDays(since, Math.floor(daysBetween(since, date) / n) * n);
        const stop = addDays(start, n - 1);
        return { start, stop: stop > until ? until : stop };
      };
      const groups = new Map<string, Insight>();
      for (const row of dataset.meta.range(since, until)) {
        if (row.accountId !== accountId) continue;
        const b = bucketOf(row.date);
        const k = `${b.start}|${level === 'campaign' ? row.campaignId : ''}`;
        let g = groups.get(k);
        if (!g) {
          g = { dateStart: b.start, dateStop: b.stop, impressions: 0, reachSum: 0, maxReach: 0, days: 0, clicks: 0, spendCents: 0, actions: new Map(), valueCents: new Map() };
          if (level === 'campaign') Object.assign(g, { campaignId: row.campaignId, campaignName: row.campaignName });
          groups.set(k, g);
        }
        addRow(g, row);
      }
      return [...groups.values()]
        .filter((g) => g.impressions > 0)
        .sort((a, b) => (a.dateStart < b.dateStart ? -1 : a.dateStart > b.dateStart ? 1 : (a.campaignId ?? '') < (b.campaignId ?? '') ? -1 : 1))
        .map((g) => render(g, fields));
    });
  }

  function addRow(g: Insight, row: MetaRow): void {
    g.impressions += row.impressions;
    g.clicks += row.clicks;
    g.spendCents += Math.round(Number(row.spend) * 100);
    g.days++;
    g.reachSum += row.reach;
    g.maxReach = Math.max(g.maxReach, row.reach);
    const add = (m: Map<string, number>, list: MetaAction[], scale: number): void => {
      for (const a of list) m.set(a.action_type, (m.get(a.action_type) ?? 0) + Math.round(Number(a.value) * scale));
    };
    add(g.actions, row.actions, 1);
    add(g.valueCents, row.action_values, 100);
  }

  function render(g: Insight, fields: string[]): Record<string, unknown> {
    const spend = g.spendCents / 100;
    const link = g.actions.get('link_click') ?? 0;
    // Reach counts people, and over several days the same people come back: it is not additive.
    const reach = g.days === 1 ? g.reachSum : Math.max(g.maxReach, Math.round(g.reachSum * 0.85));
    const values: Record<string, () => unknown> = {
      account_id: () => numericAccount,
      account_name: () => dataset.meta.accountName,
      account_currency: () => dataset.meta.currency,
      campaign_id: () => g.campaignId,
      campaign_name: () => g.campaignName,
      objective: () => dataset.meta.campaigns.find((c) => c.id === g.campaignId)?.objective,
      impressions: () => String(g.impressions),
      reach: () => String(reach),
      clicks: () => String(g.clicks),
      inline_link_clicks: () => String(link),
      spend: () => spend.toFixed(2),
      actions: () => (g.actions.size ? [...g.actions].map(([action_type, v]) => ({ action_type, value: String(v) })) : undefined),
      action_values: () => (g.valueCents.size ? [...g.valueCents].map(([action_type, v]) => ({ action_type, value: (v / 100).toFixed(2) })) : undefined),
      cpm: () => String(g.impressions ? (spend / g.impressions) * 1000 : 0),
      cpc: () => (g.clicks ? String(spend / g.clicks) : undefined),
      ctr: () => String(g.impressions ? (g.clicks / g.impressions) * 100 : 0),
      frequency: () => String(reach ? g.impressions / reach : 0),
    };
    const out: Record<string, unknown> = {};
    for (const f of fields) {
      if (f === 'date_start' || f === 'date_stop') continue;
      const v = values[f]?.();
      // Meta leaves out fields it has nothing for (no actions, no campaign at account level).
      if (v !== undefined) out[f] = v;
    }
    out.date_start = g.dateStart;
    out.date_stop = g.dateStop;
    return out;
  }

  function page(req: FakeRequest, rows: Array<Record<string, unknown>>, p: URLSearchParams, path: string): FakeResponse {
    const limitRaw = p.get('limit');
    const limit = limitRaw === null ? settings.defaultPageSize : Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 1) throw badParam('Param limit must be a positive integer');
    const size = Math.min(limit, settings.maxPageSize);
    let offset = 0;
    const after = p.get('after');
    if (after) {
      const cur = decodeCursor(after);
      if (typeof cur?.o !== 'number') throw badParam('Param after is not a valid cursor');
      offset = cur.o + 1;
    }
    const data = rows.slice(offset, offset + size);
    if (data.length === 0) return json(200, { data: [] });
    const paging: Record<string, unknown> = { cursors: { before: encodeCursor({ o: offset }), after: encodeCursor({ o: offset + data.length - 1 }) } };
    const link = (params: Record<string, string>): string => {
      const q = new URLSearchParams(p);
      q.delete('after');
      q.delete('before');
      for (const [k, v] of Object.entries(params)) q.set(k, v);
      return `${req.baseUrl}${path}?${q.toString()}`;
    };
    if (offset + data.length < rows.length) paging.next = link({ after: encodeCursor({ o: offset + data.length - 1 }) });
    if (offset > 0) paging.previous = link({ before: encodeCursor({ o: offset }) });
    return json(200, { data, paging });
  }

  function allParams(req: FakeRequest): URLSearchParams {
    const p = new URLSearchParams(req.query);
    if (req.body && typeof req.body === 'object') for (const [k, v] of Object.entries(req.body as Record<string, unknown>)) p.set(k, typeof v === 'string' ? v : JSON.stringify(v));
    return p;
  }

  function jobStatus(job: Job): Record<string, unknown> {
    job.polls++;
    const done = job.polls >= settings.asyncPolls;
    if (done && !job.completed) job.completed = Math.floor(Date.now() / 1000);
    const status = done ? (settings.asyncFail ? 'Job Failed' : 'Job Completed') : 'Job Running';
    const out: Record<string, unknown> = {
      id: job.id,
      account_id: numericAccount,
      time_ref: job.created,
      async_status: status,
      async_percent_completion: done ? 100 : Math.floor((100 * job.polls) / settings.asyncPolls),
      date_start: job.since,
      date_stop: job.until,
    };
    if (job.completed) out.time_completed = job.completed;
    return out;
  }

  /** GET /oauth/access_token?grant_type=fb_exchange_token&client_id&client_secret&fb_exchange_token. */
  function exchangeToken(p: URLSearchParams): FakeResponse {
    if (p.get('grant_type') !== 'fb_exchange_token') return graphError(400, 100, 'Invalid grant_type: only fb_exchange_token is supported here');
    if (p.get('client_id') !== settings.app.id) return graphError(400, 101, 'Error validating application. Cannot get application info due to a system error.');
    if (p.get('client_secret') !== settings.app.secret) return graphError(400, 1, 'Error validating client secret.');
    const short = p.get('fb_exchange_token') ?? '';
    const info = settings.tokens[short];
    if (!short) return graphError(400, 100, 'Missing parameter: fb_exchange_token');
    if (!info || info.type !== 'USER') return graphError(400, 190, 'Invalid OAuth access token - Cannot parse access token');
    if (info.expiresAt !== 0 && info.expiresAt <= nowSec()) {
      return graphError(400, 190, `Error validating access token: Session has expired on ${new Date(info.expiresAt * 1000).toUTCString()}. The current time is ${new Date().toUTCString()}.`, { subcode: 463 });
    }
    const token = `EAAB-sandbox-long-lived-${randomBytes(24).toString('base64url')}`;
    const issuedAt = nowSec();
    settings.tokens[token] = { type: 'USER', expiresAt: issuedAt + settings.longLivedExpiresInSec, dataAccessExpiresAt: info.dataAccessExpiresAt, issuedAt, scopes: info.scopes };
    // The long-lived token reads the ad account as the sandbox's own does.
    credentialStore.add(token, settings.longLivedExpiresInSec);
    return json(200, { access_token: token, token_type: 'bearer', expires_in: settings.longLivedExpiresInSec });
  }

  /** GET /debug_token?input_token&access_token: an app token (`id|secret`) or a valid token may ask. */
  function debugToken(p: URLSearchParams): FakeResponse {
    const asker = p.get('access_token') ?? '';
    const appToken = `${settings.app.id}|${settings.app.secret}`;
    const askerInfo = settings.tokens[asker];
    if (!asker) return graphError(400, 104, 'An access token is required to request this resource.');
    if (asker !== appToken && (!askerInfo || credentialStore.check(asker) !== 'ok')) return graphError(400, 190, 'Invalid OAuth access token - Cannot parse access token');
    const input = p.get('input_token') ?? '';
    if (!input) return graphError(400, 100, 'The parameter input_token is required');
    const info = settings.tokens[input];
    if (!info) return json(200, { data: { error: { code: 190, message: 'Invalid OAuth access token - Cannot parse access token' }, is_valid: false, scopes: [] } });
    const expired = info.expiresAt !== 0 && info.expiresAt <= nowSec();
    const data: Record<string, unknown> = {
      app_id: settings.app.id,
      type: info.type,
      application: 'KPI sandbox app',
      data_access_expires_at: info.dataAccessExpiresAt,
      expires_at: info.expiresAt,
      is_valid: !expired,
      issued_at: info.issuedAt,
      scopes: info.scopes,
      user_id: '10000000000000002',
    };
    if (expired) data.error = { code: 190, message: `Error validating access token: Session has expired on ${new Date(info.expiresAt * 1000).toUTCString()}.`, subcode: 463 };
    return json(200, { data });
  }

  function handle(req: FakeRequest): FakeResponse {
    const path = req.path.replace(/^\/v\d+\.\d+/, '');
    const p = allParams(req);
    if (req.method === 'GET' && path === '/oauth/access_token') return exchangeToken(p);
    if (req.method === 'GET' && path === '/debug_token') return debugToken(p);
    const insightsRoute = /^\/(act_\d+)\/insights$/.exec(path);
    const jobRoute = /^\/(\d+)(\/insights)?$/.exec(path);
    if (settings.usagePct >= 100 && (insightsRoute || jobRoute)) return rateLimited();
    try {
      if (insightsRoute) {
        if (insightsRoute[1] !== accountId) throw unsupported(insightsRoute[1] ?? '');
        if (req.method === 'GET') {
          const { since, until } = resolveRange(p);
          if (daysBetween(since, until) + 1 > settings.maxSyncDays) {
            return graphError(500, 1, "Please reduce the amount of data you're asking for, then retry your request", { subcode: 99, transient: false });
          }
          return page(req, insights(p), p, req.path);
        }
        if (req.method === 'POST') {
          const { since, until } = resolveRange(p);
          parseFields(p);
          const id = String(6_000_000_000_000 + ++nextJob);
          jobs.set(id, { id, params: p, since, until, polls: 0, created: Math.floor(Date.now() / 1000) });
          return json(200, { report_run_id: id });
        }
      }
      if (req.method === 'GET' && /^\/act_\d+$/.test(path)) {
        if (path.slice(1) !== accountId) throw unsupported(path.slice(1));
        return json(200, adAccount(p.get('fields')));
      }
      if (req.method === 'GET' && path === '/me/adaccounts') return page(req, [adAccount(p.get('fields'))], p, req.path);
      if (jobRoute && req.method === 'GET') {
        const job = jobs.get(jobRoute[1] ?? '');
        if (!job) throw unsupported(jobRoute[1] ?? '');
        if (!jobRoute[2]) return json(200, jobStatus(job));
        if (job.polls < settings.asyncPolls || settings.asyncFail) {
          throw badParam("The report is not ready: poll the report run until async_status is 'Job Completed'");
        }
        const q = new URLSearchParams(job.params);
        q.delete('after');
        for (const k of ['limit', 'after', 'access_token']) {
          const v = p.get(k);
          if (v !== null) q.set(k, v);
        }
        return page(req, insights(q), q, req.path);
      }
      return graphError(400, 100, `Unknown path components: ${req.path}`, { type: 'OAuthException' });
    } catch (err) {
      if (err instanceof GraphError) return err.response;
      throw err;
    }
  }

  /** The ad account with the fields asked for (and its id, which Graph always sends); name and id without `fields`. */
  function adAccount(fields: string | null): Record<string, unknown> {
    const all: Record<string, unknown> = {
      account_id: numericAccount,
      name: dataset.meta.accountName,
      currency: dataset.meta.currency,
      timezone_name: dataset.meta.timeZone,
      account_status: settings.accountStatus,
    };
    const wanted = fields ? fields.split(',').map((f) => f.trim()).filter(Boolean) : [];
    for (const f of wanted) if (!(f in all) && f !== 'id') throw badParam(`Tried accessing nonexisting field (${f}) on node type (AdAccount)`);
    const out: Record<string, unknown> = {};
    for (const f of wanted.length ? wanted : ['name']) if (f in all) out[f] = all[f];
    out.id = accountId;
    return out;
  }

  function unsupported(id: string): GraphError {
    return new GraphError(
      graphError(400, 100, `Unsupported get request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`, { subcode: 33, type: 'GraphMethodException' }),
    );
  }

  function usageHeaders(): Record<string, string> {
    const u = Math.min(100, Math.round(settings.usagePct));
    const tier = 'standard_access';
    return {
      'x-business-use-case-usage': JSON.stringify({
        [numericAccount]: [{ type: 'ads_insights', call_count: u, total_cputime: Math.max(0, u - 1), total_time: u, estimated_time_to_regain_access: u >= 100 ? 5 : 0, ads_api_access_tier: tier }],
      }),
      'x-ad-account-usage': JSON.stringify({ acc_id_util_pct: u, reset_time_duration: u >= 100 ? 300 : 0, ads_api_access_tier: tier }),
      'x-fb-ads-insights-throttle': JSON.stringify({ app_id_util_pct: u, acc_id_util_pct: u, ads_api_access_tier: tier }),
    };
  }

  const api: FakeApi = {
    name: 'meta',
    // The token exchange authenticates the app by its id and secret; debug_token checks its own asker.
    isPublic: (req) => /^(\/v\d+\.\d+)?\/(oauth\/access_token|debug_token)$/.test(req.path),
    credential(req) {
      const fromQuery = req.query.get('access_token');
      if (fromQuery) return fromQuery;
      const body = req.body as Record<string, unknown> | undefined;
      if (body && typeof body === 'object' && typeof body.access_token === 'string') return body.access_token;
      const h = req.headers.authorization;
      const m = typeof h === 'string' ? /^(?:Bearer|OAuth)\s+(.+)$/i.exec(h.trim()) : null;
      return m?.[1];
    },
    error: errorFor,
    typeChangePath: () => 'data.0.spend',
    headers() {
      return usageHeaders();
    },
    handle(req) {
      settings.usagePct = Math.min(100, settings.usagePct + settings.usagePerCall);
      return handle(req);
    },
  };

  return startFakeServer(api, settings, credentialStore);
}
