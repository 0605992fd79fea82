import type { Kysely } from 'kysely';
import { DIGEST_REPORT } from '../config/index.ts';
import type { Database } from '../warehouse/index.ts';

/** What failed for good on one channel: notifications and digest sends. */
interface ChannelFailures {
  channel: string;
  /** Outbox rows marked failed. */
  notifications: number;
  /** Each report (by name) and period start that could not be sent to the channel. */
  digests: Array<{ report: string; periodStart: string }>;
  lastAt: Date;
  lastError: string;
}

/** Failures marked in (since, until], per channel, the most recent first. */
export async function deliveryFailures(db: Kysely<Database>, since: Date, until: Date): Promise<ChannelFailures[]> {
  const rows = await db
    .selectFrom('alert_outbox')
    .select(['channel', 'failed_at', 'last_error'])
    .where('status', '=', 'failed')
    .where('failed_at', '>', since)
    .where('failed_at', '<=', until)
    .execute();
  const digests = await db
    .selectFrom('digest_sends')
    .select(['channel', 'failed_at', 'error', 'report', 'period_start'])
    .where('status', '=', 'failed')
    .where('failed_at', '>', since)
    .where('failed_at', '<=', until)
    .execute();
  const byChannel = new Map<string, ChannelFailures>();
  const note = (channel: string, at: Date, error: string | null): ChannelFailures => {
    let f = byChannel.get(channel);
    if (!f) byChannel.set(channel, (f = { channel, notifications: 0, digests: [], lastAt: at, lastError: error ?? '' }));
    if (at > f.lastAt || (at.getTime() === f.lastAt.getTime() && !f.lastError)) {
      f.lastAt = at;
      f.lastError = error ?? '';
    }
    return f;
  };
  for (const r of rows) note(r.channel, new Date(r.failed_at!), r.last_error).notifications++;
  for (const d of digests) note(d.channel, new Date(d.failed_at!), d.error).digests.push({ report: d.report, periodStart: String(d.period_start) });
  return [...byChannel.values()].sort((a, b) => b.lastAt.getTime() - a.lastAt.getTime() || a.channel.localeCompare(b.channel));
}

/** The digest, or "the report 'exec'": how a report is named in messages. */
export function reportLabel(report: string): string {
  return report === DIGEST_REPORT ? 'the digest' : `the report '${report}'`;
}

/** "2 notifications and the digest of 2026-03-23": what failed, in a few words. */
export function describeFailures(f: ChannelFailures): string {
  const parts: string[] = [];
  if (f.notifications > 0) parts.push(`${f.notifications} notification${f.notifications === 1 ? '' : 's'}`);
  const byReport = new Map<string, string[]>();
  for (const d of f.digests) byReport.set(d.report, [...(byReport.get(d.report) ?? []), d.periodStart]);
  for (const [report, starts] of [...byReport].sort(([a], [b]) => a.localeCompare(b))) parts.push(`${reportLabel(report)} of ${starts.sort().join(', ')}`);
  return parts.join(' and ');
}

/** A digest send that failed for now, waiting for its retry. */
interface DigestRetry {
  report: string;
  channel: string;
  periodStart: string;
  attempts: number;
  at: Date;
  error: string;
}

export async function digestRetries(db: Kysely<Database>): Promise<DigestRetry[]> {
  const rows = await db.selectFrom('digest_sends').select(['report', 'channel', 'period_start', 'attempts', 'not_before', 'error']).where('status', '=', 'retrying').orderBy('not_before').execute();
  return rows.map((r) => ({ report: r.report, channel: r.channel, periodStart: String(r.period_start), attempts: r.attempts, at: new Date(r.not_before!), error: r.error ?? '' }));
}

/** A report not sent for its period yet because its data is not complete: per report and period, with its channels. */
interface DigestWaiting {
  report: string;
  grain: string;
  periodStart: string;
  channels: string[];
  /** What it waits for: each KPI not complete through the period's end, and the day it is complete through. */
  reason: string;
  /** When it is looked at again. */
  at: Date;
}

const WAITING_PREFIX = /^waiting for complete data through \d{4}-\d\d-\d\d: /;

export async function digestsWaiting(db: Kysely<Database>, reports: readonly string[]): Promise<DigestWaiting[]> {
  if (reports.length === 0) return [];
  const rows = await db
    .selectFrom('digest_sends')
    .select(['report', 'grain', 'channel', 'period_start', 'not_before', 'error'])
    .where('status', '=', 'waiting')
    .where('report', 'in', reports)
    .orderBy('report')
    .orderBy('period_start')
    .orderBy('channel')
    .execute();
  const byPeriod = new Map<string, DigestWaiting>();
  for (const r of rows) {
    const key = `${r.report}\u0000${r.grain}\u0000${String(r.period_start)}`;
    const entry = byPeriod.get(key);
    if (entry) entry.channels.push(r.channel);
    else byPeriod.set(key, { report: r.report, grain: r.grain, periodStart: String(r.period_start), channels: [r.channel], reason: (r.error ?? '').replace(WAITING_PREFIX, ''), at: new Date(r.not_before!) });
  }
  return [...byPeriod.values()];
}
