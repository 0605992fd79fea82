import { randomUUID } from 'node:crypto';
import type { Dataset, LinkedInRow } from './dataset.ts';
import { dateRange, isIsoDate } from './dates.ts';
import { bearer, CredentialStore, json, startFakeServer, type ErrorKind, type FakeApi, type FakeRequest, type FakeResponse, type FakeServer } from './server.ts';

/**
 * LinkedIn's Marketing API (Rest.li 2.0, versioned), from its public reference:
 * GET /rest/adAnalytics?q=analytics&pivot=CAMPAIGN&timeGranularity=DAILY
 * &dateRange=(start:(year:Y,month:M,day:D),end:(...))&accounts=List(urn%3Ali%3AsponsoredAccount%3AID)
 * &fields=... answers { paging: { start, count, links: [] }, elements: [{ dateRange: { start:
 * { year, month, day }, end }, pivotValues: ["urn:li:sponsoredCampaign:ID"], impressions, clicks,
 * costInLocalCurrency ("12.34"), externalWebsiteConversions, conversionValueInLocalCurrency }] },
 * unpaged (at most 15 000 elements; more is a 400). GET /rest/adAccounts/{id} and
 * GET /rest/adAccounts?q=search describe ad accounts. Every call needs the LinkedIn-Version
 * header (YYYYMM) and X-Restli-Protocol-Version: 2.0.0, and `Authorization: Bearer`; the token
 * comes from POST /oauth/v2/accessToken (grant_type=refresh_token). Errors are
 * { status, serviceErrorCode, code, message }; a throttle is a 429 with such a body.
 */

export const LINKEDIN_CLIENT = { clientId: '86sandboxlinkedin', clientSecret: 'WPL_AP1.sandbox-linkedin-secret.Aq9f==', refreshToken: 'AQX-sandbox-linkedin-refresh-token-0123456789' } as const;

export interface LinkedInSettings {
  /** Largest number of elements one answer may hold (15 000 in the real API). */
  maxElements: number;
  /** expires_in of the access tokens it issues. */
  tokenLifetimeSec: number;
}

const liError = (status: number, code: string, message: string, serviceErrorCode = 100, headers?: Record<string, string>): FakeResponse => ({
  status,
  body: { status, serviceErrorCode, code, message },
  ...(headers ? { headers } : {}),
});

/** `(start:(year:2024,month:3,day:1),end:(year:2024,month:3,day:31))` → two dates. */
function parseDateRange(text: string | null): { from: string; to: string } | undefined {
  const m = /^\(start:\(year:(\d{4}),month:(\d{1,2}),day:(\d{1,2})\),end:\(year:(\d{4}),month:(\d{1,2}),day:(\d{1,2})\)\)$/.exec(text ?? '');
  if (!m) return undefined;
  const d = (y: string, mo: string, da: string) => `${y}-${mo.padStart(2, '0')}-${da.padStart(2, '0')}`;
  const from = d(m[1]!, m[2]!, m[3]!);
  const to = d(m[4]!, m[5]!, m[6]!);
  return isIsoDate(from) && isIsoDate(to) ? { from, to } : undefined;
}

const ymd = (date: string) => ({ year: Number(date.slice(0, 4)), month: Number(date.slice(5, 7)), day: Number(date.slice(8, 10)) });

export async function startLinkedInFake(dataset: Dataset, options: { credentials?: CredentialStore; settings?: Partial<LinkedInSettings> } = {}): Promise<FakeServer<LinkedInSettings> & { issued: string[] }> {
  const settings: LinkedInSettings = { maxElements: 15_000, tokenLifetimeSec: 5_184_000, ...options.settings };
  const credentials = options.credentials ?? new CredentialStore();
  const issued: string[] = [];

  function errorFor(kind: ErrorKind, req: FakeRequest): FakeResponse {
    switch (kind) {
      case 'missingCredentials':
        return liError(401, 'INVALID_ACCESS_TOKEN', 'Empty oauth2 access token', 65600);
      case 'invalidCredentials':
        return liError(401, 'INVALID_ACCESS_TOKEN', 'Invalid access token', 65600);
      case 'expiredCredentials':
        return liError(401, 'EXPIRED_ACCESS_TOKEN', 'The token used in the request has expired', 65601);
      case 'revokedCredentials':
        return liError(401, 'REVOKED_ACCESS_TOKEN', 'The token used in the request has been revoked by the user', 65602);
      case 'forbidden':
        return liError(403, 'ACCESS_DENIED', 'Not enough permissions to access: adAnalytics.GET.20241101', 100);
      case 'rateLimited':
        return liError(429, 'TOO_MANY_REQUESTS', 'Resource level throttle APPLICATION DAY limit for calls to this resource is reached.', 101, req.fault?.retryAfterSec !== undefined ? { 'retry-after': String(req.fault.retryAfterSec) } : undefined);
      case 'internal':
        return liError(500, 'INTERNAL_SERVER_ERROR', 'Internal Server Error', 0);
      case 'unavailable':
        return liError(503, 'SERVICE_UNAVAILABLE', 'Service Unavailable', 0);
    }
  }

  function token(req: FakeRequest): FakeResponse {
    const form = (req.body ?? {}) as Record<string, string>;
    if (form.grant_type !== 'refresh_token') return json(400, { error: 'invalid_request', error_description: 'A required parameter "grant_type" is missing or unsupported' });
    if (form.client_id !== LINKEDIN_CLIENT.clientId || form.client_secret !== LINKEDIN_CLIENT.clientSecret) return json(401, { error: 'invalid_client', error_description: 'Client authentication failed' });
    if (form.refresh_token !== LINKEDIN_CLIENT.refreshToken) return json(400, { error: 'invalid_grant', error_description: 'The provided authorization grant or refresh token is invalid, expired or revoked' });
    const accessToken = `AQV-sandbox-${randomUUID()}`;
    credentials.add(accessToken, settings.tokenLifetimeSec);
    issued.push(accessToken);
    return json(200, { access_token: accessToken, expires_in: settings.tokenLifetimeSec, refresh_token: LINKEDIN_CLIENT.refreshToken, refresh_token_expires_in: 31_536_000, scope: 'r_ads,r_ads_reporting' });
  }

  const account = (id: string) => ({
    id: Number(id), name: id === dataset.linkedin.accountIds[0] ? 'Example Inc' : 'Example GmbH', currency: dataset.linkedin.currency, status: 'ACTIVE', type: 'BUSINESS',
    reference: 'urn:li:organization:2414183', test: false, servingStatuses: ['RUNNABLE'], notifiedOnCampaignOptimization: false,
  });

  function analytics(req: FakeRequest): FakeResponse {
    const q = req.query;
    if (q.get('q') !== 'analytics') return liError(400, 'ILLEGAL_ARGUMENT', 'Invalid finder: expected q=analytics');
    if (q.get('pivot') !== 'CAMPAIGN') return liError(400, 'ILLEGAL_ARGUMENT', 'The sandbox serves pivot CAMPAIGN only');
    if (q.get('timeGranularity') !== 'DAILY') return liError(400, 'ILLEGAL_ARGUMENT', 'The sandbox serves timeGranularity DAILY only');
    const range = parseDateRange(q.get('dateRange'));
    if (!range) return liError(400, 'ILLEGAL_ARGUMENT', `Invalid value for param dateRange: ${q.get('dateRange') ?? '(missing)'}`);
    const list = /^List\((.*)\)$/.exec(q.get('accounts') ?? '');
    if (!list) return liError(400, 'ILLEGAL_ARGUMENT', 'Invalid value for param accounts: expected List(urn:li:sponsoredAccount:ID,...)');
    const ids = list[1]!.split(',').map((u) => /^urn:li:sponsoredAccount:(\d+)$/.exec(decodeURIComponent(u))?.[1]);
    if (ids.some((id) => id === undefined)) return liError(400, 'ILLEGAL_ARGUMENT', 'Invalid value for param accounts');
    const unknown = ids.find((id) => !dataset.linkedin.accountIds.includes(id!));
    if (unknown) return liError(403, 'ACCESS_DENIED', `Not enough permissions to access account urn:li:sponsoredAccount:${unknown}`);
    const fields = new Set((q.get('fields') ?? 'impressions,clicks').split(','));
    const rows: LinkedInRow[] = [];
    for (const d of dateRange(range.from, range.to)) rows.push(...dataset.linkedin.day(d).filter((r) => ids.includes(r.accountId)));
    if (rows.length > settings.maxElements) return liError(400, 'ILLEGAL_ARGUMENT', `Too many elements: the query would return more than ${settings.maxElements} elements; narrow the date range`);
    const elements = rows.map((r) => {
      const all: Record<string, unknown> = {
        dateRange: { start: ymd(r.date), end: ymd(r.date) },
        pivotValues: [`urn:li:sponsoredCampaign:${r.campaignId}`],
        impressions: r.impressions,
        clicks: r.clicks,
        costInLocalCurrency: r.cost,
        externalWebsiteConversions: r.conversions,
        conversionValueInLocalCurrency: r.conversionValue,
      };
      return Object.fromEntries(Object.entries(all).filter(([k]) => fields.has(k)));
    });
    return json(200, { paging: { start: 0, count: 10, links: [] }, elements });
  }

  const api: FakeApi = {
    name: 'linkedin',
    credential: bearer,
    error: errorFor,
    isPublic: (req) => req.path === '/oauth/v2/accessToken',
    typeChangePath: () => 'elements.0.clicks',
    handle(req) {
      if (req.path === '/oauth/v2/accessToken') return req.method === 'POST' ? token(req) : liError(405, 'METHOD_NOT_ALLOWED', 'Method not allowed');
      if (!/^\d{6}$/.test(String(req.headers['linkedin-version'] ?? ''))) return liError(400, 'VERSION_MISSING', 'A version must be present. Please specify a version by adding the LinkedIn-Version header.');
      if (req.headers['x-restli-protocol-version'] !== '2.0.0') return liError(400, 'ILLEGAL_ARGUMENT', 'Rest.li protocol 2.0.0 is required (X-Restli-Protocol-Version)');
      if (req.path === '/rest/adAnalytics') return analytics(req);
      if (req.path === '/rest/adAccounts' && req.query.get('q') === 'search') return json(200, { paging: { start: 0, count: 1000, links: [] }, elements: dataset.linkedin.accountIds.map(account) });
      const one = /^\/rest\/adAccounts\/(\d+)$/.exec(req.path);
      if (one) return dataset.linkedin.accountIds.includes(one[1]!) ? json(200, account(one[1]!)) : liError(404, 'NOT_FOUND', `Ad account ${one[1]} does not exist`);
      return liError(404, 'NOT_FOUND', 'Resource not found');
    },
  };
  const server = await startFakeServer(api, settings, credentials);
  return Object.assign(server, { issued });
}
