export type { SourceConfig } from './config.ts';
import { z } from 'zod';
import { ConfigError, DataError, TransientError } from '../../core/errors.ts';
import { registerSecret } from '../../core/secrets.ts';
import { splitWindow, type DateRange } from '../../core/dates.ts';
import { createHttpClient, type Classification, type HttpClient, type ResponseInfo } from '../../core/http/index.ts';
import { sleep as abortableSleep, type RetryPolicy, type Sleep } from '../../core/resilience/index.ts';
import { type OpenContext, type SourceReader, type StreamInfo } from '../shared/connector.ts';
import { paginate } from '../shared/paginate.ts';
import { shownValue } from '../../warehouse/index.ts';
import { getPath, nextLink } from '../http-json/extract.ts';
import { pagingParams, withBase } from '../http-json/request.ts';
import { authProviderOf } from './auth.ts';
import type { RequestSpec, SourceDefinition } from './definition.ts';
import type { SourceConfig } from './config.ts';
import { dateOf, factsOf } from './records.ts';
import { fill, fillJson, fillQuery, type TemplateScope } from './template.ts';

/** What tests and embedders may change about how a source connector waits and retries. */
export interface SourceOptions {
  sleep?: Sleep;
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
}

/** The request the config selects: the first whose `when` setting is set, else the first without `when`. */
export function requestFor(def: SourceDefinition, config: Record<string, unknown>): RequestSpec {
  const list = Array.isArray(def.request) ? def.request : [def.request];
  const chosen = list.find((r) => r.when !== undefined && isSetting(config[r.when])) ?? list.find((r) => r.when === undefined);
  if (!chosen) throw new ConfigError(`connector "${String(config.name)}": its source definition has no request for this configuration`);
  return chosen;
}

/** The requests a window is read with: the one `requestFor` chooses, or (`requests: all`) every one the config enables. */
export function requestsFor(def: SourceDefinition, config: Record<string, unknown>): RequestSpec[] {
  if (def.requests === 'first') return [requestFor(def, config)];
  const list = Array.isArray(def.request) ? def.request : [def.request];
  const chosen = list.filter((r) => r.when === undefined || isSetting(config[r.when]));
  if (chosen.length === 0) {
    const names = list.map((r) => r.when).filter((w): w is string => w !== undefined);
    throw new ConfigError(`connector "${String(config.name)}": set at least one of ${names.join(', ')}: each is a request it reads`);
  }
  return chosen;
}

function isSetting(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0);
}

/** The streams: each account of a list setting, or the one a setting names. */
export function accountsOf(def: SourceDefinition, config: Record<string, unknown>): string[] {
  const value = config[def.accounts.list ?? def.accounts.single ?? ''];
  if (Array.isArray(value)) return value.map(String);
  return value === undefined || value === null ? [] : [String(value)];
}

/** The classify hook: the definition's own error rules, then its rate-limit header on a 429. */
function classifierOf(def: SourceDefinition, now: () => number): (res: ResponseInfo) => Classification {
  return (res) => {
    for (const rule of def.errors) {
      const statuses = rule.status === undefined ? undefined : Array.isArray(rule.status) ? rule.status : [rule.status];
      if (statuses && !statuses.includes(res.status)) continue;
      if (rule.body) {
        const value = getPath(res.data, rule.body.path);
        // A path alone means the field is there (an `error` key); absent never equals anything.
        if (value === undefined || value === null) {
          if (rule.body.notEquals === undefined) continue;
        } else {
          const found = String(value);
          if (rule.body.equals !== undefined && found !== String(rule.body.equals)) continue;
          if (rule.body.notEquals !== undefined && found === String(rule.body.notEquals)) continue;
        }
      }
      return rule.kind === 'transient' ? 'retry' : rule.kind;
    }
    if (res.status === 429 && def.rateLimit && res.headers['retry-after'] === undefined) {
      const raw = Number(res.headers[def.rateLimit.resetHeader.toLowerCase()]);
      if (!Number.isFinite(raw) || raw < 0) return 'retry';
      const waitMs = def.rateLimit.resetIs === 'epoch_seconds' ? Math.max(0, raw * 1000 - now()) : raw * 1000;
      return { verdict: 'retry', retryAfterMs: waitMs };
    }
    return undefined;
  };
}

export interface SourceSession {
  http: HttpClient;
  scope(account?: string, window?: DateRange): TemplateScope;
  zone: string;
  send<T = unknown>(spec: RequestSpec, scope: TemplateScope, extra?: { query?: Record<string, string>; body?: Record<string, unknown>; url?: string }): Promise<{ status: number; headers: Readonly<Record<string, string>>; data: T }>;
}

/**
 * Every `secret` setting is scrubbed from what the connector says, not only those its `auth`
 * sends: a definition may put one in a path, a query or a body (an API key in the URL), and a
 * user may write one into the YAML as it is rather than as ${env:…}, which the loader would
 * have registered. An API's error that echoes the URL then shows [redacted].
 */
function registerSecretSettings(def: SourceDefinition, config: Record<string, unknown>): void {
  for (const [key, field] of Object.entries(def.config)) {
    const value = config[key];
    if (field.kind === 'secret' && typeof value === 'string') registerSecret(value);
  }
}

/** The HTTP client, credentials and templates of one connector, shared by sync and check. */
export function openSession(def: SourceDefinition, config: SourceConfig, ctx: OpenContext, options: SourceOptions & { classify?: (res: ResponseInfo) => Classification; retry?: Partial<RetryPolicy> } = {}): SourceSession {
  registerSecretSettings(def, config);
  const zone = def.window.zone === 'UTC' ? 'UTC' : config.timezone;
  const scope = (account?: string, window?: DateRange): TemplateScope => ({ config, zone, name: config.name, ...(account !== undefined ? { account } : {}), ...(window ? { window } : {}) });
  const base = withBase(fill(def.baseUrl, scope()), config.baseUrl);
  const rebase = (url: string) => withBase(url, config.baseUrl);
  const sleep = options.sleep ?? abortableSleep;
  const auth = authProviderOf(def, scope(), { log: ctx.log, signal: ctx.signal, sleep, ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}), rebase });
  const own = classifierOf(def, Date.now);
  const http = createHttpClient({
    name: config.name,
    baseURL: base,
    headers: Object.fromEntries(Object.entries(def.headers).map(([k, v]) => [k, fill(v, scope())])),
    ...(auth ? { auth } : {}),
    concurrency: Math.min(config.concurrency ?? def.concurrency.default, def.concurrency.max),
    maxResponseMb: config.maxResponseMb,
    classify: (res) => options.classify?.(res) ?? own(res),
    logger: ctx.log,
    signal: ctx.signal,
    sleep,
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
  });
  return {
    http,
    scope,
    zone,
    async send(spec, s, extra = {}) {
      const headers = Object.fromEntries(Object.entries(spec.headers).map(([k, v]) => [k, fill(v, s)]));
      const body = spec.body === undefined ? undefined : { ...(fillJson(spec.body, s) as Record<string, unknown>), ...extra.body };
      const url = extra.url ?? fill(spec.path, s);
      const query = extra.url ? {} : { ...fillQuery(spec.query, s), ...extra.query };
      return http.request({ method: spec.method, url, query, headers, ...(body !== undefined ? { body } : {}) });
    },
  };
}

interface Position {
  page: number;
  offset: number;
  cursor?: string;
  /** A next-page URL the API gave, which already carries every parameter. */
  url?: string;
}

/** Every record of one request's pages, the definition's pagination followed. */
function pagesOf(def: SourceDefinition, session: SourceSession, spec: RequestSpec, s: TemplateScope, what: string): AsyncGenerator<unknown[]> {
  const p = def.pagination;
  const first: Position = { page: p.type === 'page' ? p.start : 0, offset: 0 };
  return paginate({ connector: s.name, what }, first, async (at) => {
    const { query, body } = pagingParams(p, at);
    const res = await session.send(spec, s, { query, body, ...(at.url ? { url: at.url } : {}) });
    const items = tagged(zipped(def, res.data, recordsAt(res.data, def.records, s.name), s.name), spec, s);
    if (p.type === 'none') return { items };
    if (p.type === 'page') {
      const pages = p.totalPagesPath ? Number(getPath(res.data, p.totalPagesPath)) : Number.NaN;
      const done = items.length === 0 || (Number.isFinite(pages) ? at.page - p.start + 1 >= pages : p.size !== undefined && items.length < p.size);
      return done ? { items } : { items, next: { ...at, page: at.page + 1 } };
    }
    if (p.type === 'offset') {
      const next = at.offset + items.length;
      const total = p.totalPath ? Number(getPath(res.data, p.totalPath)) : Number.NaN;
      const done = items.length === 0 || (Number.isFinite(total) ? next >= total : items.length < p.size);
      return done ? { items } : { items, next: { ...at, offset: next } };
    }
    if (p.type === 'cursor') {
      const cursor = getPath(res.data, p.cursorPath);
      if (cursor === null || cursor === undefined || cursor === '' || cursor === false || items.length === 0) return { items };
      return { items, next: { ...at, cursor: String(cursor) } };
    }
    const next = p.type === 'link_header' ? nextLink(res.headers.link) : getPath(res.data, p.path);
    return typeof next === 'string' && next !== '' ? { items, next: { ...at, url: next } } : { items };
  });
}

/**
 * The records of an answer. An object answer without the records' key is not an empty page: it
 * is an error told with status 200 (`{"errors": "Internal error"}`), and taken for no data it
 * would end a first sync of those days with nothing stored and the checkpoint past them. It
 * fails the run as a transient error naming the keys the answer has, so the next sync asks
 * again; a definition whose `records` is misspelt fails the same way, every time, saying so.
 */
export function recordsAt(body: unknown, path: string, name: string): unknown[] {
  const found = getPath(body, path);
  if (found === undefined && path !== '' && body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const keys = Object.keys(body).slice(0, 10).map((k) => JSON.stringify(k)).join(', ') || 'none';
    throw new TransientError(`connector "${name}": the answer has no "${path}" (its keys: ${keys}): an error answered with status 200, or a definition whose records path is not where the API puts them`);
  }
  if (found === null || found === undefined) return [];
  if (!Array.isArray(found)) throw new ConfigError(`connector "${name}": the answer's "${path || '(top level)'}" is not a list of records`);
  return found;
}

/**
 * The records of an answer in columns (`zip`): each record's parallel lists made one record per
 * position. Lists of different lengths, or a path that is not a list, cannot be read position by
 * position: like an answer without its records, the run fails naming them and asks again.
 */
export function zipped(def: SourceDefinition, body: unknown, records: unknown[], name: string): unknown[] {
  if (!def.zip) return records;
  const keys = Object.entries(def.zip);
  const own = keys.map(([, path]) => path).filter((path) => !path.startsWith('_answer.'));
  const out: unknown[] = [];
  for (const [n, record] of records.entries()) {
    const scope = { _answer: body, ...(record !== null && typeof record === 'object' && !Array.isArray(record) ? record : {}) };
    const lists = keys.map(([key, path]) => {
      const found = path.startsWith('_answer.') ? getPath(body, path.slice('_answer.'.length)) : getPath(scope, path);
      if (!Array.isArray(found)) throw new TransientError(`connector "${name}": record ${n} of the answer has no list at "${path}" (zip ${key}): ${found === undefined ? 'missing' : shownValue(found)}`);
      return found;
    });
    const length = lists[0]!.length;
    const odd = lists.findIndex((l) => l.length !== length);
    if (odd >= 0) throw new TransientError(`connector "${name}": record ${n} of the answer has lists of different lengths: "${keys[0]![1]}" ${length}, "${keys[odd]![1]}" ${lists[odd]!.length}`);
    // Each position's `_parent` is the record without the lists it was zipped from: they hold a
    // value per position, so kept they would make every record (and each one quarantined) carry
    // the whole answer, n positions times n values.
    const parent = withoutPaths(record, own);
    for (let i = 0; i < length; i++) out.push({ ...Object.fromEntries(keys.map(([key], k) => [key, lists[k]![i]])), _parent: parent });
  }
  return out;
}

/** A copy of `value` without the fields at `paths` (dot paths), copying only the objects on the way. */
function withoutPaths(value: unknown, paths: string[]): unknown {
  let out = value;
  for (const path of paths) out = without(out, path.split('.'));
  return out;
}

function without(value: unknown, keys: string[]): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || keys.length === 0) return value;
  const [key, ...rest] = keys as [string, ...string[]];
  if (!Object.hasOwn(value, key)) return value;
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  if (rest.length === 0) delete copy[key];
  else copy[key] = without(copy[key], rest);
  return copy;
}

/** Records with their request's `fields` under `_request` (which metric a request per metric asked for). */
function tagged(records: unknown[], spec: RequestSpec, s: TemplateScope): unknown[] {
  if (!spec.fields) return records;
  const fields = Object.fromEntries(Object.entries(spec.fields).map(([k, v]) => [k, fill(v, s)]));
  return records.map((r) => (r !== null && typeof r === 'object' && !Array.isArray(r) ? { ...r, _request: fields } : { value: r, _request: fields }));
}

/** A record with its day, or why it has none the sync can use. */
interface Dated {
  date: string | null;
  record: unknown;
  outside?: DateRange;
}

export function openSource(def: SourceDefinition, config: SourceConfig, ctx: OpenContext, options: SourceOptions): SourceReader<Dated> {
  const session = openSession(def, config, ctx, options);
  const specs = requestsFor(def, config);
  const infos = new Map<string, StreamInfo>();
  return {
    recordSchema: z.object({ date: z.string().nullable(), record: z.unknown(), outside: z.object({ from: z.string(), to: z.string() }).optional() }) as z.ZodType<Dated>,
    async describe(account) {
      const d = def.describe;
      let info: StreamInfo = { currency: null, timeZone: session.zone };
      if (d) {
        const res = await session.send(d.request, session.scope(account));
        const currency = d.currencyPath ? getPath(res.data, d.currencyPath) : undefined;
        const zone = d.timeZonePath ? getPath(res.data, d.timeZonePath) : undefined;
        info = { currency: typeof currency === 'string' && currency ? currency.toUpperCase() : null, timeZone: typeof zone === 'string' && zone ? zone : session.zone };
      }
      infos.set(account, info);
      return info;
    },
    async *read(account, window, rctx) {
      for (const chunk of splitWindow(window, def.window.chunkDays)) {
        const zone = infos.get(account)?.timeZone ?? session.zone;
        // The account's own zone (HubSpot's portal) decides the instants a window's days span.
        const s = { ...session.scope(account, chunk), zone };
        const records: unknown[] = [];
        for (const spec of specs) {
          for await (const page of pagesOf(def, session, spec, s, `${def.title} ${spec.path} for ${account}, ${chunk.from}..${chunk.to}`)) for (const r of page) records.push(r);
        }
        const dated: Dated[] = [];
        for (const record of records) {
          const date = dateOf(def, record, zone);
          if (date === null) dated.push({ date, record });
          else if (date < rctx.validDates.from || date > rctx.validDates.to) dated.push({ date, record, outside: rctx.validDates });
          else if (date >= chunk.from && date <= chunk.to) dated.push({ date, record });
          // else: a day of another chunk or sync, which reads it itself.
        }
        // Unreadable ones first (quarantined), then by day: the framework commits days in order.
        dated.sort((a, b) => ((a.date ?? '') < (b.date ?? '') ? -1 : (a.date ?? '') > (b.date ?? '') ? 1 : 0));
        if (dated.length) yield dated;
      }
    },
    normalize({ date, record, outside }, account) {
      if (outside) throw new DataError(`field "${def.date.path}" is ${date}, outside the dates this connector accepts (${outside.from}..${outside.to})`);
      if (date === null) throw new DataError(`field "${def.date.path}" (${getPath(record, def.date.path) === undefined ? 'missing' : shownValue(getPath(record, def.date.path))}) is not a date in format ${def.date.format}`);
      return factsOf(def, record, date, infos.get(account) ?? { currency: null, timeZone: session.zone });
    },
  };
}
