import type { Classification, ResponseInfo } from '../../core/http/index.ts';
import { parseRetryAfter } from '../../core/resilience/index.ts';

/**
 * Google Ads reports what went wrong in GoogleAdsFailure details:
 * error.details[].errors[].errorCode = { <category>: <CODE> }. searchStream wraps even its
 * errors in an array, and an error that happens mid-stream arrives as the last element of a
 * 200 response, so the body decides, not only the status.
 */

interface AdsError {
  category: string;
  code: string;
  message: string;
  retryDelay?: string;
}

function adsFailure(data: unknown): { message: string; errors: AdsError[] } | undefined {
  const holder = Array.isArray(data) ? data.find((x) => x && typeof x === 'object' && 'error' in x) : data;
  const error = holder && typeof holder === 'object' ? (holder as { error?: unknown }).error : undefined;
  if (!error || typeof error !== 'object') return undefined;
  const e = error as { message?: unknown; details?: unknown };
  const errors: AdsError[] = [];
  for (const detail of Array.isArray(e.details) ? e.details : []) {
    for (const item of Array.isArray((detail as { errors?: unknown })?.errors) ? (detail as { errors: unknown[] }).errors : []) {
      const it = item as { errorCode?: Record<string, unknown>; message?: unknown; details?: { quotaErrorDetails?: { retryDelay?: unknown } } };
      const [category, code] = Object.entries(it.errorCode ?? {})[0] ?? ['unknown', 'UNKNOWN'];
      const retryDelay = it.details?.quotaErrorDetails?.retryDelay;
      errors.push({ category, code: String(code), message: typeof it.message === 'string' ? it.message : '', ...(typeof retryDelay === 'string' ? { retryDelay } : {}) });
    }
  }
  return { message: typeof e.message === 'string' ? e.message : '', errors };
}

/** protobuf Duration JSON: "30s", "1.5s". */
function durationMs(text: string | undefined): number | undefined {
  const m = text ? /^(\d+(?:\.\d+)?)s$/.exec(text.trim()) : null;
  return m ? Math.round(Number(m[1]) * 1000) : undefined;
}

const describe = (f: { message: string; errors: AdsError[] }): string =>
  f.errors.length > 0 ? f.errors.map((e) => `${e.message || f.message} (${e.category}.${e.code})`).join('; ') : f.message;

/** The failure's own messages and codes ("The developer token is not valid. (authenticationError.DEVELOPER_TOKEN_INVALID)"), unscrubbed. */
export function adsFailureMessage(data: unknown): string | undefined {
  const failure = adsFailure(data);
  return failure ? describe(failure) : undefined;
}

/** OAuth token problems that a fresh access token fixes; the HTTP layer refreshes once on these. */
const REFRESHABLE = new Set(['OAUTH_TOKEN_EXPIRED', 'OAUTH_TOKEN_INVALID', 'OAUTH_TOKEN_REVOKED', 'OAUTH_TOKEN_DISABLED', 'OAUTH_TOKEN_HEADER_INVALID']);

export function classifyGoogleAds(res: ResponseInfo): Classification {
  const failure = adsFailure(res.data);
  if (!failure) return undefined;
  const message = describe(failure);
  const has = (category: string) => failure.errors.filter((e) => e.category === category);

  const quota = has('quotaError');
  if (quota.length > 0) {
    const retryAfterMs = durationMs(quota.find((e) => e.retryDelay)?.retryDelay) ?? parseRetryAfter(res.headers['retry-after']);
    return { verdict: 'retry', message, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  }
  if (has('internalError').length > 0) return { verdict: 'retry', message };
  const auth = has('authenticationError');
  if (auth.length > 0) {
    // Status rules turn a 401 into one refresh and retry; a bad developer token is not fixed by that.
    if (res.status === 401 && auth.every((e) => REFRESHABLE.has(e.code))) return undefined;
    return { verdict: 'config', message };
  }
  if (has('authorizationError').length > 0) return { verdict: 'config', message };
  if (res.status === 401) return undefined;
  const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
  return { verdict: retryable ? 'retry' : 'config', message };
}
