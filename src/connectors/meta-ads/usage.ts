import { TransientError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { Sleep } from '../../core/resilience/index.ts';

/**
 * Meta throttles by usage percentages it reports in response headers, and blocks an app or
 * account for minutes once one reaches 100. So we back off before that: when any reading is
 * at or above BACKOFF_AT_PCT, the next request waits, for Meta's own estimate when it gives
 * one (estimated_time_to_regain_access, reset_time_duration), else for a time that grows
 * with the usage. A wait longer than maxWaitMs, or too many waits in a row, ends the run with
 * a TransientError and the next scheduled sync resumes from its checkpoint.
 */

export const BACKOFF_AT_PCT = 80;
const MS_PER_PCT_OVER = 6_000;
const MAX_WAITS_IN_A_ROW = 10;

export interface Usage {
  /** Highest percentage in any header. */
  pct: number;
  /** Meta's own estimate of when access is back, in ms; 0 when it gave none. */
  regainMs: number;
}

function json(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** x-business-use-case-usage, x-ad-account-usage, x-fb-ads-insights-throttle and x-app-usage, all at once. */
export function parseUsage(headers: Readonly<Record<string, string>>): Usage | undefined {
  let pct = 0;
  let regainMs = 0;
  let seen = false;
  const buc = json(headers['x-business-use-case-usage']);
  if (buc && typeof buc === 'object') {
    for (const entries of Object.values(buc as Record<string, unknown>)) {
      for (const e of Array.isArray(entries) ? (entries as Array<Record<string, unknown>>) : []) {
        seen = true;
        pct = Math.max(pct, num(e.call_count), num(e.total_cputime), num(e.total_time));
        // Minutes, per Meta's documentation.
        regainMs = Math.max(regainMs, num(e.estimated_time_to_regain_access) * 60_000);
      }
    }
  }
  const account = json(headers['x-ad-account-usage']) as Record<string, unknown> | undefined;
  if (account && typeof account === 'object') {
    seen = true;
    pct = Math.max(pct, num(account.acc_id_util_pct));
    // Seconds.
    if (num(account.acc_id_util_pct) >= BACKOFF_AT_PCT) regainMs = Math.max(regainMs, num(account.reset_time_duration) * 1_000);
  }
  const insights = json(headers['x-fb-ads-insights-throttle']) as Record<string, unknown> | undefined;
  if (insights && typeof insights === 'object') {
    seen = true;
    pct = Math.max(pct, num(insights.app_id_util_pct), num(insights.acc_id_util_pct));
  }
  const app = json(headers['x-app-usage']) as Record<string, unknown> | undefined;
  if (app && typeof app === 'object') {
    seen = true;
    pct = Math.max(pct, num(app.call_count), num(app.total_cputime), num(app.total_time));
  }
  return seen ? { pct, regainMs } : undefined;
}

export interface ThrottleOptions {
  sleep: Sleep;
  now: () => number;
  log: Logger;
  /** Default 5 minutes. */
  maxWaitMs?: number;
}

export class UsageThrottle {
  private until = 0;
  private inARow = 0;
  private last: Usage = { pct: 0, regainMs: 0 };
  private readonly o: ThrottleOptions;
  private readonly maxWaitMs: number;

  constructor(options: ThrottleOptions) {
    this.o = options;
    this.maxWaitMs = options.maxWaitMs ?? 5 * 60_000;
  }

  /** Called with every response's headers, errors included. */
  observe(headers: Readonly<Record<string, string>>): void {
    const usage = parseUsage(headers);
    if (!usage) return;
    this.last = usage;
    if (usage.pct < BACKOFF_AT_PCT) {
      this.inARow = 0;
      this.until = 0;
      return;
    }
    const wait = usage.regainMs > 0 ? usage.regainMs : (usage.pct - BACKOFF_AT_PCT + 5) * MS_PER_PCT_OVER;
    this.until = Math.max(this.until, this.o.now() + wait);
  }

  /** Meta's estimate, for the retry of a rate-limited call. */
  regainMs(): number | undefined {
    return this.last.regainMs > 0 ? this.last.regainMs : undefined;
  }

  async beforeRequest(signal: AbortSignal): Promise<void> {
    const wait = this.until - this.o.now();
    if (wait <= 0) return;
    if (wait > this.maxWaitMs || this.inARow >= MAX_WAITS_IN_A_ROW) {
      throw new TransientError(`Meta API usage is at ${this.last.pct}% and would need ${Math.ceil(wait / 1000)} s more to recover; the sync stops here and resumes from its checkpoint`, { retryAfterMs: wait });
    }
    this.inARow++;
    this.o.log.info({ usagePct: this.last.pct, waitMs: wait }, 'Meta API usage is high; backing off');
    await this.o.sleep(wait, signal);
    // Waited out: the next response says where usage stands now.
    this.until = 0;
  }
}
