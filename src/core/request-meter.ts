import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What one piece of work (a sync run) asked of the sources: requests sent and the quota the
 * sources said they used. Counted where requests leave the process (the HTTP client, the
 * googleapis fetch, the Google token fetch), so every connector is counted without doing
 * anything; the work that owns a request is found through the async context it was made in.
 */
export interface RequestTally {
  /** Attempts sent over the network, retries and token requests included. */
  requests: number;
  /**
   * Quota the sources reported, by unit: `ga4_tokens` (summed over requests), and percentages
   * of a rolling limit ending in `_pct` (`meta_usage_pct`, `rate_limit_pct`: the highest seen).
   */
  quota: Record<string, number>;
}

const current = new AsyncLocalStorage<RequestTally>();

export function newTally(): RequestTally {
  return { requests: 0, quota: {} };
}

/** Runs `work` with every request it makes (however deep) counted on `tally`. */
export function meterRequests<T>(tally: RequestTally, work: () => Promise<T>): Promise<T> {
  return current.run(tally, work);
}

/** One request sent on behalf of whatever work is running; nothing outside metered work. */
export function countRequest(): void {
  const tally = current.getStore();
  if (tally) tally.requests++;
}

/** Whether a unit is a share of a rolling limit (kept at its highest) rather than an amount (summed). */
export function isPercentUnit(unit: string): boolean {
  return unit.endsWith('_pct');
}

/** Quota a source reported for a request of the running work. */
export function recordQuota(unit: string, amount: number): void {
  const tally = current.getStore();
  if (!tally || typeof amount !== 'number' || !Number.isFinite(amount) || amount < 0) return;
  const before = tally.quota[unit];
  const after = before === undefined ? amount : isPercentUnit(unit) ? Math.max(before, amount) : before + amount;
  // A sum past what a number holds would be stored as null (JSON has no Infinity).
  if (Number.isFinite(after)) tally.quota[unit] = after;
}

/**
 * The usual rate-limit headers (X-RateLimit-Limit / -Remaining, and the IETF draft's
 * RateLimit-Limit / -Remaining): the share of the limit used, as a percentage.
 */
export function recordRateLimitHeaders(headers: Readonly<Record<string, string>>): void {
  // An empty header is no number (Number('') is 0, which read as "all used").
  const num = (v: string | undefined): number => (v === undefined || v.trim() === '' ? NaN : Number(v));
  const limit = num(headers['x-ratelimit-limit'] ?? headers['ratelimit-limit']);
  const remaining = num(headers['x-ratelimit-remaining'] ?? headers['ratelimit-remaining']);
  if (!Number.isFinite(limit) || !Number.isFinite(remaining) || limit <= 0) return;
  // A negative remainder (an overdrawn limit) is all of it used, not more than 100%.
  const used = Math.min(limit, Math.max(0, limit - remaining));
  recordQuota('rate_limit_pct', Math.round((used / limit) * 1000) / 10);
}

/** "1 234 GA4 tokens, 12% Meta usage": a tally's quota for people. */
export function describeQuota(quota: Readonly<Record<string, number>> | null | undefined): string {
  const names: Record<string, string> = { ga4_tokens: 'GA4 tokens', meta_usage_pct: 'Meta usage', rate_limit_pct: 'of rate limit' };
  return Object.entries(quota ?? {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([unit, v]) => (isPercentUnit(unit) ? `${v}% ${names[unit] ?? unit}` : `${v} ${names[unit] ?? unit}`))
    .join(', ');
}
