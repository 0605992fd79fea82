import { createHmac } from 'node:crypto';
import { IANAZone } from 'luxon';
import { z } from 'zod';
import { isConfigError, TransientError } from '../../core/errors.ts';
import { registerSecret } from '../../core/secrets.ts';
import { defineConnector, type OpenContext, type ReadContext, type SourceReader, type StreamInfo } from '../shared/connector.ts';
import { paginate } from '../shared/paginate.ts';
import type { DateRange } from '../../core/dates.ts';
import { addDays, dateTextOf, daysOf } from '../../core/dates.ts';
import { createHttpClient, type HttpMethod } from '../../core/http/index.ts';
import { backoffDelay, sleep as abortableSleep, type RetryPolicy, type Sleep } from '../../core/resilience/index.ts';
import { metaAdsConfigSchema, type MetaAdsConfig } from './config.ts';
import { discoverMetaAds } from './discover.ts';
import { classifyMeta, graphError, isTooMuchData } from './errors.ts';
import { insightParams, insightSchema, normalizeInsight, type Insight } from './insights.ts';
import { parseUsage, UsageThrottle } from './usage.ts';
import { recordQuota } from '../../core/request-meter.ts';

const BASE_URL = 'https://graph.facebook.com';
const PAGE_SIZE = 500;
/** Report-run status polls: 1 s, growing by half each time to 30 s; no jitter, as nothing failed. */
const POLL = { baseDelayMs: 1_000, maxDelayMs: 30_000, factor: 1.5, jitter: 0 };
/** A report run still not done after this long is retried by a later sync. */
const POLL_GIVE_UP_MS = 30 * 60_000;

export interface MetaAdsOptions {
  sleep?: Sleep;
  now?: () => number;
  random?: () => number;
  retry?: Partial<RetryPolicy>;
  /** Per request; default 120 s. */
  timeoutMs?: number;
  /** Longest usage back-off before the run stops; default 5 min. */
  maxUsageWaitMs?: number;
  /** Pages one listing may take before it counts as a runaway; default MAX_PAGES. */
  maxPages?: number;
}

/** Meta asked for less data (error 1) or its report run failed: a smaller window may work. */
class TooMuchData extends Error {}

const accountSchema = z.object({ currency: z.string().min(3), timezone_name: z.string().min(1) });
const reportRunSchema = z.object({ report_run_id: z.union([z.string(), z.number()]).transform(String) });
const runStatusSchema = z.object({ async_status: z.string(), async_percent_completion: z.number().optional() });

interface Page {
  data?: unknown;
  paging?: { next?: string; cursors?: { after?: string } };
}

type Mode = 'sync' | 'async';

function halves(w: DateRange): [DateRange, DateRange] {
  const mid = addDays(w.from, Math.floor((daysOf(w).length - 1) / 2));
  return [{ from: w.from, to: mid }, { from: addDays(mid, 1), to: w.to }];
}

const dateOf = (row: unknown): string => dateTextOf((row as { date_start?: unknown } | null)?.date_start);

function open(config: MetaAdsConfig, ctx: OpenContext, options: MetaAdsOptions): SourceReader<Insight> {
  registerSecret(config.accessToken);
  const auth: Record<string, string> = { access_token: config.accessToken };
  if (config.appSecret) {
    registerSecret(config.appSecret);
    auth.appsecret_proof = createHmac('sha256', config.appSecret).update(config.accessToken).digest('hex');
    registerSecret(auth.appsecret_proof);
  }
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? abortableSleep;
  const throttle = new UsageThrottle({ sleep, now, log: ctx.log, ...(options.maxUsageWaitMs !== undefined ? { maxWaitMs: options.maxUsageWaitMs } : {}) });
  const http = createHttpClient({
    name: config.name,
    baseURL: `${(config.baseUrl ?? BASE_URL).replace(/\/+$/, '')}/${config.apiVersion}`,
    concurrency: config.concurrency ?? 4,
    maxResponseMb: config.maxResponseMb,
    timeoutMs: options.timeoutMs ?? 120_000,
    logger: ctx.log,
    signal: ctx.signal,
    sleep,
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.random ? { random: options.random } : {}),
  });
  const infos = new Map<string, StreamInfo>();
  const modeFor = (w: DateRange): Mode => (daysOf(w).length > config.asyncAfterDays ? 'async' : 'sync');

  /** One Graph call, after any usage back-off; the access token goes as a query parameter. */
  async function call(method: HttpMethod, path: string, query: Record<string, string>, signal: AbortSignal, body?: URLSearchParams): Promise<unknown> {
    await throttle.beforeRequest(signal);
    let tooMuch = false;
    try {
      const res = await http.request({
        method,
        url: path,
        query: { ...query, ...auth },
        ...(body ? { body } : {}),
        signal,
        classify: (r) => {
          throttle.observe(r.headers);
          const usage = parseUsage(r.headers);
          if (usage) recordQuota('meta_usage_pct', usage.pct);
          const e = graphError(r.data);
          if (e && isTooMuchData(e)) tooMuch = true;
          return classifyMeta(r, () => throttle.regainMs());
        },
      });
      return res.data;
    } catch (err) {
      if (tooMuch && isConfigError(err)) throw new TooMuchData(err.message);
      throw err;
    }
  }

  function pages(path: string, params: Record<string, string>, signal: AbortSignal): AsyncGenerator<unknown[]> {
    // An empty cursor asks for the first page.
    return paginate({ connector: config.name, what: `Meta paging of ${path}`, maxPages: options.maxPages }, '', async (after) => {
      const body = (await call('GET', path, { ...params, limit: String(PAGE_SIZE), ...(after ? { after } : {}) }, signal)) as Page;
      if (!Array.isArray(body?.data)) throw new TransientError(`Meta answered ${path} without a data list`);
      const cursor = body.paging?.cursors?.after;
      // The last page has no `next`, whatever its cursors say.
      return { items: body.data, next: !body.paging?.next || !cursor || body.data.length === 0 ? undefined : cursor };
    });
  }

  /** Async report run: start it, poll with backoff until it is done, then page through it. */
  async function* asyncPages(account: string, window: DateRange, read: ReadContext): AsyncGenerator<unknown[]> {
    const started = reportRunSchema.safeParse(await call('POST', `/${account}/insights`, {}, read.signal, new URLSearchParams(insightParams(window))));
    if (!started.success) throw new TransientError(`Meta did not return a report_run_id for ${account} ${window.from}..${window.to}`);
    const id = started.data.report_run_id;
    for (let waited = 0, poll = 1; ; poll++) {
      const status = runStatusSchema.safeParse(await call('GET', `/${id}`, { fields: 'async_status,async_percent_completion' }, read.signal));
      const s = status.success ? status.data.async_status : 'unknown';
      if (s === 'Job Completed') break;
      if (s === 'Job Failed' || s === 'Job Skipped') throw new TooMuchData(`report run ${id} ended with "${s}"`);
      if (waited >= POLL_GIVE_UP_MS) throw new TransientError(`Meta report run ${id} was still "${s}" after ${Math.round(waited / 60_000)} min`);
      const delay = backoffDelay(poll, POLL);
      await sleep(delay, read.signal);
      waited += delay;
    }
    yield* pages(`/${id}/insights`, {}, read.signal);
  }

  /**
   * Reads one window whole, then hands its rows over in date order (Meta documents no order
   * for time_increment rows). When Meta wants less data the window is halved, and a single
   * day falls back to an async run, which is meant for heavy reports.
   */
  async function* readWindow(account: string, window: DateRange, mode: Mode, read: ReadContext): AsyncGenerator<unknown[]> {
    const rows: unknown[] = [];
    try {
      const source = mode === 'async' ? asyncPages(account, window, read) : pages(`/${account}/insights`, insightParams(window), read.signal);
      for await (const page of source) rows.push(...page);
    } catch (err) {
      if (!(err instanceof TooMuchData)) throw err;
      if (window.from < window.to) {
        const [a, b] = halves(window);
        read.log.info({ account, window, reason: err.message }, 'Meta asked for less data; splitting the window in halves');
        yield* readWindow(account, a, modeFor(a), read);
        yield* readWindow(account, b, modeFor(b), read);
        return;
      }
      if (mode === 'sync') {
        yield* readWindow(account, window, 'async', read);
        return;
      }
      throw new TransientError(`Meta could not produce insights for ${account} on ${window.from}: ${err.message}`);
    }
    rows.sort((x, y) => (dateOf(x) < dateOf(y) ? -1 : dateOf(x) > dateOf(y) ? 1 : 0));
    for (let i = 0; i < rows.length; i += PAGE_SIZE) yield rows.slice(i, i + PAGE_SIZE);
  }

  return {
    recordSchema: insightSchema,
    /** The stored currency and zone; the account is asked (one small request) only on its first sync. */
    async describe(account, stored) {
      const known = stored ?? infos.get(account);
      if (known) return known;
      const parsed = accountSchema.safeParse(await call('GET', `/${account}`, { fields: 'currency,timezone_name' }, ctx.signal));
      const zone = parsed.success ? parsed.data.timezone_name : undefined;
      const info: StreamInfo = {
        currency: parsed.success ? parsed.data.currency : null,
        timeZone: zone && IANAZone.isValidZone(zone) ? zone : config.timezone,
        // A guessed zone is not kept: the next sync asks again.
        ...(zone && IANAZone.isValidZone(zone) ? {} : { provisional: true }),
      };
      if (info.timeZone !== zone) ctx.log.warn({ account }, 'Meta sent no usable ad account time zone; using the connector timezone');
      infos.set(account, info);
      return info;
    },
    async *read(account, window, read) {
      let learnt = false;
      for await (const rows of readWindow(account, window, modeFor(window), read)) {
        // Each insight carries the account's currency (account_currency): kept current for the next syncs.
        const currency = learnt ? undefined : (rows[0] as { account_currency?: unknown } | undefined)?.account_currency;
        if (typeof currency === 'string' && currency.length >= 3) {
          read.learn({ currency });
          learnt = true;
        }
        yield rows;
      }
    },
    normalize: (insight, _account, info) => normalizeInsight(insight, info, config),
  };
}

export function createMetaAdsConnector(options: MetaAdsOptions = {}) {
  return defineConnector({
    type: 'meta_ads',
    configSchema: metaAdsConfigSchema,
    // Meta restates insights for up to 28 days: conversions land on the day of the click
    // for as long as the account's attribution window (up to 28-day click on older setups),
    // and late deduplication corrects spend and reach. lookbackDays: 7 fits the default
    // 7-day-click window when a 28-day re-read is too slow.
    defaultLookbackDays: 28,
    streams: (config) => config.adAccountIds,
    open: (config, ctx) => open(config, ctx, options),
    discover: discoverMetaAds,
  });
}

export const metaAdsConnector = createMetaAdsConnector();
