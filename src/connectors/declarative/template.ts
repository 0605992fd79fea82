import { DateTime } from 'luxon';
import { ConfigError } from '../../core/errors.ts';
import { addDays } from '../../core/dates.ts';

/** What a definition's templates may name: the connector's config, the stream, the window. */
export interface TemplateScope {
  config: Record<string, unknown>;
  account?: string;
  window?: { from: string; to: string };
  /** Zone the window's days are in. */
  zone: string;
  /** The connector's name, for errors. */
  name: string;
}

const PLACEHOLDER = /\{([a-zA-Z_][\w.]*)(?::([^}|]+))?(?:\|(?:after:([^}])|(json)))?\}/g;

function windowValue(key: string, format: string | undefined, scope: TemplateScope): string | undefined {
  const w = scope.window;
  if (!w) return undefined;
  const day = (d: string) => DateTime.fromISO(d, { zone: scope.zone });
  switch (key) {
    case 'from':
      return format ? day(w.from).toFormat(format) : w.from;
    case 'to':
      return format ? day(w.to).toFormat(format) : w.to;
    case 'from_unix':
      return String(Math.floor(day(w.from).startOf('day').toSeconds()));
    case 'to_unix':
      return String(Math.floor(day(w.to).endOf('day').toSeconds()));
    case 'from_ms':
      return String(day(w.from).startOf('day').toMillis());
    case 'to_ms':
      return String(day(w.to).endOf('day').toMillis());
    case 'start_iso':
      return day(w.from).toUTC().toISO({ suppressMilliseconds: true }) ?? undefined;
    case 'end_iso':
      return day(addDays(w.to, 1)).toUTC().toISO({ suppressMilliseconds: true }) ?? undefined;
    default:
      return undefined;
  }
}

function lookup(key: string, format: string | undefined, scope: TemplateScope): unknown {
  // Own keys only: `{config.constructor}` or `{config.__proto__}` name no setting, and must not reach Object's.
  if (key.startsWith('config.')) {
    const name = key.slice('config.'.length);
    return Object.hasOwn(scope.config, name) ? scope.config[name] : undefined;
  }
  if (key === 'account') return scope.account;
  if (key === 'zone') return scope.zone;
  return windowValue(key, format, scope);
}

/** The text with its placeholders filled; an unknown or unset placeholder is a ConfigError naming it. */
export function fill(text: string, scope: TemplateScope): string {
  return text.replace(PLACEHOLDER, (whole, key: string, format: string | undefined, after: string | undefined, json: string | undefined) => {
    const value = lookup(key, format, scope);
    if (value === undefined || value === null) throw new ConfigError(`connector "${scope.name}": the source definition's ${whole} has no value here`);
    if (json) return JSON.stringify(value);
    const textValue = Array.isArray(value) ? value.join(',') : String(value);
    return after !== undefined ? textValue.slice(textValue.lastIndexOf(after) + 1) : textValue;
  });
}

/** A value that is exactly one `{config.LIST}` stands for the list itself (a query parameter repeated, a JSON array). */
function wholeList(text: string, scope: TemplateScope): unknown[] | undefined {
  const m = /^\{config\.(\w+)\}$/.exec(text);
  if (!m) return undefined;
  const value = scope.config[m[1]!];
  return Array.isArray(value) ? value : undefined;
}

/** Fills every text inside a JSON value. */
export function fillJson(value: unknown, scope: TemplateScope): unknown {
  if (typeof value === 'string') return wholeList(value, scope) ?? fill(value, scope);
  if (Array.isArray(value)) return value.map((v) => fillJson(v, scope));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillJson(v, scope)]));
  return value;
}

export function fillQuery(query: Record<string, string | string[]>, scope: TemplateScope): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(query)) {
    out[k] = Array.isArray(v) ? v.map((x) => fill(x, scope)) : ((wholeList(v, scope) as string[] | undefined) ?? fill(v, scope));
  }
  return out;
}
