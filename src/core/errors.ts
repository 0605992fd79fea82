/**
 * The three kinds of failure that every layer keeps apart (docs/ARCHITECTURE.md, "Errors").
 *
 * - ConfigError: something a person must fix (bad YAML, unknown metric, missing secret,
 *   401/403 from a source). Fails fast and is never retried.
 * - TransientError: timeouts, 429, 5xx, lost connections. Retried with backoff.
 * - DataError: one record that does not fit its schema. Quarantined; the run goes on.
 */

export interface ConfigProblem {
  /** Where the problem is, e.g. `connectors[2].schedule`; empty for the whole file. */
  path: string;
  message: string;
  file?: string;
  line?: number;
  column?: number;
  /** Lines of the file around the problem (a YAML syntax error), printed under it. */
  excerpt?: string;
}

export function formatProblem(p: ConfigProblem): string {
  const where = [p.file ? `${p.file}${p.line ? `:${p.line}${p.column ? `:${p.column}` : ''}` : ''}` : '', p.path]
    .filter(Boolean)
    .join(' ');
  const text = where ? `${where}: ${p.message}` : p.message;
  return p.excerpt ? `${text}\n${p.excerpt}` : text;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly kind = 'config' as const;
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[] | string, options?: { cause?: unknown }) {
    const list = typeof problems === 'string' ? [{ path: '', message: problems }] : problems;
    super(list.map(formatProblem).join('\n'), options);
    this.problems = list;
  }
}

export class TransientError extends Error {
  override readonly name = 'TransientError';
  readonly kind = 'transient' as const;
  /** Milliseconds the source asked us to wait (Retry-After), when it said so. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
}

export class DataError extends Error {
  override readonly name = 'DataError';
  readonly kind = 'data' as const;
}

export function isConfigError(err: unknown): err is ConfigError {
  return err instanceof Error && (err as { kind?: string }).kind === 'config';
}

export function isTransientError(err: unknown): err is TransientError {
  return err instanceof Error && (err as { kind?: string }).kind === 'transient';
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
