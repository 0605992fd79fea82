import { ConfigError, TransientError } from '../errors.ts';

/**
 * A ConfigError from an HTTP exchange; `status` is absent when no response came back, and
 * `code` then says why (ENOTFOUND, CERT_HAS_EXPIRED, ...).
 */
export class HttpConfigError extends ConfigError {
  readonly status: number | undefined;
  readonly code: string | undefined;

  constructor(message: string, status?: number, code?: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * A TransientError from an HTTP exchange, with the last status seen; for timeouts and lost
 * connections the status is absent and `code` says which ('timeout', ECONNRESET, ...).
 */
export class HttpTransientError extends TransientError {
  readonly status: number | undefined;
  readonly code: string | undefined;

  constructor(message: string, options: { status?: number; code?: string | undefined; retryAfterMs?: number; cause?: unknown } = {}) {
    // An own `cause: undefined` would still show up when the error is inspected.
    const { cause, retryAfterMs } = options;
    super(message, cause === undefined ? { retryAfterMs } : { retryAfterMs, cause });
    this.status = options.status;
    this.code = options.code;
  }
}
