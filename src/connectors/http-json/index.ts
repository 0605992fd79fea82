import { z } from 'zod';
import { ConfigError, DataError } from '../../errors.ts';
import { registerSecret } from '../../secrets.ts';
import type { Connector, DateWindow, FactValue, OpenContext, SourceReader } from '../shared/connector.ts';
import { addDays, splitWindow } from '../shared/dates.ts';
import { createHttpClient, type AuthProvider } from '../shared/http/index.ts';
import type { HttpJsonConfig } from './config.ts';
import { fillTemplate, getPath, matches, nextLink, toDate, toNumber } from './extract.ts';

/** A record with the date the connector read from it, so pages can be ordered by date. */
interface DatedRecord {
  date: string | null;
  record: unknown;
  /** Set when the record arrived after its day had been handed over. */
  late?: string;
}

const datedRecordSchema = z.object({ date: z.string().nullable(), record: z.unknown(), late: z.string().optional() });

/** A runaway paginator (a cursor that never ends) must stop rather than loop forever. */
const MAX_PAGES_PER_CHUNK = 10_000;

function authFor(config: HttpJsonConfig): { provider?: AuthProvider; query: Record<string, string> } {
  const auth = config.auth;
  switch (auth.type) {
    case 'none':
      return { query: {} };
    case 'bearer':
      registerSecret(auth.token);
      return { provider: { headers: () => ({ Authorization: `Bearer ${auth.token}` }) }, query: {} };
    case 'basic': {
      const encoded = Buffer.from(`${auth.username}:${auth.password}`).toString('base64');
      registerSecret(encoded);
      return { provider: { headers: () => ({ Authorization: `Basic ${encoded}` }) }, query: {} };
    }
    case 'header':
      registerSecret(auth.value);
      return { provider: { headers: () => ({ [auth.name]: auth.value }) }, query: {} };
    case 'query':
      registerSecret(auth.value);
      return { query: { [auth.name]: auth.value } };
  }
}

/** baseUrl (sandbox, proxy) replaces the scheme, host and port of the configured URL. */
function withBase(rawUrl: string, base: string | undefined): string {
  if (!base) return rawUrl;
  const b = new URL(base);
  const u = new URL(rawUrl, b);
  u.protocol = b.protocol;
  u.host = b.host;
  return u.toString();
}

function openHttpJson(config: HttpJsonConfig, ctx: OpenContext): SourceReader<DatedRecord> {
  const { provider, query: authQuery } = authFor(config);
  const http = createHttpClient({
    name: config.name,
    headers: config.headers,
    ...(provider ? { auth: provider } : {}),
    logger: ctx.log,
    signal: ctx.signal,
    concurrency: config.concurrency ?? 2,
  });
  const base = config.baseUrl;

  const recordsOf = (body: unknown, url: string): unknown[] => {
    const found = getPath(body, config.recordsPath);
    if (!Array.isArray(found)) {
      throw new ConfigError(`connector "${config.name}": recordsPath "${config.recordsPath}" does not lead to an array in the response of ${new URL(url).pathname}`);
    }
    return found;
  };

  async function* pages(window: DateWindow): AsyncGenerator<unknown[]> {
    const rawUrl = fillTemplate(config.url, window, config.timezone);
    let url = withBase(rawUrl, base);
    const params: Record<string, string> = { ...authQuery };
    for (const [k, v] of Object.entries(config.params)) params[k] = fillTemplate(v, window, config.timezone);
    const p = config.pagination;
    let page = p.type === 'page' ? p.start : 0;
    let offset = 0;
    for (let n = 0; n < MAX_PAGES_PER_CHUNK; n++) {
      const query: Record<string, string> = { ...params };
      if (p.type === 'page') {
        query[p.param] = String(page);
        if (p.sizeParam && p.size) query[p.sizeParam] = String(p.size);
      } else if (p.type === 'offset') {
        query[p.param] = String(offset);
        query[p.sizeParam] = String(p.size);
      }
      // A Link header's next URL already carries every parameter the server wants.
      const res = await http.get(url, p.type === 'link_header' && n > 0 ? {} : { query });
      const records = recordsOf(res.data, url);
      yield records;
      if (p.type === 'none') return;
      if (p.type === 'page') {
        if (records.length === 0 || (p.size !== undefined && records.length < p.size)) return;
        page++;
      } else if (p.type === 'offset') {
        if (records.length < p.size) return;
        offset += records.length;
      } else if (p.type === 'cursor') {
        const cursor = getPath(res.data, p.cursorPath);
        if (cursor === null || cursor === undefined || cursor === '' || cursor === false || records.length === 0) return;
        params[p.param] = String(cursor);
      } else {
        const next = nextLink(res.headers.link);
        if (!next) return;
        url = next;
      }
    }
    throw new ConfigError(`connector "${config.name}": pagination did not end after ${MAX_PAGES_PER_CHUNK} pages; check the pagination settings`);
  }

  return {
    recordSchema: datedRecordSchema as z.ZodType<DatedRecord>,
    async describe() {
      return { currency: null, timeZone: config.timezone };
    },
    async *read(_stream, window) {
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
              const id = JSON.stringify(getPath(record, config.fields.id) ?? null);
              if (seenIds.has(id)) continue;
              seenIds.add(id);
            }
            const date = toDate(getPath(record, config.fields.date), config.fields.dateFormat, config.timezone);
            if (date === null) unreadable.push({ date, record });
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
    normalize({ date, record, late }: DatedRecord): FactValue[] {
      if (late) {
        throw new DataError(`record dated ${late} arrived after that day was written: the API's date filter disagrees with field "${config.fields.date}" by more than a day (set fields.id if the API ignores the date filter)`);
      }
      if (date === null) {
        throw new DataError(`field "${config.fields.date}" (${JSON.stringify(getPath(record, config.fields.date)) ?? 'missing'}) is not a date in format ${config.fields.dateFormat}`);
      }
      const text = (path: string | undefined) => (path ? String(getPath(record, path) ?? '').trim() : '');
      const currency = config.fields.currency ? text(config.fields.currency).toUpperCase() || null : null;
      const out: FactValue[] = [];
      for (const [metric, spec] of Object.entries(config.fields.metrics)) {
        let value: number | null;
        if (typeof spec !== 'string' && 'count' in spec) {
          value = matches(record, spec.where) ? 1 : null;
        } else {
          const path = typeof spec === 'string' ? spec : spec.sum;
          if (typeof spec !== 'string' && !matches(record, spec.where)) continue;
          value = toNumber(getPath(record, path));
          if (Number.isNaN(value)) throw new DataError(`field "${path}" (metric ${metric}) is ${JSON.stringify(getPath(record, path))}, not a number`);
          if (value !== null && typeof spec !== 'string' && spec.scale !== undefined) value *= spec.scale;
        }
        if (value === null) continue;
        out.push({ date, campaign: text(config.fields.campaign), channel: text(config.fields.channel), metric, value, currency });
      }
      return out;
    },
  };
}

export const httpJsonConnector: Connector<HttpJsonConfig, DatedRecord> = {
  type: 'http_json',
  defaultLookbackDays: () => 3,
  streams: (config) => [config.account],
  open: openHttpJson,
};
