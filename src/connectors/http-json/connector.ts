import { z } from 'zod';
import { ConfigError, DataError } from '../../core/errors.ts';
import { defineConnector, type Fact, type OpenContext, type SourceReader } from '../shared/connector.ts';
import type { DateRange } from '../../core/dates.ts';
import { addDays, splitWindow } from '../../core/dates.ts';
import { createHttpClient, type HttpClientOptions } from '../../core/http/index.ts';
import { paginate } from '../shared/paginate.ts';
import { httpJsonConfigSchema, type HttpJsonConfig } from './config.ts';
import { shownValue, storableJson } from '../../warehouse/index.ts';
import { fillTemplate, getPath, matches, nextLink, toDate, toNumber } from './extract.ts';
import { discoverHttpJson } from './discover.ts';
import { authFor, originOf, pagingParams, withBase } from './request.ts';

/** A record with the date the connector read from it, so pages can be ordered by date. */
interface DatedRecord {
  date: string | null;
  record: unknown;
  /** Set when the record arrived after its day had been handed over. */
  late?: string;
  /** Set when the record's date is outside the dates the sync accepts (a sentinel, a typo). */
  outside?: DateRange;
}

const datedRecordSchema = z.object({ date: z.string().nullable(), record: z.unknown(), late: z.string().optional(), outside: z.object({ from: z.string(), to: z.string() }).optional() });

/** Where a page starts, for each kind of pagination the config may choose. */
interface PagePosition {
  url: string;
  page: number;
  offset: number;
  cursor?: string;
  /** The URL came from a Link header and already carries every parameter the server wants. */
  linked: boolean;
}

/** What the tests change: the HTTP client's retry waits (SOURCE_REQUEST by default). */
export interface HttpJsonOptions {
  retry?: HttpClientOptions['retry'];
}

function openHttpJson(config: HttpJsonConfig, ctx: OpenContext, options: HttpJsonOptions = {}): SourceReader<DatedRecord> {
  const provider = authFor(config);
  const base = config.baseUrl;
  const http = createHttpClient({
    name: config.name,
    // Every request, next-page links included, stays on the configured host with the credentials.
    ...originOf(withBase(config.url, base)),
    headers: config.headers,
    ...(provider ? { auth: provider } : {}),
    logger: ctx.log,
    signal: ctx.signal,
    concurrency: config.concurrency ?? 2,
    maxResponseMb: config.maxResponseMb,
    ...(options.retry ? { retry: options.retry } : {}),
  });

  const recordsOf = (body: unknown, url: string): unknown[] => {
    const found = getPath(body, config.recordsPath);
    if (!Array.isArray(found)) {
      throw new ConfigError(`connector "${config.name}": recordsPath "${config.recordsPath}" does not lead to an array in the response of ${new URL(url).pathname}`);
    }
    return found;
  };

  function pages(window: DateRange): AsyncGenerator<unknown[]> {
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(config.params)) params[k] = fillTemplate(v, window, config.timezone);
    const p = config.pagination;
    const first: PagePosition = { url: withBase(fillTemplate(config.url, window, config.timezone), base), page: p.type === 'page' ? p.start : 0, offset: 0, linked: false };
    return paginate({ connector: config.name, what: `pagination of ${window.from}..${window.to}` }, first, async (at) => {
      const query: Record<string, string> = { ...params, ...pagingParams(p, at).query };
      const res = await http.get(at.url, at.linked ? {} : { query });
      const items = recordsOf(res.data, at.url);
      const last = { items };
      if (p.type === 'none') return last;
      if (p.type === 'page') {
        if (items.length === 0 || (p.size !== undefined && items.length < p.size)) return last;
        return { items, next: { ...at, page: at.page + 1 } };
      }
      if (p.type === 'offset') {
        if (items.length < p.size) return last;
        return { items, next: { ...at, offset: at.offset + items.length } };
      }
      if (p.type === 'cursor') {
        const cursor = getPath(res.data, p.cursorPath);
        if (cursor === null || cursor === undefined || cursor === '' || cursor === false || items.length === 0) return last;
        return { items, next: { ...at, cursor: String(cursor) } };
      }
      const next = nextLink(res.headers.link);
      return next ? { items, next: { ...at, url: next, linked: true } } : last;
    });
  }

  return {
    recordSchema: datedRecordSchema as z.ZodType<DatedRecord>,
    async describe() {
      return { currency: null, timeZone: config.timezone };
    },
    async *read(_stream, window, ctx) {
      // The API filters by its own clock (UTC, or the shop's offset) while records are dated in
      // the connector's zone, so a record may come back in the chunk next to its day. Each
      // chunk's last day is held back until the next chunk has been read; a record for a day
      // already handed over is quarantined rather than silently merged or dropped.
      const seenIds = new Set<string>();
      let held: DatedRecord[] = [];
      let handedThrough: string | null = null;
      const chunks = splitWindow(window, config.chunkDays);
      for (const [i, chunk] of chunks.entries()) {
        const unreadable: DatedRecord[] = [];
        const late: DatedRecord[] = [];
        // The window's outer edges are asked for a day wider, for the same reason: the API
        // may file a record of the window's first or last local day under the neighbouring day.
        const request = { from: i === 0 ? addDays(chunk.from, -1) : chunk.from, to: i === chunks.length - 1 ? addDays(chunk.to, 1) : chunk.to };
        for await (const records of pages(request)) {
          for (const record of records) {
            if (config.fields.id) {
              const id = storableJson(getPath(record, config.fields.id) ?? null, Number.MAX_SAFE_INTEGER);
              if (seenIds.has(id)) continue;
              seenIds.add(id);
            }
            const date = toDate(getPath(record, config.fields.date), config.fields.dateFormat, config.timezone);
            if (date === null) unreadable.push({ date, record });
            else if (date < ctx.validDates.from || date > ctx.validDates.to) unreadable.push({ date, record, outside: ctx.validDates });
            else if (date < window.from || date > window.to) continue; // another sync's days
            else if (handedThrough !== null && date <= handedThrough) late.push({ date: null, record, late: date });
            else held.push({ date, record });
          }
        }
        const boundary = i === chunks.length - 1 ? window.to : addDays(chunk.to, -1);
        const ready = held.filter((r) => r.date! <= boundary).sort((a, b) => (a.date! < b.date! ? -1 : a.date! > b.date! ? 1 : 0));
        held = held.filter((r) => r.date! > boundary);
        if (unreadable.length || late.length) yield [...unreadable, ...late];
        if (ready.length) yield ready;
        handedThrough = boundary;
      }
    },
    normalize({ date, record, late, outside }: DatedRecord): Fact[] {
      if (outside) {
        throw new DataError(`field "${config.fields.date}" is ${date}, outside the dates this connector accepts (${outside.from}..${outside.to}: from its startDate minus lookback, or 2000-01-01, to tomorrow)`);
      }
      if (late) {
        throw new DataError(`record dated ${late} arrived after that day was written: the API's date filter disagrees with field "${config.fields.date}" by more than a day (set fields.id if the API ignores the date filter)`);
      }
      if (date === null) {
        const found = getPath(record, config.fields.date);
        throw new DataError(`field "${config.fields.date}" (${found === undefined ? 'missing' : shownValue(found)}) is not a date in format ${config.fields.dateFormat}`);
      }
      const text = (path: string | undefined, what: string) => {
        if (!path) return '';
        const found = getPath(record, path);
        if (found !== null && typeof found === 'object') throw new DataError(`field "${path}" (${what}) is ${Array.isArray(found) ? 'an array' : 'an object'}, not a text`);
        return String(found ?? '').trim();
      };
      const currency = config.fields.currency ? text(config.fields.currency, 'currency').toUpperCase() || null : null;
      const campaign = text(config.fields.campaign, 'campaign');
      // A record without an id is keyed by its name, like a source without the mapping.
      const campaignId = text(config.fields.campaignId, 'campaign id');
      const channel = text(config.fields.channel, 'channel');
      const out: Fact[] = [];
      for (const [metric, spec] of Object.entries(config.fields.metrics)) {
        let value: number | null;
        if (typeof spec !== 'string' && 'count' in spec) {
          value = matches(record, spec.where) ? 1 : null;
        } else {
          const path = typeof spec === 'string' ? spec : spec.sum;
          if (typeof spec !== 'string' && !matches(record, spec.where)) continue;
          value = toNumber(getPath(record, path));
          if (Number.isNaN(value)) throw new DataError(`field "${path}" (metric ${metric}) is ${shownValue(getPath(record, path))}, not a number`);
          if (value !== null && typeof spec !== 'string' && spec.scale !== undefined) value *= spec.scale;
        }
        if (value === null) continue;
        out.push({ date, campaign, campaignId, channel, metric, value, currency });
      }
      return out;
    },
  };
}

export function createHttpJsonConnector(options: HttpJsonOptions = {}) {
  return defineConnector({
    type: 'http_json',
    configSchema: httpJsonConfigSchema,
    defaultLookbackDays: 3,
    streams: (config) => [config.account],
    open: (config, ctx) => openHttpJson(config, ctx, options),
    discover: discoverHttpJson,
  });
}

export const httpJsonConnector = createHttpJsonConnector();
