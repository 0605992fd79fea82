import { randomUUID } from 'node:crypto';
import type { ErrorKind, Fault, FakeResponse } from './server.ts';

/**
 * Google's JSON error envelope (google.rpc.Status over HTTP). The older v3 APIs (Search
 * Console) also carry the legacy `errors` list, which the client libraries read.
 */

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

interface LegacyError {
  message: string;
  domain: string;
  reason: string;
  location?: string;
  locationType?: string;
}

export function googleError(code: number, message: string, extra: { legacy?: LegacyError[]; details?: unknown[]; headers?: Record<string, string> } = {}): FakeResponse {
  const error: Record<string, unknown> = { code, message };
  if (extra.legacy) error.errors = extra.legacy;
  error.status = STATUS_NAMES[code] ?? 'UNKNOWN';
  if (extra.details) error.details = extra.details;
  const headers: Record<string, string> = { ...extra.headers };
  if (code === 401) headers['www-authenticate'] = 'Bearer realm="https://accounts.google.com/", error="invalid_token"';
  return { status: code, body: { error }, headers };
}

const AUTH_HELP =
  'Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';

function errorInfo(reason: string, service: string): unknown {
  return { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain: 'googleapis.com', metadata: { service, method: 'sandbox' } };
}

/** The errors that GA4 and Search Console share; `forbidden` and `rateLimited` differ per API. */
export function googleAuthOrServerError(
  kind: ErrorKind,
  service: string,
  legacy: boolean,
  fault: Fault | undefined,
  perApi: { forbidden: string; rateLimited: string },
): FakeResponse {
  const retry = fault?.retryAfterSec !== undefined ? { 'retry-after': String(fault.retryAfterSec) } : undefined;
  switch (kind) {
    case 'missingCredentials':
      return googleError(401, `Request is missing required authentication credential. ${AUTH_HELP}`, {
        legacy: legacy ? [{ message: 'Login Required.', domain: 'global', reason: 'required', location: 'Authorization', locationType: 'header' }] : undefined,
        details: [errorInfo('CREDENTIALS_MISSING', service)],
      });
    case 'invalidCredentials':
    case 'expiredCredentials':
    case 'revokedCredentials':
      return googleError(401, `Request had invalid authentication credentials. ${AUTH_HELP}`, {
        legacy: legacy ? [{ message: 'Invalid Credentials', domain: 'global', reason: 'authError', location: 'Authorization', locationType: 'header' }] : undefined,
        details: [errorInfo(kind === 'expiredCredentials' ? 'ACCESS_TOKEN_EXPIRED' : 'ACCESS_TOKEN_TYPE_UNSUPPORTED', service)],
      });
    case 'forbidden':
      return googleError(403, perApi.forbidden, { legacy: legacy ? [{ message: perApi.forbidden, domain: 'global', reason: 'forbidden' }] : undefined });
    case 'rateLimited':
      return googleError(429, perApi.rateLimited, {
        legacy: legacy ? [{ message: perApi.rateLimited, domain: 'usageLimits', reason: 'rateLimitExceeded' }] : undefined,
        headers: retry,
      });
    case 'internal':
      return googleError(500, 'Internal error encountered.', { legacy: legacy ? [{ message: 'Internal error encountered.', domain: 'global', reason: 'backendError' }] : undefined });
    case 'unavailable':
      return googleError(503, 'The service is currently unavailable.', { legacy: legacy ? [{ message: 'The service is currently unavailable.', domain: 'global', reason: 'backendError' }] : undefined });
  }
}

export function requestId(): string {
  return randomUUID().replace(/-/g, '').slice(0, 22);
}
