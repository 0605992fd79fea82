import { analyticsdata, type analyticsdata_v1beta } from '@googleapis/analyticsdata';
import { IANAZone } from 'luxon';
import { defineConnector, type OpenContext, type ReadContext, type SourceReader } from '../shared/connector.ts';
import type { DateRange } from '../../core/dates.ts';
import { sharedGoogleAuth } from '../shared/google-auth.ts';
import { sleep as abortableSleep, type RetryPolicy, type Sleep } from '../../core/resilience/index.ts';
import { ga4ConfigSchema, type Ga4Config } from './config.ts';
import { callGoogle, type GoogleCallOptions } from '../shared/google-call.ts';
import { paginate } from '../shared/paginate.ts';
import { discoverGa4 } from './discover.ts';
import { QuotaPacer, type PropertyQuota } from './quota.ts';
import { recordQuota } from '../../core/request-meter.ts';
import { ga4RecordSchema, normalizeGa4, reportRequest, rowRecords, type Ga4Record, type ReportResponse } from './report.ts';

const SCOPES = ['https://www.googleapis.com/auth/analytics.readonly'];
const SERVICE = 'Google Analytics Data API';

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
  /** Pages one report may take before it counts as a runaway; default MAX_PAGES. */
  maxPages?: number;
}

type Client = analyticsdata_v1beta.Analyticsdata;

function open(config: Ga4Config, ctx: OpenContext, options: Ga4Options): SourceReader<Ga4Record> {
  const auth = sharedGoogleAuth(config.auth, SCOPES);
  // Without this the library refreshes only by the clock, so a token the server stopped
  // accepting early (rotated, clock skew) would fail the run instead of being refreshed once.
  auth.client.forceRefreshOnFailure = true;
  const client: Client = analyticsdata({
    version: 'v1beta',
    // googleapis-common pins its own copy of google-auth-library, whose classes differ from ours in
    // private fields only; it calls the client's getRequestHeaders and request, which ours has.
    auth: auth.client as unknown as NonNullable<analyticsdata_v1beta.Options['auth']>,
    ...(config.baseUrl ? { rootUrl: `${config.baseUrl.replace(/\/+$/, '')}/` } : {}),
  });
  const now = options.now ?? Date.now;
  const sleep: Sleep = options.sleep ?? abortableSleep;
  const pacers = new Map<string, QuotaPacer>();

  const callOptions = (log: OpenContext['log'], signal: AbortSignal): GoogleCallOptions => ({
    service: SERVICE,
    log,
    signal,
    timeoutMs: options.timeoutMs ?? 60_000,
    retry: options.retry ?? {},
    connector: config.name,
    maxResponseMb: config.maxResponseMb,
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
    const quota = data.propertyQuota as PropertyQuota | undefined;
    pacer.observe(quota);
    recordQuota('ga4_tokens', quota?.tokensPerHour?.consumed ?? quota?.tokensPerDay?.consumed ?? 0);
    return data;
  }

  function learnProperty(res: ReportResponse, property: string, read: ReadContext): void {
    const zone = res.metadata?.timeZone;
    if (zone && !IANAZone.isValidZone(zone)) read.log.warn({ property, timeZone: zone }, 'GA4 sent a property time zone that is not an IANA zone; keeping the one known');
    read.learn({
      ...(res.metadata?.currencyCode !== undefined ? { currency: res.metadata.currencyCode || null } : {}),
      ...(zone && IANAZone.isValidZone(zone) ? { timeZone: zone } : {}),
    });
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
     * Every runReport answer carries the property's currency and time zone (its metadata), so
     * none is asked for: the stored ones from an earlier sync, or, on a property's first sync,
     * the connector's timezone until the first page says (ReadContext.learn).
     */
    describe(_property, known) {
      return Promise.resolve(known ?? { currency: null, timeZone: config.timezone, provisional: true });
    },
    read(property, window: DateRange, read) {
      return paginate({ connector: config.name, what: `GA4 report for property ${property}`, maxPages: options.maxPages }, 0, async (offset) => {
        const res = await runReport(property, reportRequest(window, offset, config.pageSize), `runReport offset ${offset}`, read.log, read.signal);
        flagQuality(res, read);
        learnProperty(res, property, read);
        const items = rowRecords(res);
        const next = offset + items.length;
        // proto3 leaves rowCount out when it is 0.
        return { items, next: items.length === 0 || next >= (res.rowCount ?? 0) ? undefined : next };
      });
    },
    normalize: (record, _property, info) => normalizeGa4(record, info),
  };
}

export function createGa4Connector(options: Ga4Options = {}) {
  return defineConnector({
    type: 'ga4',
    configSchema: ga4ConfigSchema,
    // GA4 keeps processing a day for 24–48 hours.
    defaultLookbackDays: 3,
    streams: (config) => config.propertyIds,
    open: (config, ctx) => open(config, ctx, options),
    discover: discoverGa4,
  });
}

export const ga4Connector = createGa4Connector();
