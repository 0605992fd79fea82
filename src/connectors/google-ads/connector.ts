import { IANAZone } from 'luxon';
import { z } from 'zod';
import { ConfigError, errorMessage, TransientError } from '../../core/errors.ts';
import { registerSecret } from '../../core/secrets.ts';
import { defineConnector, type OpenContext, type ReadContext, type SourceReader } from '../shared/connector.ts';
import { sharedGoogleAuth } from '../shared/google-auth.ts';
import { createHttpClient, scrubText, type StreamedBody } from '../../core/http/index.ts';
import { responseCapBytes, tooLargeMessage } from '../../core/http/body.ts';
import { BrokenStream, jsonArrayElements } from '../../core/http/json-array.ts';
import { withRetry, type RetryPolicy, type Sleep } from '../../core/resilience/index.ts';
import { googleAdsConfigSchema, type GoogleAdsConfig } from './config.ts';
import { discoverGoogleAds } from './discover.ts';
import { adsFailureMessage, classifyGoogleAds } from './errors.ts';
import { adsRowSchema, CUSTOMER_QUERY, customerRowSchema, normalizeAdsRow, reportQuery, type AdsRow } from './rows.ts';

const SCOPES = ['https://www.googleapis.com/auth/adwords'];
const BASE_URL = 'https://googleads.googleapis.com';

export interface GoogleAdsOptions {
  sleep?: Sleep;
  random?: () => number;
  retry?: Partial<RetryPolicy>;
  /** Per request, and the longest silence between two chunks of a stream; default 120 s. */
  timeoutMs?: number;
}

interface StreamBatch {
  results?: unknown[];
}

const customerFieldsSchema = z.object({ customer: z.object({ currencyCode: z.string().min(3).optional(), timeZone: z.string().min(1).optional() }) });

function open(config: GoogleAdsConfig, ctx: OpenContext, options: GoogleAdsOptions): SourceReader<AdsRow> {
  registerSecret(config.developerToken);
  const auth = sharedGoogleAuth(config.auth, SCOPES);
  const http = createHttpClient({
    name: config.name,
    baseURL: config.baseUrl ?? BASE_URL,
    headers: {
      'developer-token': config.developerToken,
      // Needed whenever the credentials reach the customer through a manager account.
      ...(config.loginCustomerId ? { 'login-customer-id': config.loginCustomerId } : {}),
    },
    auth: auth.provider,
    classify: classifyGoogleAds,
    concurrency: config.concurrency ?? 4,
    maxResponseMb: config.maxResponseMb,
    timeoutMs: options.timeoutMs ?? 120_000,
    logger: ctx.log,
    signal: ctx.signal,
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
    ...(options.random ? { random: options.random } : {}),
  });
  const maxElementBytes = responseCapBytes(config.maxResponseMb);

  /** A GoogleAdsFailure inside a 200 answer (an error mid-stream) as the error the status rules would make of it. */
  function failureInStream(element: object, what: string): Error | undefined {
    if (!('error' in element)) return undefined;
    const verdict = classifyGoogleAds({ method: 'POST', url: new URL(BASE_URL), status: 200, headers: {}, data: [element] });
    const message = `${what} failed mid-stream: ${scrubText(adsFailureMessage([element]) ?? 'an error without a message')}`;
    const v = typeof verdict === 'object' ? verdict : { verdict: verdict ?? 'config', retryAfterMs: undefined };
    return v.verdict === 'retry' ? new TransientError(message, v.retryAfterMs !== undefined ? { retryAfterMs: v.retryAfterMs } : undefined) : new ConfigError(message);
  }

  /**
   * One searchStream request, its batches read as they arrive (jsonArrayElements), so memory
   * holds one batch (up to 10 000 rows) however long the window. A stream that breaks or ends
   * early before its first batch is asked again, with the source retry policy; after that, the
   * run fails: the days already committed stay and the next sync resumes from them.
   */
  async function* searchStream(customerId: string, query: string, signal: AbortSignal, log: OpenContext['log']): AsyncGenerator<StreamBatch> {
    const path = `/${config.apiVersion}/customers/${customerId}/googleAds:searchStream`;
    const what = `Google Ads searchStream for customer ${customerId}`;
    const opened = await withRetry(
      async () => {
        const res = await http.post<StreamedBody>(path, { query }, { signal, responseType: 'stream' });
        const elements = jsonArrayElements(res.data, { maxElementBytes, what, tooLarge: () => tooLargeMessage(config.name, `one batch of ${what}`, maxElementBytes) });
        try {
          return { elements, first: await elements.next() };
        } catch (err) {
          await elements.return(undefined);
          throw err;
        }
      },
      {
        ...options.retry,
        ...(options.sleep ? { sleep: options.sleep } : {}),
        ...(options.random ? { random: options.random } : {}),
        signal,
        retryable: (err) => err instanceof BrokenStream,
        onRetry: ({ retry, delayMs, error }) => log.warn({ customerId, retry, delayMs, reason: errorMessage(error) }, 'Google Ads stream broke before its first batch; asking again'),
      },
    );
    const { elements } = opened;
    try {
      for (let next = opened.first; !next.done; next = await elements.next()) {
        const element = next.value;
        if (!element || typeof element !== 'object' || Array.isArray(element)) throw new BrokenStream(`${what} holds a batch that is not an object`);
        const failed = failureInStream(element, what);
        if (failed) throw failed;
        yield element as StreamBatch;
      }
    } finally {
      await elements.return(undefined);
    }
  }

  /** The customer fields every report row carries: the currency and zone of the account, kept current by each sync. */
  function learnCustomer(row: unknown, read: ReadContext): void {
    const parsed = customerFieldsSchema.safeParse(row);
    if (!parsed.success) return;
    const { currencyCode, timeZone } = parsed.data.customer;
    read.learn({ ...(currencyCode ? { currency: currencyCode } : {}), ...(timeZone && IANAZone.isValidZone(timeZone) ? { timeZone } : {}) });
  }

  return {
    recordSchema: adsRowSchema,
    /** The stored currency and zone; asked for (one small query) only on a customer's first sync. */
    async describe(customerId, known) {
      if (known) return known;
      let first: unknown;
      for await (const batch of searchStream(customerId, CUSTOMER_QUERY, ctx.signal, ctx.log)) first ??= batch.results?.[0];
      const row = customerRowSchema.safeParse(first);
      if (row.success && IANAZone.isValidZone(row.data.customer.timeZone)) return { currency: row.data.customer.currencyCode, timeZone: row.data.customer.timeZone };
      // No campaigns means no rows to write; the zone then only decides what "today" is.
      ctx.log.warn({ customerId }, 'Google Ads returned no customer currency and time zone (no campaigns?); using the connector timezone');
      // Provisional: not kept, so the next sync asks again (or learns it from a report row).
      return { currency: null, timeZone: config.timezone, provisional: true };
    },
    /** The whole window in one request, its rows handed on batch by batch as they arrive. */
    async *read(customerId, window, read) {
      let learnt = false;
      for await (const batch of searchStream(customerId, reportQuery(window), read.signal, read.log)) {
        if (!batch.results || batch.results.length === 0) continue;
        if (!learnt) {
          learnCustomer(batch.results[0], read);
          learnt = true;
        }
        yield batch.results;
      }
    },
    normalize: (row, _customerId, info) => normalizeAdsRow(row, info),
  };
}

export function createGoogleAdsConnector(options: GoogleAdsOptions = {}) {
  return defineConnector({
    type: 'google_ads',
    configSchema: googleAdsConfigSchema,
    // Conversions are booked back to the click's day for this long.
    defaultLookbackDays: (config) => config.conversionWindowDays,
    streams: (config) => config.customerIds,
    open: (config, ctx) => open(config, ctx, options),
    discover: discoverGoogleAds,
  });
}

export const googleAdsConnector = createGoogleAdsConnector();
