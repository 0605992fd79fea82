import { TransientError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { Sleep } from '../../core/resilience/index.ts';

/**
 * Paces runReport calls by the property quota that GA4 returns with each response
 * (returnPropertyQuota), so a long backfill slows down instead of running into 429s that
 * would stop every other report on the property for the rest of the hour.
 *
 * Policy:
 * - An hourly bucket (tokensPerHour, tokensPerProjectPerHour) below LOW_SHARE of its
 *   standard-property limit spreads the requests it can still afford evenly over what is left
 *   of the hour.
 * - When the next request cannot be afforded at all, wait for the next hour.
 * - A wait longer than maxWaitMs (and a day bucket that is spent) ends the run with a
 *   TransientError instead, so a worker is not parked for an hour; the next scheduled sync
 *   resumes from the checkpoint.
 * GA4 360 properties have ten times the limits; they simply start pacing later.
 */

export interface QuotaStatus {
  consumed?: number | null;
  remaining?: number | null;
}

export type PropertyQuota = Partial<Record<'tokensPerDay' | 'tokensPerHour' | 'tokensPerProjectPerHour', QuotaStatus | null>>;

/** Standard (non-360) property limits, from the Data API quota documentation. */
const STANDARD_LIMITS = { tokensPerHour: 40_000, tokensPerProjectPerHour: 14_000, tokensPerDay: 200_000 } as const;
const LOW_SHARE = 0.1;
const HOUR_MS = 3_600_000;

export interface QuotaPacerOptions {
  sleep: Sleep;
  now: () => number;
  log: Logger;
  /** Longest single wait before giving up for this run; default 5 minutes. */
  maxWaitMs?: number;
}

export class QuotaPacer {
  private nextAt = 0;
  private exhausted: string | null = null;
  private readonly o: QuotaPacerOptions;
  private readonly maxWaitMs: number;

  constructor(options: QuotaPacerOptions) {
    this.o = options;
    this.maxWaitMs = options.maxWaitMs ?? 5 * 60_000;
  }

  /** Waits as long as the last quota reading asked for, or throws when that is too long. */
  async beforeRequest(signal: AbortSignal): Promise<void> {
    const wait = this.nextAt - this.o.now();
    if (this.exhausted) throw new TransientError(this.exhausted, wait > 0 ? { retryAfterMs: wait } : undefined);
    if (wait <= 0) return;
    if (wait > this.maxWaitMs) {
      throw new TransientError(`GA4 property quota is nearly spent; the next request would have to wait ${Math.ceil(wait / 1000)} s, so this sync stops here and resumes from its checkpoint`, { retryAfterMs: wait });
    }
    this.o.log.info({ waitMs: wait }, 'GA4 property quota is low; spacing requests');
    await this.o.sleep(wait, signal);
  }

  /** Reads the quota that came back with a response and plans the wait before the next one. */
  observe(quota: PropertyQuota | null | undefined): void {
    if (!quota) return;
    const now = this.o.now();
    const cost = Math.max(1, quota.tokensPerHour?.consumed ?? quota.tokensPerDay?.consumed ?? 1);
    const day = quota.tokensPerDay?.remaining;
    if (typeof day === 'number' && day < cost) {
      this.exhausted = 'GA4 property tokens per day are spent; the sync resumes from its checkpoint tomorrow';
      this.nextAt = now + msToNextHour(now);
      return;
    }
    let wait = 0;
    for (const bucket of ['tokensPerHour', 'tokensPerProjectPerHour'] as const) {
      const remaining = quota[bucket]?.remaining;
      if (typeof remaining !== 'number' || remaining >= STANDARD_LIMITS[bucket] * LOW_SHARE) continue;
      const affordable = Math.floor(remaining / cost);
      const untilHour = msToNextHour(now);
      wait = Math.max(wait, affordable < 1 ? untilHour : Math.ceil(untilHour / affordable));
    }
    this.nextAt = now + wait;
  }
}

function msToNextHour(now: number): number {
  return HOUR_MS - (now % HOUR_MS);
}
