/**
 * Retry-After in either form RFC 9110 allows, delay-seconds or an HTTP-date, as milliseconds
 * from `now`; a date in the past is 0. Undefined when absent or unreadable. Fractions of a
 * second are accepted, as some APIs send them ("7.0").
 */
export function parseRetryAfter(value: unknown, now: number = Date.now()): number | undefined {
  const text = typeof value === 'string' ? value.trim() : '';
  if (!text) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) {
    // Digits past what a double holds ("1" and 400 zeros) say nothing a person could act on.
    const ms = Math.round(Number(text) * 1_000);
    return Number.isFinite(ms) ? ms : undefined;
  }
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export type CappedWait = { wait: number } | { tooLong: number };

/**
 * A wait a server asked for, against the longest the caller is willing to wait. Past the
 * cap the caller is told, not made to wait: it can then fail visibly (a notification marked
 * failed) or wait the cap and say so, instead of parking work for as long as a header says.
 */
export function withinCap(askedMs: number, capMs: number): CappedWait {
  return askedMs > capMs ? { tooLong: askedMs } : { wait: askedMs };
}
