/** What an HTTP answer, or the lack of one, means for whoever sent the request. */

export type StatusOutcome = 'ok' | 'retry' | 'unauthorized' | 'config';

/**
 * 403 is a credentials problem here; APIs that signal quota with 403 (some older Google
 * APIs) say so through the client's `classify` hook.
 */
export function classifyStatus(status: number): StatusOutcome {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  if (status === 401) return 'unauthorized';
  return 'config';
}

// Failures no retry can fix: the host does not resolve, TLS does not verify, the URL is bad.
const PERMANENT_NETWORK_CODE =
  /^(ENOTFOUND|ERR_INVALID_URL|ERR_INVALID_PROTOCOL|ERR_FR_TOO_MANY_REDIRECTS|ERR_TLS_.*|ERR_SSL_.*|CERT_.*|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_.*)$/;

/**
 * What to do about a request that got no response. Lost connections (ECONNRESET,
 * ECONNREFUSED, ETIMEDOUT, socket hang up, aborted streams, ...) are retried; so is anything
 * unrecognised, since it has not been shown to be permanent.
 */
export function networkErrorOutcome(err: unknown): 'retry' | 'config' {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && PERMANENT_NETWORK_CODE.test(code) ? 'config' : 'retry';
}
