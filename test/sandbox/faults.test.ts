import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDataset, startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { callers, FAKE_NAMES, type Caller, type FakeName } from './helpers.ts';

type Kind = 'rateLimited' | 'internal' | 'unavailable' | 'missing' | 'expired' | 'revoked' | 'forbidden';

/** What each API really answers for each failure: status plus the parts of its error body clients key on. */
const EXPECT: Record<FakeName, (kind: Kind, res: Response, body: any) => void> = {
  ga4(kind, res, body) {
    const status = { rateLimited: 429, internal: 500, unavailable: 503, missing: 401, expired: 401, revoked: 401, forbidden: 403 }[kind];
    expect(res.status).toBe(status);
    expect(body.error.code).toBe(status);
    expect(body.error.status).toBe({ 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED' }[status]);
    if (kind === 'expired') expect(body.error.details[0].reason).toBe('ACCESS_TOKEN_EXPIRED');
    if (kind === 'missing') expect(body.error.details[0].reason).toBe('CREDENTIALS_MISSING');
    if (status === 401) expect(res.headers.get('www-authenticate')).toMatch(/invalid_token/);
  },
  searchConsole(kind, res, body) {
    const status = { rateLimited: 429, internal: 500, unavailable: 503, missing: 401, expired: 401, revoked: 401, forbidden: 403 }[kind];
    expect(res.status).toBe(status);
    expect(body.error.code).toBe(status);
    const reason = { rateLimited: 'rateLimitExceeded', internal: 'backendError', unavailable: 'backendError', missing: 'required', expired: 'authError', revoked: 'authError', forbidden: 'forbidden' }[kind];
    expect(body.error.errors[0].reason).toBe(reason);
  },
  googleAds(kind, res, body) {
    const status = { rateLimited: 429, internal: 500, unavailable: 503, missing: 401, expired: 401, revoked: 401, forbidden: 403 }[kind];
    expect(res.status).toBe(status);
    expect(Array.isArray(body)).toBe(true);
    const failure = body[0].error.details[0];
    expect(failure['@type']).toBe('type.googleapis.com/google.ads.googleads.v21.errors.GoogleAdsFailure');
    expect(typeof failure.requestId).toBe('string');
    const code = {
      rateLimited: { quotaError: 'RESOURCE_EXHAUSTED' },
      internal: { internalError: 'INTERNAL_ERROR' },
      unavailable: { internalError: 'TRANSIENT_ERROR' },
      missing: { authenticationError: 'OAUTH_TOKEN_HEADER_INVALID' },
      expired: { authenticationError: 'OAUTH_TOKEN_EXPIRED' },
      revoked: { authenticationError: 'OAUTH_TOKEN_REVOKED' },
      forbidden: { authorizationError: 'USER_PERMISSION_DENIED' },
    }[kind];
    expect(failure.errors[0].errorCode).toEqual(code);
    if (kind === 'rateLimited') expect(failure.errors[0].details.quotaErrorDetails.retryDelay).toBe('7s');
  },
  meta(kind, res, body) {
    const [status, code, subcode] = {
      rateLimited: [400, 80000, 2446079], internal: [500, 2, undefined], unavailable: [503, 2, undefined], missing: [400, 104, undefined],
      expired: [400, 190, 463], revoked: [400, 190, 460], forbidden: [403, 200, undefined],
    }[kind] as [number, number, number | undefined];
    expect(res.status).toBe(status);
    expect(body.error.code).toBe(code);
    expect(body.error.error_subcode).toBe(subcode);
    expect(typeof body.error.type).toBe('string');
    expect(typeof body.error.fbtrace_id).toBe('string');
    if (kind === 'rateLimited' || kind === 'internal' || kind === 'unavailable') expect(body.error.is_transient).toBe(true);
    expect(res.headers.get('x-business-use-case-usage')).toBeTruthy();
  },
  mailchimp(kind, res, body) {
    const [status, title] = {
      rateLimited: [429, 'Too Many Requests'], internal: [500, 'Internal Server Error'], unavailable: [503, 'Service Unavailable'], missing: [401, 'API Key Missing'],
      expired: [401, 'API Key Invalid'], revoked: [401, 'API Key Invalid'], forbidden: [403, 'Forbidden'],
    }[kind] as [number, string];
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(body).toMatchObject({ type: 'https://mailchimp.com/developer/marketing/docs/errors/', title, status });
    expect(typeof body.detail).toBe('string');
    expect(typeof body.instance).toBe('string');
  },
  sendgrid(kind, res, body) {
    const [status, message] = {
      rateLimited: [429, 'too many requests'], internal: [500, 'internal server error'], unavailable: [503, 'service unavailable'], missing: [401, 'authorization required'],
      expired: [401, 'authorization required'], revoked: [401, 'authorization required'], forbidden: [403, 'access forbidden'],
    }[kind] as [number, string];
    expect(res.status).toBe(status);
    expect(body).toEqual({ errors: [{ field: null, message }] });
    expect(res.headers.get('x-ratelimit-limit')).toBe('600');
    if (kind === 'rateLimited') expect(res.headers.get('x-ratelimit-remaining')).toBe('0');
  },
  shop(kind, res, body) {
    const status = { rateLimited: 429, internal: 500, unavailable: 503, missing: 401, expired: 401, revoked: 401, forbidden: 403 }[kind];
    expect(res.status).toBe(status);
    expect(typeof body.errors).toBe('string');
    if (kind === 'rateLimited') expect(res.headers.get('retry-after')).toBe('7.0');
  },
};

let sb: Sandbox;
let all: Record<FakeName, Caller>;

beforeAll(async () => {
  sb = await startSandbox(createDataset({ seed: 3, endDate: '2024-03-31', days: 60 }));
  all = callers(sb);
});
afterAll(async () => {
  await sb.close();
});
afterEach(() => {
  for (const name of FAKE_NAMES) all[name].fake.faults.length = 0;
});

async function read(res: Response): Promise<any> {
  const text = await res.text();
  return text ? JSON.parse(text) : undefined;
}

/** A credential the fake accepts that the client did not have before: a refresh for Google, a new key elsewhere. */
async function freshCredential(name: FakeName, c: Caller): Promise<string> {
  if (name === 'ga4' || name === 'searchConsole' || name === 'googleAds') {
    const { oauthClient, tokenUrl } = sb.credentials.google;
    const res = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: oauthClient.clientId, client_secret: oauthClient.clientSecret, refresh_token: oauthClient.refreshToken }),
    });
    return ((await res.json()) as { access_token: string }).access_token;
  }
  const key = name === 'mailchimp' ? `fresh${Math.random().toString(16).slice(2)}-us6` : `fresh-${Math.random().toString(16).slice(2)}`;
  c.fake.credentials.add(key);
  return key;
}

describe.each(FAKE_NAMES)('%s fake: auth, faults and error shapes', (name) => {
  it('answers a valid request and logs it with its headers', async () => {
    const c = all[name];
    const before = c.fake.requests.length;
    const res = await c.call();
    expect(res.status).toBe(200);
    expect(c.typeChangeTarget(await read(res))).toBeDefined();
    const logged = c.fake.requests.at(-1);
    expect(c.fake.requests.length).toBe(before + 1);
    expect(logged?.status).toBe(200);
    expect(JSON.stringify(logged?.headers) + JSON.stringify(logged?.query)).toContain(name === 'mailchimp' ? 'Basic' : c.defaultCredential);
  });

  it('rejects a request without credentials, or with unknown ones', async () => {
    const c = all[name];
    const missing = await c.call('');
    EXPECT[name]('missing', missing, await read(missing));
    const unknown = await c.call(name === 'mailchimp' ? 'nope-us6' : 'not-a-real-token');
    expect([400, 401]).toContain(unknown.status);
  });

  it('429: the API\'s rate-limit error `times` times, with Retry-After, then success', async () => {
    const c = all[name];
    c.fake.faults.push({ kind: '429', retryAfterSec: 7, times: 2 });
    for (let i = 0; i < 2; i++) {
      const res = await c.call();
      EXPECT[name]('rateLimited', res, await read(res));
      if (name !== 'meta' && name !== 'sendgrid' && name !== 'shop') expect(res.headers.get('retry-after')).toBe('7');
    }
    expect((await c.call()).status).toBe(200);
    expect(c.fake.requests.at(-2)?.fault).toBe('429');
  });

  it('500 and 503 bursts', async () => {
    const c = all[name];
    c.fake.faults.push({ kind: '500', times: 3 }, { kind: '503', times: 1 });
    for (let i = 0; i < 3; i++) {
      const res = await c.call();
      EXPECT[name]('internal', res, await read(res));
    }
    const res = await c.call();
    EXPECT[name]('unavailable', res, await read(res));
    expect((await c.call()).status).toBe(200);
  });

  it('hang: never answers, so the client times out; the next request is served', async () => {
    const c = all[name];
    c.fake.faults.push({ kind: 'hang' });
    await expect(c.call(undefined, AbortSignal.timeout(150))).rejects.toThrow();
    expect(c.fake.requests.at(-1)?.fault).toBe('hang');
    expect(c.fake.requests.at(-1)?.status).toBeUndefined();
    expect((await c.call()).status).toBe(200);
  });

  it('malformed: a 200 whose JSON body is cut off', async () => {
    const c = all[name];
    c.fake.faults.push({ kind: 'malformed' });
    const res = await c.call();
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.length).toBeGreaterThan(0);
    expect(() => JSON.parse(text)).toThrow();
    expect((await c.call()).status).toBe(200);
  });

  it('typeChange: a numeric field arrives as an object, or as a non-numeric string', async () => {
    const c = all[name];
    const normal = c.typeChangeTarget(await read(await c.call()));
    c.fake.faults.push({ kind: 'typeChange' }, { kind: 'typeChange', to: 'string' });
    expect(c.typeChangeTarget(await read(await c.call()))).toEqual({ value: normal });
    expect(c.typeChangeTarget(await read(await c.call()))).toBe('n/a');
    expect(c.typeChangeTarget(await read(await c.call()))).toEqual(normal);
  });

  it('expiredToken: 401 for the current credential until the client gets a new one', async () => {
    const c = all[name];
    const old = await freshCredential(name, c);
    expect((await c.call(old)).status).toBe(200);
    c.fake.faults.push({ kind: 'expiredToken' });
    const first = await c.call(old);
    EXPECT[name]('expired', first, await read(first));
    const again = await c.call(old);
    EXPECT[name]('expired', again, await read(again));
    const renewed = await freshCredential(name, c);
    expect((await c.call(renewed)).status).toBe(200);
  });

  it('revokedToken: rejected on every request until the fault is removed', async () => {
    const c = all[name];
    c.fake.faults.push({ kind: 'revokedToken' });
    for (let i = 0; i < 3; i++) {
      const res = await c.call();
      EXPECT[name]('revoked', res, await read(res));
    }
    c.fake.faults.length = 0;
    expect((await c.call()).status).toBe(200);
  });

  it('forbidden: the API\'s permission error', async () => {
    const c = all[name];
    c.fake.faults.push({ kind: 'forbidden', times: 1 });
    const res = await c.call();
    EXPECT[name]('forbidden', res, await read(res));
    expect((await c.call()).status).toBe(200);
  });
});

describe('fault targeting', () => {
  it('`after` lets the first requests through; `path` limits a fault to some routes', async () => {
    const c = all.sendgrid;
    c.fake.faults.push({ kind: '500', after: 2 });
    expect((await c.call()).status).toBe(200);
    expect((await c.call()).status).toBe(200);
    expect((await c.call()).status).toBe(500);
    expect((await c.call()).status).toBe(200);

    c.fake.faults.push({ kind: '503', path: '/v3/categories/stats' });
    expect((await c.call()).status).toBe(200);
    expect(c.fake.faults).toHaveLength(1);
    const cat = await fetch(`${sb.urls.sendgrid}/v3/categories/stats?start_date=2024-03-01&categories=newsletter`, { headers: { authorization: `Bearer ${sb.credentials.sendgrid.apiKey}` } });
    expect(cat.status).toBe(503);
    expect(c.fake.faults).toHaveLength(0);

    c.fake.faults.push({ kind: '429', path: /googleAds:search$/ });
    expect((await c.call()).status).toBe(200);
    expect(c.fake.faults).toHaveLength(1);
  });

  it('close() ends hung requests too', async () => {
    const local = await startSandbox(createDataset({ seed: 1, endDate: '2024-01-31', days: 7 }));
    const c = callers(local).shop;
    c.fake.faults.push({ kind: 'hang' });
    const pending = c.call();
    await new Promise((r) => setTimeout(r, 50));
    await local.close();
    await expect(pending).rejects.toThrow();
  });
});
