import { analyticsdata, type analyticsdata_v1beta } from '@googleapis/analyticsdata';
import { IANAZone } from 'luxon';
import type { Connector, DateWindow, OpenContext, ReadContext, SourceReader, StreamInfo } from '../shared/connector.ts';
import { createGoogleAuth } from '../shared/google-auth.ts';
import type { RetryPolicy, Sleep } from '../shared/http/index.ts';
import type { Ga4Config } from './config.ts';
import { abortableSleep, callGoogle, type GoogleCallOptions } from '../shared/google-call.ts';
import { QuotaPacer, type PropertyQuota } from './quota.ts';
import { ga4RecordSchema, normalizeGa4, reportRequest, rowRecords, type Ga4Record, type ReportResponse } from './report.ts';

const SCOPES = ['https://www.googleapis.com/auth/analytics.readonly'];
const SERVICE = 'Google Analytics Data API';
/** A runaway paginator (rowCount that keeps growing) must stop rather than loop forever. */
const MAX_PAGES = 10_000;

/** Knobs for tests and embedders; production uses the defaults. */
export interface Ga4Options {
  sleep?: Sleep;
  now?: () => number;
  random?: () => number;
  retry?: Partial<RetryPolicy>;
  /** Per request; default 60 s (a big report can take a while to compute). */
  timeoutMs?: number;
  /** Longest quota wait before the run stops and leaves the rest to the next sync; default 5 min. */
  maxQuotaWaitMs?: number;
}

type Client = analyticsdata_v1beta.Analyticsdata;

function open(config: Ga4Config, ctx: OpenContext, options: Ga4Options): SourceReader<Ga4Record> {
  const auth = createGoogleAuth(config.auth, SCOPES);
  // Without this the library refreshes only by the clock, so a token the server stopped
  // accepting early (rotated, clock skew) would fail the run instead of being refreshed once.
  auth.client.forceRefreshOnFailure = true;
  const client: Client = analyticsdata({
    version: 'v1beta',
    // googleapis-common pins its own google-auth-library; the client is the same class at runtime.
    auth: auth.client as unknown as NonNullable<analyticsdata_v1beta.Options['auth']>,
    ...(config.baseUrl ? { rootUrl: `${config.baseUrl.replace(/\/+$/, '')}/` } : {}),
  });
  const now = options.now ?? Date.now;
  const sleep: Sleep = options.sleep ?? abortableSleep;
  const pacers = new Map<string, QuotaPacer>();
  const infos = new Map<string, StreamInfo>();

  const callOptions = (log: OpenContext['log'], signal: AbortSignal): GoogleCallOptions => ({
    service: SERVICE,
    log,
    signal,
    timeoutMs: options.timeoutMs ?? 60_000,
    retry: options.retry ?? {},
    sleep,
    now,
    ...(options.random ? { random: options.random } : {}),
  });

  /** Quotas are per property, so each gets its own pacer. */
  const pacerFor = (property: string): QuotaPacer => {
    let p = pacers.get(property);
    if (!p) pacers.set(property, (p = new QuotaPacer({ sleep, now, log: ctx.log.child({ property }), ...(options.maxQuotaWaitMs !== undefined ? { maxWaitMs: options.maxQuotaWaitMs } : {}) })));
    return p;
  };

  async function runReport(property: string, requestBody: object, what: string, log: OpenContext['log'], signal: AbortSignal): Promise<ReportResponse> {
    const pacer = pacerFor(property);
    await pacer.beforeRequest(signal);
    const data = await callGoogle<ReportResponse>(
      what,
      (o) => client.properties.runReport({ property: `properties/${property}`, requestBody }, o) as Promise<{ data: ReportResponse | string }>,
      callOptions(log, signal),
    );
    pacer.observe(data.propertyQuota as PropertyQuota | undefined);
    return data;
  }

  function flagQuality(res: ReportResponse, read: ReadContext): void {
    const m = res.metadata;
    if (m?.subjectToThresholding) read.flag('ga4.thresholded', true);
    if (m?.samplingMetadatas && m.samplingMetadatas.length > 0) read.flag('ga4.sampled', true);
    if (m?.dataLossFromOtherRow) read.flag('ga4.other_row', true);
  }

  return {
    recordSchema: ga4RecordSchema,
    /**
     * Every runReport response carries the property's currency and time zone; a one-row
     * report of today is the cheapest way to get them without the Admin API.
     */
    async describe(property) {
      const known = infos.get(property);
      if (known) return known;
      const res = await runReport(
        property,
        { dateRanges: [{ startDate: 'today', endDate: 'today' }], metrics: [{ name: 'sessions' }], limit: '1', returnPropertyQuota: true },
        'runReport (property currency and time zone)',
        ctx.log,
        ctx.signal,
      );
      const zone = res.metadata?.timeZone;
      const info: StreamInfo = {
        currency: res.metadata?.currencyCode || null,
        timeZone: zone && IANAZone.isValidZone(zone) ? zone : config.timezone,
      };
      if (info.timeZone !== zone) ctx.log.warn({ property, timeZone: zone ?? null }, 'GA4 sent no usable property time zone; using the connector timezone');
      infos.set(property, info);
      return info;
    },
    async *read(property, window: DateWindow, read) {
      let offset = 0;
      for (let page = 0; page < MAX_PAGES; page++) {
        const res = await runReport(property, reportRequest(window, offset, config.pageSize), `runReport offset ${offset}`, read.log, read.signal);
        flagQuality(res, read);
        const records = rowRecords(res);
        if (records.length > 0) yield records;
        offset += records.length;
        // proto3 leaves rowCount out when it is 0.
        if (records.length === 0 || offset >= (res.rowCount ?? 0)) return;
      }
      throw new Error(`GA4 report for property ${property} did not end after ${MAX_PAGES} pages`);
    },
    normalize: (record, _property, info) => normalizeGa4(record, info),
  };
}

export function createGa4Connector(options: Ga4Options = {}): Connector<Ga4Config, Ga4Record> {
  return {
    type: 'ga4',
    // GA4 keeps processing a day for 24–48 hours.
    defaultLookbackDays: () => 3,
    streams: (config) => config.propertyIds,
    open: (config, ctx) => open(config, ctx, options),
  };
}

export const ga4Connector = createGa4Connector();
