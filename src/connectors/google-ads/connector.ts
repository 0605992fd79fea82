import { IANAZone } from 'luxon';
import { TransientError } from '../../errors.ts';
import { registerSecret } from '../../secrets.ts';
import type { Connector, OpenContext, SourceReader, StreamInfo } from '../shared/connector.ts';
import { splitWindow } from '../shared/dates.ts';
import { createGoogleAuth } from '../shared/google-auth.ts';
import { createHttpClient, type RetryPolicy, type Sleep } from '../shared/http/index.ts';
import type { GoogleAdsConfig } from './config.ts';
import { classifyGoogleAds } from './errors.ts';
import { adsRowSchema, CUSTOMER_QUERY, customerRowSchema, normalizeAdsRow, reportQuery, type AdsRow } from './rows.ts';

const SCOPES = ['https://www.googleapis.com/auth/adwords'];
const BASE_URL = 'https://googleads.googleapis.com';
/**
 * searchStream answers with one JSON array that the client reads whole, so a window goes out
 * in weeks: memory stays bounded by a week of one customer, however long the backfill.
 */
const STREAM_DAYS = 7;

export interface GoogleAdsOptions {
  sleep?: Sleep;
  random?: () => number;
  retry?: Partial<RetryPolicy>;
  /** Per request; default 120 s (a stream of a big account takes a while). */
  timeoutMs?: number;
}

interface StreamBatch {
  results?: unknown[];
}

function open(config: GoogleAdsConfig, ctx: OpenContext, options: GoogleAdsOptions): SourceReader<AdsRow> {
  registerSecret(config.developerToken);
  const auth = createGoogleAuth(config.auth, SCOPES);
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
    timeoutMs: options.timeoutMs ?? 120_000,
    logger: ctx.log,
    signal: ctx.signal,
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
    ...(options.random ? { random: options.random } : {}),
  });
  const infos = new Map<string, StreamInfo>();

  async function searchStream(customerId: string, query: string, signal?: AbortSignal): Promise<StreamBatch[]> {
    const res = await http.post<unknown>(`/${config.apiVersion}/customers/${customerId}/googleAds:searchStream`, { query }, signal ? { signal } : {});
    if (!Array.isArray(res.data)) {
      throw new TransientError(`Google Ads searchStream for customer ${customerId} answered with ${typeof res.data} instead of an array of batches`);
    }
    return res.data as StreamBatch[];
  }

  return {
    recordSchema: adsRowSchema,
    async describe(customerId) {
      const known = infos.get(customerId);
      if (known) return known;
      const batches = await searchStream(customerId, CUSTOMER_QUERY);
      const first = customerRowSchema.safeParse(batches.flatMap((b) => b.results ?? [])[0]);
      let info: StreamInfo;
      if (first.success && IANAZone.isValidZone(first.data.customer.timeZone)) {
        info = { currency: first.data.customer.currencyCode, timeZone: first.data.customer.timeZone };
      } else {
        // No campaigns means no rows to write; the zone then only decides what "today" is.
        ctx.log.warn({ customerId }, 'Google Ads returned no customer currency and time zone (no campaigns?); using the connector timezone');
        info = { currency: null, timeZone: config.timezone };
      }
      infos.set(customerId, info);
      return info;
    },
    async *read(customerId, window, read) {
      for (const part of splitWindow(window, STREAM_DAYS)) {
        for (const batch of await searchStream(customerId, reportQuery(part), read.signal)) {
          if (batch.results && batch.results.length > 0) yield batch.results;
        }
      }
    },
    normalize: (row, _customerId, info) => normalizeAdsRow(row, info),
  };
}

export function createGoogleAdsConnector(options: GoogleAdsOptions = {}): Connector<GoogleAdsConfig, AdsRow> {
  return {
    type: 'google_ads',
    // Conversions are booked back to the click's day for this long.
    defaultLookbackDays: (config) => config.conversionWindowDays,
    streams: (config) => config.customerIds,
    open: (config, ctx) => open(config, ctx, options),
  };
}

export const googleAdsConnector = createGoogleAdsConnector();
