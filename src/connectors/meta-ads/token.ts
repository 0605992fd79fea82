import { createHttpClient, type HttpClient } from '../../core/http/index.ts';
import { registerSecret } from '../../core/secrets.ts';
import { classifyMeta, graphError } from './errors.ts';

/**
 * Meta's token endpoints: the exchange of a short-lived user token for a long-lived one
 * (`kpi connect meta`) and the token inspector, debug_token, which says when a token stops
 * working (the `token_expiry` alert rule).
 */

export const META_GRAPH_URL = 'https://graph.facebook.com';
export const META_DEFAULT_API_VERSION = 'v23.0';

export interface MetaEndpoint {
  /** The Graph API's base URL without the version; Meta's own when left out. */
  baseUrl?: string | undefined;
  apiVersion?: string | undefined;
  timeoutMs?: number;
}

function graphClient(endpoint: MetaEndpoint): HttpClient {
  return createHttpClient({
    name: 'meta-token',
    baseURL: `${(endpoint.baseUrl ?? META_GRAPH_URL).replace(/\/+$/, '')}/${endpoint.apiVersion ?? META_DEFAULT_API_VERSION}`,
    timeoutMs: endpoint.timeoutMs ?? 30_000,
    retry: { maxRetries: 2 },
    // A refused token is the answer here, not a reason to retry; the message names Meta's error.
    classify: (r) => {
      const e = graphError(r.data);
      if (e && (e.code === 1 || e.code === 101 || e.code === 100)) return { verdict: 'config', message: `Meta error ${e.code}: ${e.message}` };
      return classifyMeta(r, () => undefined);
    },
  });
}

export interface LongLivedToken {
  accessToken: string;
  /** Seconds until it expires, as Meta said; undefined when Meta gave none (a token that does not expire). */
  expiresIn: number | undefined;
}

/** GET /oauth/access_token?grant_type=fb_exchange_token: a short-lived user token for a long-lived one. */
export async function exchangeMetaToken(endpoint: MetaEndpoint, app: { id: string; secret: string }, shortLivedToken: string): Promise<LongLivedToken> {
  registerSecret(app.secret);
  registerSecret(shortLivedToken);
  const res = await graphClient(endpoint).get<{ access_token?: unknown; expires_in?: unknown }>('oauth/access_token', {
    query: { grant_type: 'fb_exchange_token', client_id: app.id, client_secret: app.secret, fb_exchange_token: shortLivedToken },
  });
  const token = res.data.access_token;
  if (typeof token !== 'string' || token === '') throw new Error('Meta answered the token exchange without an access_token');
  registerSecret(token);
  const expiresIn = typeof res.data.expires_in === 'number' && res.data.expires_in > 0 ? res.data.expires_in : undefined;
  return { accessToken: token, expiresIn };
}

export interface MetaTokenState {
  valid: boolean;
  /** The token's type: USER, SYSTEM_USER, PAGE, APP. */
  type: string | undefined;
  /** When the token expires; null: never (a system user's token). */
  expiresAt: Date | null;
  /** When its access to data ends (90 days after the person last used the app); null: never. */
  dataAccessExpiresAt: Date | null;
  /** Meta's reason when it is not valid. */
  error: string | undefined;
}

const unixTime = (v: unknown): Date | null => (typeof v === 'number' && v > 0 ? new Date(v * 1000) : null);

/**
 * GET /debug_token for `token`. It asks as the token itself unless an app token
 * (`app_id|app_secret`) is given: debug_token accepts either for a token of the app.
 */
export async function inspectMetaToken(endpoint: MetaEndpoint, token: string, asker?: string): Promise<MetaTokenState> {
  registerSecret(token);
  const res = await graphClient(endpoint).get<{ data?: Record<string, unknown> }>('debug_token', { query: { input_token: token, access_token: asker ?? token } });
  const data = res.data.data ?? {};
  const error = data.error && typeof data.error === 'object' ? (data.error as { message?: unknown }).message : undefined;
  return {
    valid: data.is_valid === true,
    type: typeof data.type === 'string' ? data.type : undefined,
    expiresAt: unixTime(data.expires_at),
    dataAccessExpiresAt: unixTime(data.data_access_expires_at),
    error: typeof error === 'string' ? error : undefined,
  };
}

/** The earlier of the two ends: after either, the token reads no more data. */
export function metaTokenEnd(state: MetaTokenState): { at: Date; what: 'expires' | 'loses data access' } | null {
  const { expiresAt, dataAccessExpiresAt } = state;
  if (expiresAt && (!dataAccessExpiresAt || expiresAt <= dataAccessExpiresAt)) return { at: expiresAt, what: 'expires' };
  if (dataAccessExpiresAt) return { at: dataAccessExpiresAt, what: 'loses data access' };
  return null;
}
