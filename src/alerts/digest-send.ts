import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { AlertingConfig, Report } from '../config/index.ts';
import { ConfigError, errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { periodOf, type Period } from '../metrics/index.ts';
import { redactAndCut, redactSecrets } from '../core/secrets.ts';
import type { Database } from '../warehouse/index.ts';
import { claimEnd, claimFree } from '../warehouse/claims.ts';
import { createChannel } from '../notify/channels.ts';
import type { WaitingClock } from '../core/resilience/index.ts';
import { retryVerdict } from './redelivery.ts';
import { buildReport, reportKpis, reportNamed, reportPeriod, type DigestConfig } from './digest.ts';
import { loadCompleteness } from '../metrics/completeness.ts';
import type { Channel, Digest } from '../notify/types.ts';

/** What sending needs beyond building: the alerting settings failed sends are retried by. */
export type DigestSendConfig = DigestConfig & { alerting: Pick<AlertingConfig, 'maxAttempts' | 'maxRetryAfter'> };

interface SendDigestOptions {
  /** When the report is sent; it covers the last whole period before it. */
  now?: Date;
  /** Which report (`reports[].name`); default the `digest`, or the only report. */
  report?: string;
  /** Default: the report's channels. */
  channels?: readonly string[];
  /** Channel objects by name, instead of building them from config. */
  using?: Readonly<Record<string, Channel>>;
  /** Send even if this period's digest already went out to a channel (`kpi digest --send`); a failure is not retried. */
  force?: boolean;
  owner?: string;
  log?: Logger;
  clock?: WaitingClock;
}

interface SendDigestResult {
  /** The report's name: what its rows in digest_sends are keyed by. */
  report: string;
  digest: Digest;
  sent: string[];
  /** Already sent for this period, being sent by another replica, or waiting for its retry. */
  skipped: string[];
  /** Failed for now; tried again at `at` (retryDigests). */
  retrying: Array<{ channel: string; error: string; at: Date }>;
  /** Failed for good. */
  failed: Array<{ channel: string; error: string }>;
  /** Not sent: its data is not complete yet; looked at again at `at`. */
  waiting?: { at: Date; reason: string };
}

/** How often a digest whose data is not complete is looked at again. */
const WAIT_RECHECK_MS = 60 * 60_000;

const CLAIM_MS = 10 * 60_000;
const MAX_ERROR = 2000;

/**
 * Sends a report (the digest by default) to its channels, once per report, period and
 * channel however many schedulers fire: a row in digest_sends is claimed before the send. A
 * send that fails is tried again with backoff (retryDigests) up to alerting.maxAttempts; one
 * abandoned by a dead process is taken up again once its claim runs out.
 */
export async function sendDigest(db: Kysely<Database>, config: DigestSendConfig, options: SendDigestOptions = {}): Promise<SendDigestResult> {
  const now = options.now ?? new Date();
  const report = reportNamed(config, options.report);
  const names = options.channels ?? report.channels;
  if (names.length === 0) throw new ConfigError([{ path: 'reports', message: 'no channels to send the report to; add a report under reports with channels' }]);
  return sendFor(db, config, report, reportPeriod(config, report, now), names, { ...options, now });
}

/**
 * Sends again the reports whose send failed for now and whose retry is due, those waiting
 * for complete data, and those whose sender died mid-send (its claim ran out), each for the
 * period it covers; run by every scheduler's alert loop. One result per report and period.
 * Rows of a report no longer configured (or whose grain changed) are left alone.
 */
export async function retryDigests(db: Kysely<Database>, config: DigestSendConfig, options: Omit<SendDigestOptions, 'channels' | 'force' | 'report'> = {}): Promise<SendDigestResult[]> {
  if (config.reports.length === 0) return [];
  const now = options.now ?? new Date();
  const due = await db
    .selectFrom('digest_sends')
    .select(['report', 'grain', 'period_start', 'channel'])
    .where('report', 'in', config.reports.map((r) => r.name))
    .where((eb) => eb.or([eb.and([eb('status', 'in', ['retrying', 'waiting']), eb('not_before', '<=', now)]), eb.and([eb('status', '=', 'sending'), claimFree('claimed_until')])]))
    .orderBy('report')
    .orderBy('period_start')
    .orderBy('channel')
    .execute();
  const byPeriod = new Map<string, { report: Report; start: string; names: string[] }>();
  for (const d of due) {
    const report = config.reports.find((r) => r.name === d.report);
    if (!report || report.grain !== d.grain) continue;
    const key = `${d.report}\u0000${String(d.period_start)}`;
    const entry = byPeriod.get(key) ?? { report, start: String(d.period_start), names: [] };
    entry.names.push(d.channel);
    byPeriod.set(key, entry);
  }
  const results: SendDigestResult[] = [];
  for (const { report, start, names } of byPeriod.values()) {
    results.push(await sendFor(db, config, report, periodOf(start, report.grain, config.reporting.weekStart), names, { ...options, now }));
  }
  return results;
}

async function sendFor(db: Kysely<Database>, config: DigestSendConfig, report: Report, period: Period, names: readonly string[], options: SendDigestOptions & { now: Date }): Promise<SendDigestResult> {
  const { now } = options;
  const log = options.log?.child({ report: report.name });
  const { grain } = report;
  const owner = options.owner ?? `digest-${randomUUID()}`;
  const digest = await buildReport(db, config, report, now, period);
  const result: SendDigestResult = { report: report.name, digest, sent: [], skipped: [], retrying: [], failed: [] };
  // Only a digest whose every KPI is complete through the period's end goes out (a forced
  // send aside): it is looked at again until it is, and counts as sent only once it is.
  const incomplete = options.force ? [] : await incompleteKpis(db, config, report, period);
  if (incomplete.length > 0) {
    const at = new Date(now.getTime() + WAIT_RECHECK_MS);
    const reason = `waiting for complete data through ${period.end}: ${incomplete.join('; ')}`;
    for (const name of names) {
      await sql`
        insert into digest_sends (report, grain, period_start, channel, status, attempts, not_before, error)
        values (${report.name}, ${grain}, ${period.start}::date, ${name}, 'waiting', 0, ${at}, ${reason})
        on conflict (report, grain, period_start, channel) do update set status = 'waiting', not_before = excluded.not_before, error = excluded.error
          where digest_sends.status in ('waiting', 'retrying')`.execute(db);
    }
    log?.info({ period: period.start, retryAt: at.toISOString(), incomplete }, 'report waits for complete data');
    result.waiting = { at, reason };
    return result;
  }
  const row = (name: string) => db.updateTable('digest_sends').where('report', '=', report.name).where('grain', '=', grain).where('period_start', '=', period.start).where('channel', '=', name).where('claimed_by', '=', owner);
  const released = { claimed_by: null, claimed_until: null };

  for (const name of names) {
    const claimed = await sql<{ attempts: number }>`
      insert into digest_sends (report, grain, period_start, channel, status, claimed_by, claimed_until, attempts)
      values (${report.name}, ${grain}, ${period.start}::date, ${name}, 'sending', ${owner}, ${claimEnd(CLAIM_MS)}, 1)
      on conflict (report, grain, period_start, channel) do update
        set status = 'sending', claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until, attempts = digest_sends.attempts + 1, not_before = null
        where ${options.force === true}
          or (digest_sends.status in ('retrying', 'waiting') and digest_sends.not_before <= ${now})
          or (digest_sends.status = 'sending' and ${claimFree('digest_sends.claimed_until')})
      returning attempts`.execute(db);
    const attempts = claimed.rows[0]?.attempts;
    if (attempts === undefined) {
      result.skipped.push(name);
      continue;
    }
    try {
      const channel = options.using?.[name] ?? channelFromConfig(config, report, name, options);
      await channel.sendDigest(digest);
      await row(name).set({ ...released, status: 'sent', sent_at: now, error: null, failed_at: null }).execute();
      result.sent.push(name);
      log?.info({ channel: name, period: period.start }, 'digest sent');
    } catch (err) {
      const verdict = options.force ? ({ retry: false, error: redactSecrets(errorMessage(err)) } as const) : retryVerdict(err, attempts, { maxAttempts: config.alerting.maxAttempts, maxRetryAfterMs: config.alerting.maxRetryAfter });
      const error = redactAndCut(verdict.error, MAX_ERROR);
      if (verdict.retry) {
        const at = new Date(now.getTime() + verdict.delayMs);
        await row(name).set({ ...released, status: 'retrying', not_before: at, error }).execute();
        result.retrying.push({ channel: name, error: verdict.error, at });
        log?.warn({ channel: name, period: period.start, attempt: attempts, err: verdict.error, retryAt: at.toISOString() }, 'digest could not be sent; will retry');
      } else {
        await row(name).set({ ...released, status: 'failed', failed_at: now, error }).execute();
        result.failed.push({ channel: name, error: verdict.error });
        log?.error({ channel: name, period: period.start, attempt: attempts, err: verdict.error }, 'digest failed for good');
      }
    }
  }
  return result;
}

/** The report's KPIs not complete through the period's end, each with the day it is complete through. */
async function incompleteKpis(db: Kysely<Database>, config: DigestSendConfig, report: Report, period: Period): Promise<string[]> {
  const completeness = await loadCompleteness(db, config);
  return reportKpis(config, report)
    .names.map((kpi) => ({ kpi, through: completeness.through(kpi) }))
    .filter((k) => k.through === null || k.through < period.end)
    .map((k) => `${k.kpi} complete through ${k.through ?? 'no day yet'}`);
}

function channelFromConfig(config: DigestConfig, report: Report, name: string, options: SendDigestOptions): Channel {
  const cfg = config.channels[name];
  if (!cfg) throw new ConfigError([{ path: `${report.path}.channels`, message: `no channel named '${name}' is configured` }]);
  // Quick retries end within half the claim on the digest_sends row (see channelFor in outbox.ts).
  return createChannel(cfg, { name, budgetMs: CLAIM_MS / 2, ...(options.log ? { logger: options.log } : {}), ...(options.clock ? { clock: options.clock } : {}) });
}
