import { searchconsole, type searchconsole_v1 } from '@googleapis/searchconsole';
import type { Logger } from '../../core/log.ts';
import { callGoogle, type GaxiosCallOptions, type GoogleCallOptions } from '../shared/google-call.ts';
import { defineConnector, type OpenContext, type SourceReader } from '../shared/connector.ts';
import type { DateRange } from '../../core/dates.ts';
import { addDays, daysOf, minDate } from '../../core/dates.ts';
import { sharedGoogleAuth } from '../shared/google-auth.ts';
import { sleep as abortableSleep, type RetryPolicy, type Sleep } from '../../core/resilience/index.ts';
import { paginate } from '../shared/paginate.ts';
import { searchConsoleConfigSchema, type SearchConsoleConfig } from './config.ts';
import { discoverSearchConsole } from './discover.ts';
import { normalizeSearch, rowRecord, searchRecordSchema, type SearchRecord } from './rows.ts';

const SCOPES = ['https://www.googleapis.com/auth/webmasters.readonly'];
const SERVICE = 'Search Console API';
/** Search Console reports every site's days in Pacific Time, whatever the site's audience. */
const SEARCH_CONSOLE_ZONE = 'America/Los_Angeles';

export interface SearchConsoleOptions {
  sleep?: Sleep;
  random?: () => number;
  retry?: Partial<RetryPolicy>;
  /** Per request; default 60 s. */
  timeoutMs?: number;
  /** Pages one day may take before it counts as a runaway; default MAX_PAGES. */
  maxPages?: number;
}

type Client = searchconsole_v1.Searchconsole;
type QueryBody = searchconsole_v1.Schema$SearchAnalyticsQueryRequest;
type QueryResponse = searchconsole_v1.Schema$SearchAnalyticsQueryResponse;

function open(config: SearchConsoleConfig, ctx: OpenContext, options: SearchConsoleOptions): SourceReader<SearchRecord> {
  const auth = sharedGoogleAuth(config.auth, SCOPES);
  // As for GA4: refresh once on a 401 even when the clock says the token is still good.
  auth.client.forceRefreshOnFailure = true;
  const client: Client = searchconsole({
    version: 'v1',
    // As for GA4: googleapis-common's own copy of google-auth-library, the same calls.
    auth: auth.client as unknown as NonNullable<searchconsole_v1.Options['auth']>,
    ...(config.baseUrl ? { rootUrl: `${config.baseUrl.replace(/\/+$/, '')}/` } : {}),
  });

  const query = (siteUrl: string, requestBody: QueryBody, what: string, log: Logger, signal: AbortSignal): Promise<QueryResponse> => {
    const o: GoogleCallOptions = {
      service: SERVICE,
      log,
      signal,
      timeoutMs: options.timeoutMs ?? 60_000,
      retry: options.retry ?? {},
      connector: config.name,
      maxResponseMb: config.maxResponseMb,
      sleep: options.sleep ?? abortableSleep,
      ...(options.random ? { random: options.random } : {}),
    };
    return callGoogle<QueryResponse>(
      what,
      (call: GaxiosCallOptions) => client.searchanalytics.query({ siteUrl, requestBody }, call) as Promise<{ data: QueryResponse | string }>,
      o,
    );
  };

  return {
    recordSchema: searchRecordSchema,
    async describe() {
      return { currency: null, timeZone: SEARCH_CONSOLE_ZONE };
    },
    /**
     * With dataState 'final' the newest two or three days have no rows yet. Reading them would
     * commit them empty and move the checkpoint past them; instead the window ends at the
     * last day Search Console has final data for (the API's own advice: a query by date shows
     * which days have data), and the lookback picks the rest up once it is final.
     */
    async planWindow(siteUrl, proposed) {
      if (config.dataState !== 'final') return proposed;
      const res = await query(
        siteUrl,
        { startDate: proposed.from, endDate: proposed.to, dimensions: ['date'], dataState: 'final', type: 'web', rowLimit: 25_000 },
        'searchAnalytics.query (days with final data)',
        ctx.log,
        ctx.signal,
      );
      const days = (res.rows ?? []).map((r) => r.keys?.[0]).filter((d): d is string => typeof d === 'string').sort();
      const last = days.at(-1);
      if (!last) {
        ctx.log.info({ siteUrl, window: proposed }, 'Search Console has no final data in the window yet');
        return { from: proposed.from, to: addDays(proposed.from, -1) };
      }
      return { from: proposed.from, to: minDate(proposed.to, last) };
    },
    /** Rows come sorted by clicks, so each day is its own query and days come out in order. */
    async *read(siteUrl, window: DateRange, read) {
      for (const day of daysOf(window)) {
        yield* paginate({ connector: config.name, what: `Search Console rows of ${siteUrl} on ${day}`, maxPages: options.maxPages }, 0, async (startRow) => {
          const res = await query(
            siteUrl,
            { startDate: day, endDate: day, dimensions: ['date', 'query', 'page'], type: 'web', dataState: config.dataState, rowLimit: config.rowLimit, startRow },
            `searchAnalytics.query ${day} from row ${startRow}`,
            read.log,
            read.signal,
          );
          const rows = res.rows ?? [];
          // The API caps rowLimit at 25,000, so a short page is the last one.
          return { items: rows.map(rowRecord), next: rows.length < config.rowLimit ? undefined : startRow + rows.length };
        });
      }
    },
    normalize: (record) => normalizeSearch(record, config.dimension),
  };
}

export function createSearchConsoleConnector(options: SearchConsoleOptions = {}) {
  return defineConnector({
    type: 'search_console',
    configSchema: searchConsoleConfigSchema,
    // Final data settles within about three days; fresh ('all') data changes until then.
    defaultLookbackDays: 3,
    streams: (config) => config.siteUrls,
    open: (config, ctx) => open(config, ctx, options),
    discover: discoverSearchConsole,
  });
}

export const searchConsoleConnector = createSearchConsoleConnector();
