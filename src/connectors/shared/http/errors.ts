import { ConfigError, TransientError } from '../../../errors.ts';

/** A ConfigError from an HTTP exchange; `status` is absent when no response came back. */
export class HttpConfigError extends ConfigError {
  readonly status: number | undefined;

  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
  }
}

/** A TransientError from an HTTP exchange, with the last status seen (absent for timeouts and lost connections). */
export class HttpTransientError extends TransientError {
  readonly status: number | undefined;

  constructor(message: string, options: { status?: number; retryAfterMs?: number; cause?: unknown } = {}) {
    // An own `cause: undefined` would still show up when the error is inspected.
    const { cause, retryAfterMs } = options;
    super(message, cause === undefined ? { retryAfterMs } : { retryAfterMs, cause });
    this.status = options.status;
  }
}
