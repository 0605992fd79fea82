import { sql } from 'kysely';
import type { AlertCondition } from '../config/index.ts';
import { channelHealth } from './channel-health.ts';
import { deliveryFailures, describeFailures } from './failures.ts';
import { formatTime, formatValue } from '../notify/index.ts';
import { redactAndCut } from '../core/secrets.ts';
import type { Observation, RuleContext } from './types.ts';
import { reportLink } from './report-link.ts';
import { addDays } from '../metrics/periods.ts';

type Condition<K extends AlertCondition['kind']> = Extract<AlertCondition, { kind: K }>;

/** A moment as people read it in messages: in the alerting (or reporting) time zone. */
function when(ctx: RuleContext, at: Date): string {
  return formatTime(at.toISOString(), ctx.config.alerting.timezone ?? ctx.config.reporting.timezone);
}

const STATUS_TEXT: Record<string, string> = { on_track: 'on track', at_risk: 'at risk', off_track: 'off track', achieved: 'achieved', missed: 'missed', waiting: 'waiting for complete data' };
const pct = (v: number | null) => formatValue(v, 'percent');

export async function goalRule(ctx: RuleContext): Promise<Observation[]> {
  const cond = ctx.rule.condition as Condition<'goal'>;
  const wanted = cond.goals ? new Set(cond.goals) : undefined;
  const { goals } = await ctx.goals();
  const descriptions = new Map(ctx.config.goals.map((g) => [g.name, g.description] as const));
  return goals.filter((g) => !wanted || wanted.has(g.goal)).map((g) => {
    const breach = (cond.statuses as readonly string[]).includes(g.status);
    // Judged as of the last complete day: say which, when it is not the evaluation's own.
    const asOf = g.dataThrough !== null && g.dataThrough < g.asOf ? `${g.dataThrough} (the last day all its data is in)` : g.asOf;
    const summary =
      g.status === 'waiting'
        ? `Goal ${g.goal} (${g.label}) is waiting for complete data: no day since its start on ${g.start} is complete yet`
        : `Goal ${g.goal} (${g.label}) is ${STATUS_TEXT[g.status] ?? g.status}: ${pct(g.progress)} of the way to the target, ${pct(g.expected)} expected by ${asOf}`;
    return {
      instance: `goal=${g.goal}`,
      labels: { goal: g.goal },
      seen: g.status === 'waiting' ? { kind: 'waiting', reason: summary } : { kind: 'value', breach, clear: !breach, reason: summary },
      alert: {
        series: `Goal ${g.goal}, ${g.label}`,
        value: g.progress,
        threshold: g.expected,
        unit: 'percent',
        ...(descriptions.get(g.goal) ? { description: descriptions.get(g.goal)! } : {}),
        report: reportLink(ctx.config, { grain: g.grain, end: addDays(g.asOf, -1), toDate: false }),
      },
      summary,
    };
  });
}

function watchedConnectors(ctx: RuleContext, names: readonly string[] | undefined) {
  return ctx.config.connectors.filter((c) => (names ? names.includes(c.name) : c.enabled));
}

const HOUR = 3_600_000;
const hours = (ms: number) => Math.round((ms / HOUR) * 10) / 10;

export async function freshnessRule(ctx: RuleContext): Promise<Observation[]> {
  const cond = ctx.rule.condition as Condition<'freshness'>;
  const connectors = watchedConnectors(ctx, cond.connectors);
  if (connectors.length === 0) return [];
  const rows = await ctx.db
    .selectFrom('sync_runs')
    .select(['connector'])
    .select((eb) => [
      eb.fn.max(sql<Date>`case when status = 'succeeded' then finished_at end`).as('last_success'),
      eb.fn.min('started_at').as('first_started'),
    ])
    .where('connector', 'in', connectors.map((c) => c.name))
    .where('started_at', '<=', ctx.now)
    .groupBy('connector')
    .execute();
  const byName = new Map(rows.map((r) => [r.connector, r]));
  return connectors.map((c) => {
    const slaHours = cond.maxAgeHours ?? c.freshnessHours;
    const row = byName.get(c.name);
    const lastSuccess = row?.last_success ? new Date(row.last_success) : null;
    // Never synced successfully: stale from its first attempt; never tried: nothing to say yet.
    const since = lastSuccess ?? (row?.first_started ? new Date(row.first_started) : null);
    const base = { instance: `connector=${c.name}`, labels: { connector: c.name } };
    if (!since) {
      const summary = `${c.name} has not synced yet`;
      return { ...base, seen: { kind: 'no_data', reason: summary }, alert: { series: `${c.name} freshness`, value: null, threshold: slaHours, unit: 'count' }, summary } satisfies Observation;
    }
    const ageHours = hours(ctx.now.getTime() - since.getTime());
    const breach = ageHours > slaHours;
    const what = lastSuccess ? `last successful sync ${ageHours} h ago (${when(ctx, lastSuccess)})` : `no successful sync in the ${ageHours} h since its first run`;
    const summary = `${c.name}: ${what}; allowed ${slaHours} h`;
    return { ...base, seen: { kind: 'value', breach, clear: !breach, reason: summary }, alert: { series: `${c.name} hours since last successful sync`, value: ageHours, threshold: slaHours, unit: 'count' }, summary } satisfies Observation;
  });
}

const FAILED = new Set(['failed', 'abandoned', 'held']);

export async function syncFailureRule(ctx: RuleContext): Promise<Observation[]> {
  const cond = ctx.rule.condition as Condition<'sync_failure'>;
  const connectors = watchedConnectors(ctx, cond.connectors);
  const out: Observation[] = [];
  for (const c of connectors) {
    // Enough finished runs to see the streak, newest first; a running one has no verdict yet.
    const runs = await ctx.db
      .selectFrom('sync_runs')
      .select(['status', 'error', 'started_at'])
      .where('connector', '=', c.name)
      // A skipped job (its connector was disabled then) read nothing: no verdict on the source.
      .where('status', 'not in', ['running', 'skipped'])
      .where('started_at', '<=', ctx.now)
      .orderBy('started_at', 'desc')
      .orderBy('id', 'desc')
      .limit(cond.failures)
      .execute();
    let streak = 0;
    while (streak < runs.length && FAILED.has(runs[streak]!.status)) streak++;
    // A held answer (it would have deleted stored data) needs a person now, not after a streak.
    const held = runs[0]?.status === 'held';
    const breach = streak >= cond.failures || held;
    const lastError = runs[0] && FAILED.has(runs[0].status) ? runs[0].error : null;
    const summary = held
      ? `${c.name}: the last sync was held, nothing deleted${lastError ? `; ${redactAndCut(lastError.replace(/\s+/g, ' '), 600)}` : ''}`
      : breach
        ? `${c.name}: the last ${streak} syncs failed${lastError ? `; last error: ${redactAndCut(lastError.replace(/\s+/g, ' '), 300)}` : ''}`
        : `${c.name}: ${streak} failed sync${streak === 1 ? '' : 's'} in a row (alert at ${cond.failures})`;
    out.push({
      instance: `connector=${c.name}`,
      labels: { connector: c.name },
      seen: { kind: 'value', breach, clear: !breach, reason: summary },
      alert: { series: `${c.name} failed syncs in a row`, value: streak, threshold: cond.failures, unit: 'count' },
      summary,
    });
  }
  return out;
}

export async function quarantineRateRule(ctx: RuleContext): Promise<Observation[]> {
  const cond = ctx.rule.condition as Condition<'quarantine_rate'>;
  const connectors = watchedConnectors(ctx, cond.connectors);
  if (connectors.length === 0) return [];
  const from = new Date(ctx.now.getTime() - cond.window);
  const rows = await ctx.db
    .selectFrom('sync_runs')
    .select(['connector'])
    .select((eb) => [eb.fn.sum<number>('rows_read').as('read'), eb.fn.sum<number>('rows_rejected').as('rejected')])
    .where('connector', 'in', connectors.map((c) => c.name))
    .where('started_at', '>', from)
    .where('started_at', '<=', ctx.now)
    .groupBy('connector')
    .execute();
  const byName = new Map(rows.map((r) => [r.connector, { read: Number(r.read ?? 0), rejected: Number(r.rejected ?? 0) }]));
  const windowText = `${hours(cond.window)} h`;
  return connectors.map((c) => {
    const base = { instance: `connector=${c.name}`, labels: { connector: c.name } };
    const counts = byName.get(c.name);
    // Rejected records are read records too; sources that count them apart still give a fair rate.
    const read = counts ? Math.max(counts.read, counts.rejected) : 0;
    if (!counts || read === 0) {
      const summary = `${c.name}: no records read in the last ${windowText}`;
      return { ...base, seen: { kind: 'no_data', reason: summary }, alert: { series: `${c.name} quarantine rate`, value: null, threshold: cond.limit, unit: 'percent' }, summary } satisfies Observation;
    }
    const rate = counts.rejected / read;
    const enough = read >= cond.minRows;
    const breach = enough && rate > cond.limit;
    const clear = !breach && (cond.recovery === undefined || !enough || rate <= cond.recovery);
    const summary = `${c.name}: ${counts.rejected} of ${read} records quarantined in the last ${windowText} (${pct(rate)}; limit ${pct(cond.limit)})${enough ? '' : `; under ${cond.minRows} records, too few to judge`}`;
    return { ...base, seen: { kind: 'value', breach, clear, reason: summary }, alert: { series: `${c.name} quarantine rate`, value: rate, threshold: cond.limit, unit: 'percent' }, summary } satisfies Observation;
  });
}

/**
 * Channels that keep failing or lost notifications: the way to hear that alerts are not
 * getting through. A channel breaches while its last `attempts` delivery attempts failed in a
 * row or it has been failing for `after` (channel_health), or while it lost a notification or
 * digest for good within the window and has delivered nothing since. It clears once a delivery
 * to it goes through. Its notices go to the rule's other channels, never to the channel they
 * are about (src/alerts/store.ts).
 */
export async function deliveryFailureRule(ctx: RuleContext): Promise<Observation[]> {
  const cond = ctx.rule.condition as Condition<'delivery_failure'>;
  const watched = cond.watch ?? Object.keys(ctx.config.channels);
  if (watched.length === 0) return [];
  const defaults = ctx.config.alerting.channelFailing || { attempts: 3, after: 15 * 60_000 };
  const attempts = cond.attempts ?? defaults.attempts;
  const after = cond.after ?? defaults.after;
  const failures = new Map((await deliveryFailures(ctx.db, new Date(ctx.now.getTime() - cond.window), ctx.now)).map((f) => [f.channel, f]));
  const health = await channelHealth(ctx.db);
  const windowText = `${hours(cond.window)} h`;
  const errorText = (e: string | null | undefined) => redactAndCut((e ?? '').replace(/\s+/g, ' '), 300);
  return watched.map((channel) => {
    const h = health.get(channel);
    const lost = failures.get(channel);
    // A loss counts until the channel delivers again.
    const lostSinceSuccess = lost !== undefined && (!h?.lastSuccessAt || h.lastSuccessAt < lost.lastAt);
    const streak = h?.failures ?? 0;
    const failingFor = h?.failingSince ? ctx.now.getTime() - h.failingSince.getTime() : 0;
    const failing = streak > 0 && (streak >= attempts || failingFor >= after);
    const breach = failing || lostSinceSuccess;
    const failingText = `the last ${streak} deliver${streak === 1 ? 'y' : 'ies'} failed, failing since ${h?.failingSince ? when(ctx, h.failingSince) : ''}`;
    const summary = lostSinceSuccess
      ? `${channel}: ${describeFailures(lost)} could not be delivered in the last ${windowText}${failing ? `; ${failingText}` : ''}; last error: ${errorText(lost.lastError)}`
      : failing
        ? `${channel}: ${failingText}; last error: ${errorText(h?.lastError)}`
        : h?.lastSuccessAt && h.lastFailureAt && h.lastSuccessAt > h.lastFailureAt && ctx.now.getTime() - h.lastFailureAt.getTime() <= cond.window
          ? `${channel}: delivers again; last delivery ${when(ctx, h.lastSuccessAt)}`
          : `${channel}: nothing failed to be delivered in the last ${windowText}`;
    return {
      instance: `notify_channel=${channel}`,
      labels: { notify_channel: channel },
      seen: { kind: 'value', breach, clear: !breach, reason: summary },
      alert: { series: `${channel} failed deliveries`, value: Math.max(streak, lost ? lost.notifications + lost.digests.length : 0), threshold: attempts, unit: 'count' },
      summary,
    } satisfies Observation;
  });
}
