import { DateTime } from 'luxon';

/** Reads a dot path (`customer.orders_count`, `items.0.price`) without touching prototypes. */
export function getPath(value: unknown, dotPath: string): unknown {
  if (dotPath === '') return value;
  let current: unknown = value;
  for (const part of dotPath.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    // `data.-1.id`: the last element, for cursors that are the last record's id.
    if (Array.isArray(current) && /^-\d+$/.test(part)) {
      current = current[current.length + Number(part)];
      continue;
    }
    if (!Object.prototype.hasOwnProperty.call(current, part)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

export function toNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : Number.NaN;
  if (typeof value === 'string') {
    const t = value.trim();
    if (t === '') return null;
    return /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(t) ? Number(t) : Number.NaN;
  }
  if (value === null || value === undefined) return null;
  return Number.NaN;
}

/** The record's reporting date in `timeZone`; null when it cannot be read. */
export function toDate(value: unknown, format: string, timeZone: string): string | null {
  let dt: DateTime;
  if (format === 'unix' || format === 'unix_ms') {
    const n = toNumber(value);
    if (n === null || Number.isNaN(n)) return null;
    dt = DateTime.fromMillis(format === 'unix' ? n * 1000 : n, { zone: timeZone });
  } else if (typeof value !== 'string') {
    return null;
  } else if (format === 'iso') {
    // A bare date is already a reporting date; a timestamp is moved into the account's zone.
    if (/^\d{4}-\d{2}-\d{2}$/.test(value)) dt = DateTime.fromISO(value, { zone: 'UTC' });
    else dt = DateTime.fromISO(value, { setZone: true }).setZone(timeZone);
  } else {
    dt = DateTime.fromFormat(value, format, { zone: timeZone });
  }
  return dt.isValid ? dt.toISODate() : null;
}

export function matches(record: unknown, where: Record<string, string | number | boolean> | undefined): boolean {
  if (!where) return true;
  return Object.entries(where).every(([p, expected]) => {
    const actual = getPath(record, p);
    return actual === expected || (typeof actual === 'string' && typeof expected !== 'string' && actual === String(expected));
  });
}

/**
 * Replaces {from} and {to} with the window's dates, and {from_unix} / {to_unix} with the
 * first and last second of those days in `timeZone`, for APIs that filter by timestamp.
 */
export function fillTemplate(text: string, window: { from: string; to: string }, timeZone = 'UTC'): string {
  const start = () => String(Math.floor(DateTime.fromISO(window.from, { zone: timeZone }).startOf('day').toSeconds()));
  const end = () => String(Math.floor(DateTime.fromISO(window.to, { zone: timeZone }).endOf('day').toSeconds()));
  return text
    .replace(/\{from_unix\}/g, start)
    .replace(/\{to_unix\}/g, end)
    .replace(/\{from\}/g, window.from)
    .replace(/\{to\}/g, window.to);
}

/** The rel="next" URL of an RFC 8288 Link header. */
export function nextLink(header: unknown): string | null {
  if (typeof header !== 'string') return null;
  for (const part of header.split(',')) {
    const m = /<([^>]+)>\s*;(.*)/.exec(part.trim());
    if (m && /rel\s*=\s*"?next"?/i.test(m[2] ?? '')) return m[1]!;
  }
  return null;
}
