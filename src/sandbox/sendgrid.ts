import type { Dataset, SendgridMetrics } from './dataset.ts';
import { SENDGRID_METRICS } from './dataset.ts';
import { addDays, dateRange, isIsoDate, weekday } from './dates.ts';
import { bearer, CredentialStore, json, startFakeServer, type ErrorKind, type FakeApi, type FakeRequest, type FakeResponse, type FakeServer } from './server.ts';

/**
 * SendGrid v3 statistics: GET /v3/stats (all mail) and GET /v3/categories/stats, one entry per
 * day, week or month of the range, zeros included; GET /v3/categories; and what a key may do:
 * GET /v3/scopes (the key's scopes) and GET /v3/user/account (plan type and reputation). Each
 * endpoint needs its scope, as the real API does (403 "access forbidden" without). Every
 * response carries the X-RateLimit-* headers, and the fake enforces its own per-minute limit.
 */

export const SENDGRID_API_KEY = 'SG.sandbox-key.sandbox-secret';

export interface SendgridSettings {
  /** Requests allowed per minute before it answers 429 by itself. */
  rateLimit: number;
  /** The default end_date (SendGrid's "today"); default the day after the data ends. */
  today: string;
  /** The scopes the key was given; remove one to see the endpoints that need it refuse. */
  scopes: string[];
}

/** Which scope each endpoint needs (SendGrid's API key permissions). */
const NEEDS: Record<string, string> = {
  '/v3/stats': 'stats.read',
  '/v3/categories/stats': 'categories.stats.read',
  '/v3/categories': 'categories.read',
  '/v3/user/account': 'user.account.read',
};

interface SendgridFakeOptions {
  credentials?: CredentialStore;
  settings?: Partial<SendgridSettings>;
}

const sgError = (status: number, message: string, field: string | null = null, headers?: Record<string, string>): FakeResponse => ({ status, body: { errors: [{ field, message }] }, headers });

class BadRequest extends Error {
  readonly field: string;

  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

function zero(): SendgridMetrics {
  return Object.fromEntries(SENDGRID_METRICS.map((m) => [m, 0])) as SendgridMetrics;
}

function addInto(a: SendgridMetrics, b: SendgridMetrics): void {
  for (const m of SENDGRID_METRICS) a[m] += b[m];
}

export async function startSendgridFake(dataset: Dataset, options: SendgridFakeOptions = {}): Promise<FakeServer<SendgridSettings>> {
  const settings: SendgridSettings = {
    rateLimit: 600,
    today: addDays(dataset.endDate, 1),
    scopes: ['categories.read', 'categories.stats.read', 'categories.stats.sums.read', 'stats.global.read', 'stats.read', 'user.account.read', 'user.profile.read'],
    ...options.settings,
  };
  let windowStart = Date.now();
  let used = 0;
  const resetAt = (): number => Math.ceil((windowStart + 60_000) / 1000);
  const roll = (): void => {
    if (Date.now() >= windowStart + 60_000) {
      windowStart = Date.now();
      used = 0;
    }
  };

  function errorFor(kind: ErrorKind, req: FakeRequest): FakeResponse {
    switch (kind) {
      case 'missingCredentials':
      case 'invalidCredentials':
      case 'expiredCredentials':
      case 'revokedCredentials':
        return sgError(401, 'authorization required');
      case 'forbidden':
        return sgError(403, 'access forbidden');
      case 'rateLimited': {
        const wait = req.fault?.retryAfterSec ?? 60;
        return sgError(429, 'too many requests', null, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + wait) });
      }
      case 'internal':
        return sgError(500, 'internal server error');
      case 'unavailable':
        return sgError(503, 'service unavailable');
    }
  }

  /** The dates a stats response has one entry for: each day, or the first day of each week or month in range. */
  function buckets(from: string, to: string, by: string): Array<{ date: string; days: string[] }> {
    const out: Array<{ date: string; days: string[] }> = [];
    for (const d of dateRange(from, to)) {
      const last = out[out.length - 1];
      const newBucket = !last || by === 'day' || (by === 'week' && weekday(d) === 1) || (by === 'month' && d.endsWith('-01'));
      if (newBucket) out.push({ date: d, days: [d] });
      else last.days.push(d);
    }
    return out;
  }

  function window(q: URLSearchParams): { from: string; to: string; by: string; limit?: number; offset: number } {
    const from = q.get('start_date');
    if (!from) throw new BadRequest('start_date', 'missing required argument');
    if (!isIsoDate(from)) throw new BadRequest('start_date', 'date must be in YYYY-MM-DD format');
    const to = q.get('end_date') ?? settings.today;
    if (!isIsoDate(to)) throw new BadRequest('end_date', 'date must be in YYYY-MM-DD format');
    if (to < from) throw new BadRequest('end_date', 'end_date must be after start_date');
    const by = q.get('aggregated_by') ?? 'day';
    if (!['day', 'week', 'month'].includes(by)) throw new BadRequest('aggregated_by', 'aggregated_by must be day, week or month');
    const limit = q.get('limit');
    const offset = Number(q.get('offset') ?? 0);
    return { from, to, by, limit: limit === null ? undefined : Number(limit), offset: Number.isInteger(offset) && offset > 0 ? offset : 0 };
  }

  function stats(q: URLSearchParams, categories?: string[]): unknown[] {
    const w = window(q);
    const all = buckets(w.from, w.to, w.by);
    const list = all.slice(w.offset, w.limit !== undefined ? w.offset + w.limit : undefined);
    return list.map((b) => {
      if (!categories) {
        const metrics = zero();
        for (const d of b.days) for (const row of dataset.sendgrid.day(d)) addInto(metrics, row.metrics);
        return { date: b.date, stats: [{ metrics }] };
      }
      return {
        date: b.date,
        stats: categories.map((name) => {
          const metrics = zero();
          for (const d of b.days) for (const row of dataset.sendgrid.day(d)) if (row.category === name) addInto(metrics, row.metrics);
          return { metrics, name, type: 'category' };
        }),
      };
    });
  }

  function handle(req: FakeRequest): FakeResponse {
    roll();
    if (used >= settings.rateLimit) return sgError(429, 'too many requests', null, { 'x-ratelimit-remaining': '0' });
    used++;
    if (req.method !== 'GET') return sgError(405, 'method not allowed');
    const needed = NEEDS[req.path];
    if (needed && !settings.scopes.includes(needed)) return sgError(403, 'access forbidden');
    try {
      // Any valid key may read its own scopes.
      if (req.path === '/v3/scopes') return json(200, { scopes: [...settings.scopes].sort() });
      if (req.path === '/v3/user/account') return json(200, { type: 'paid', reputation: 99.7 });
      if (req.path === '/v3/stats') return json(200, stats(req.query));
      if (req.path === '/v3/categories/stats') {
        const categories = req.query.getAll('categories').flatMap((c) => c.split(',')).map((c) => c.trim()).filter(Boolean);
        if (categories.length === 0) throw new BadRequest('categories', 'missing required argument');
        if (categories.length > 10) throw new BadRequest('categories', 'you may only request up to 10 categories');
        const unknown = categories.find((c) => !(dataset.sendgrid.categories as string[]).includes(c));
        if (unknown) return sgError(404, `category ${unknown} does not exist`, 'categories');
        return json(200, stats(req.query, categories));
      }
      if (req.path === '/v3/categories') return json(200, dataset.sendgrid.categories.map((category) => ({ category })));
      return sgError(404, 'resource not found');
    } catch (err) {
      if (err instanceof BadRequest) return sgError(400, err.message, err.field);
      throw err;
    }
  }

  const api: FakeApi = {
    name: 'sendgrid',
    credential: bearer,
    error: errorFor,
    typeChangePath: () => '0.stats.0.metrics.delivered',
    headers: () => {
      roll();
      return {
        'x-ratelimit-limit': String(settings.rateLimit),
        'x-ratelimit-remaining': String(Math.max(0, settings.rateLimit - used)),
        'x-ratelimit-reset': String(resetAt()),
      };
    },
    handle,
  };

  return startFakeServer(api, settings, options.credentials ?? new CredentialStore([SENDGRID_API_KEY]));
}
