/**
 * The one HTTP client: timeouts over the whole exchange, retries by the resilience policy,
 * credentials only to the origin (same-host redirects only), a cap on response size, and
 * secrets scrubbed from everything it logs or throws. Connectors and notification channels
 * both use it.
 */
export {
  createHttpClient,
  type AuthProvider,
  type Classification,
  type Classify,
  type HttpClient,
  type HttpClientOptions,
  type HttpMethod,
  type HttpRequest,
  type HttpResponse,
  type HttpStats,
  type QueryValue,
  type RequestOptions,
  type ResponseInfo,
  type StreamedBody,
  type Verdict,
} from './client.ts';
export { HttpConfigError, HttpTransientError } from './errors.ts';
export type { RateLimit } from './limits.ts';
export { scrubText } from './redact.ts';
export { classifyStatus, networkErrorOutcome, type StatusOutcome } from './status.ts';
