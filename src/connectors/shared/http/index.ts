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
  type Verdict,
} from './client.ts';
export { HttpConfigError, HttpTransientError } from './errors.ts';
export type { RateLimit } from './limits.ts';
export { scrubText } from './redact.ts';
export {
  backoffDelay,
  classifyStatus,
  DEFAULT_RETRY_POLICY,
  networkErrorOutcome,
  parseRetryAfter,
  realSleep,
  withRetry,
  type RetryInfo,
  type RetryOptions,
  type RetryPolicy,
  type Sleep,
  type StatusOutcome,
} from './retry.ts';
