import type { Classification, ResponseInfo } from '../../core/http/index.ts';

/** Graph API errors: {error: {message, type, code, error_subcode, is_transient}}, often with HTTP 400 or 500. */
export interface GraphError {
  code: number;
  subcode: number | undefined;
  message: string;
  transient: boolean;
}

export function graphError(data: unknown): GraphError | undefined {
  const error = data && typeof data === 'object' ? (data as { error?: unknown }).error : undefined;
  if (!error || typeof error !== 'object') return undefined;
  const e = error as Record<string, unknown>;
  if (typeof e.code !== 'number') return undefined;
  return {
    code: e.code,
    subcode: typeof e.error_subcode === 'number' ? e.error_subcode : undefined,
    message: typeof e.message === 'string' ? e.message : '',
    transient: e.is_transient === true,
  };
}

/** Error code 1 that asks for less data: a smaller window works, the same request never will. */
export function isTooMuchData(e: GraphError): boolean {
  return e.code === 1 && (e.subcode === 1487534 || /reduce the amount of data/i.test(e.message));
}

// Throttling: application, user, page, custom and the Marketing API's per-feature limits.
const RATE_LIMIT_CODES = new Set([4, 17, 32, 613]);
const isRateLimit = (code: number): boolean => RATE_LIMIT_CODES.has(code) || (code >= 80000 && code <= 80014);
// Invalid, expired or missing access token; the session was invalidated.
const TOKEN_CODES = new Set([102, 104, 190, 463, 467]);
// Permissions: #10, #200–#299.
const isPermission = (code: number): boolean => code === 10 || (code >= 200 && code <= 299);

const label = (e: GraphError): string => `Meta error ${e.code}${e.subcode !== undefined ? `/${e.subcode}` : ''}: ${e.message}`;

/** `regainMs` is Meta's own estimate of when a throttled account is back, from the usage headers. */
export function classifyMeta(res: ResponseInfo, regainMs: () => number | undefined): Classification {
  const e = graphError(res.data);
  if (!e) return undefined;
  if (isTooMuchData(e)) return { verdict: 'config', message: label(e) };
  if (TOKEN_CODES.has(e.code)) {
    return { verdict: 'config', message: `the access token was refused (${label(e)}); generate a new long-lived or system user token and update the secret behind accessToken` };
  }
  if (isRateLimit(e.code)) {
    const wait = regainMs();
    return { verdict: 'retry', message: label(e), ...(wait !== undefined ? { retryAfterMs: wait } : {}) };
  }
  if (isPermission(e.code)) return { verdict: 'config', message: `${label(e)}; grant the token ads_read on the ad account` };
  if (e.transient || e.code === 1 || e.code === 2 || res.status >= 500) return { verdict: 'retry', message: label(e) };
  return { verdict: 'config', message: label(e) };
}
