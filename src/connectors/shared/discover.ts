import { ConfigError, isConfigError } from '../../core/errors.ts';
import { createHttpClient, type AuthProvider, type Classification, type HttpClient, type HttpClientOptions, type ResponseInfo } from '../../core/http/index.ts';
import { apiErrorMessage } from '../../core/http/redact.ts';
import type { RetryPolicy } from '../../core/resilience/index.ts';

/**
 * What `kpi check` asks of a connector type: do its credentials work, and which accounts
 * (properties, sites, customers, ad accounts, lists, files, URLs) can they see. Each
 * connector folder answers for its own source in its `discover` function.
 */

/** One account the credentials can see, or one the config names that they cannot. */
export interface SeenAccount {
  /** What the config calls it: a property id, a site URL, `act_…`, a file path. */
  id: string;
  name?: string | null;
  /** Currency its money metrics are in, when the source says. */
  currency?: string | null;
  /** IANA zone its reporting dates are in, when the source says. */
  timeZone?: string | null;
  /** Further facts worth a column, by column title: permission, status, rows, HTTP status. */
  details?: Record<string, string | number | null>;
  /** The connector's config names it. */
  configured: boolean;
  /** False for a configured account the credentials cannot reach. */
  accessible: boolean;
}

export interface Discovery {
  /** What one account is called on this source: "property", "site", "customer", "file". */
  kind: string;
  accounts: SeenAccount[];
  /** What fails the check, each a sentence: an account not accessible, a scope missing. */
  problems: string[];
  /** What is worth knowing but fails nothing: an account paused, a site not verified. */
  notes: string[];
  /** The verdict's words when nothing failed, for sources without credentials (files); by default "credentials work; N <kind>s visible". */
  summary?: string;
  /** Keys of the connector's config with values for what the credentials see, ready to paste as YAML. */
  configLines: Record<string, unknown>;
}

/**
 * The source refused the credentials themselves (HTTP 401 or 403, a refused token grant):
 * nothing else about the connector can be told. `reason` is the source's own words, scrubbed.
 */
export class CredentialsRefusedError extends ConfigError {
  readonly reason: string;

  constructor(reason: string) {
    super(`credentials refused: ${reason}`);
    this.reason = reason;
  }
}

/** The sentence every connector uses for an account its config names and its credentials cannot see. */
export function notAccessible(id: string): string {
  return `account ${id} is not accessible with these credentials`;
}

/**
 * For discovery requests: every answer but throttling and server errors comes back to the
 * caller, which knows what a 401, 403 or 404 means for each request (refused credentials,
 * or one account out of reach), instead of the HTTP layer turning them into generic errors.
 */
export function answerRefusals(res: ResponseInfo): Classification {
  return res.status === 408 || res.status === 429 || res.status >= 500 ? undefined : 'ok';
}

/** A check is run by a person waiting for it: a couple of quick retries, no minutes of backoff. */
export const DISCOVERY_RETRY: Partial<RetryPolicy> = { maxRetries: 2, maxDelayMs: 5_000, maxRetryAfterMs: 10_000 };

/**
 * The HTTP client `kpi check` asks a source with: the connector's name and response cap, the
 * check's log and signal, few retries, and 401/403 answered rather than thrown
 * (`answerRefusals`, unless the source classifies its own errors).
 */
export function discoveryClient(config: { name: string; maxResponseMb?: number | undefined }, ctx: { log: HttpClientOptions['logger']; signal?: AbortSignal | undefined }, options: Omit<HttpClientOptions, 'name' | 'retry' | 'maxResponseMb' | 'logger' | 'signal'>): HttpClient {
  return createHttpClient({
    classify: answerRefusals,
    ...options,
    name: config.name,
    retry: DISCOVERY_RETRY,
    maxResponseMb: config.maxResponseMb,
    logger: ctx.log,
    signal: ctx.signal,
  });
}

/** The source's reason for an error answer, scrubbed and cut to a line; the status when it gave none. */
export function reasonOf(res: { status: number; headers: Readonly<Record<string, string>>; data: unknown }): string {
  return apiErrorMessage(res.data, res.headers['content-type']) ?? `HTTP ${res.status}`;
}

/** Throws CredentialsRefusedError when the answer is a 401 or 403. */
export function refuseOn401or403(res: { status: number; headers: Readonly<Record<string, string>>; data: unknown }): void {
  if (res.status === 401 || res.status === 403) throw new CredentialsRefusedError(reasonOf(res));
}

/** Any other error answer: the request was wrong for this source, which the config decides. */
export function failOnError(res: { status: number; headers: Readonly<Record<string, string>>; data: unknown }, what: string): void {
  refuseOn401or403(res);
  if (res.status >= 400) throw new ConfigError(`${what} answered HTTP ${res.status}: ${reasonOf(res)}`);
}

/**
 * Credentials that fail before any request is sent (a token endpoint refusing a refresh
 * token or a service account) are refused credentials too. Without a refresh after a 401:
 * discovery lets 401s through (answerRefusals), and a fresh token was fetched for it anyway.
 */
export function refusingAuth(provider: AuthProvider): AuthProvider {
  return {
    async headers(request) {
      try {
        return await provider.headers(request);
      } catch (err) {
        if (isConfigError(err) && !(err instanceof CredentialsRefusedError)) throw new CredentialsRefusedError(err.message);
        throw err;
      }
    },
  };
}
