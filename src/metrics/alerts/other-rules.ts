import { sql } from 'kysely';
import type { AlertCondition } from '../../config/index.ts';
import { formatValue } from '../../notify/index.ts';
import { assessGoals } from '../goals.ts';
import type { Observation, RuleContext } from './types.ts';

type Condition<K extends AlertCondition['kind']> = Extract<AlertCondition, { kind: K }>;

const STATUS_TEXT: Record<string, string> = { on_track: 'on track', at_risk: 'at risk', off_track: 'off track', achieved: 'achieved', missed: 'missed' };
const pct = (v: number | null) => formatValue(v, 'percent');

export async function goalRule(ctx: RuleContext): Promise<Observation[]> {
  const cond = ctx.rule.condition as Condition<'goal'>;
  const wanted = cond.goals ? new Set(cond.goals) : undefined;
  const config = { ...ctx.config, goals: ctx.config.goals.filter((g) => !wanted || wanted.has(g.name)), okrs: [] };
  const { goals } = await assessGoals(ctx.db, config, ctx.asOf);
  return goals.map((g) => {
    const breach = (cond.statuses as readonly string[]).includes(g.status);
    const summary = `Goal ${g.goal} (${g.label}) is ${STATUS_TEXT[g.status] ?? g.status}: ${pct(g.progress)} of the way to the target, ${pct(g.expected)} expected by ${g.asOf}`;
    return {
      instance: `goal=${g.goal}`,
      labels: { goal: g.goal },
      seen: { kind: 'value', breach, clear: !breach, reason: summary },
      alert: { series: `goal ${g.goal}`, value: g.progress, threshold: g.expected, unit: 'percent' },
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
    const what = lastSuccess ? `last successful sync ${ageHours} h ago (${lastSuccess.toISOString()})` : `no successful sync in the ${ageHours} h since its first run`;
    const summary = `${c.name}: ${what}; allowed ${slaHours} h`;
    return { ...base, seen: { kind: 'value', breach, clear: !breach, reason: summary }, alert: { series: `${c.name} hours since last successful sync`, value: ageHours, threshold: slaHours, unit: 'count' }, summary } satisfies Observation;
  });
}

const FAILED = new Set(['failed', 'abandoned']);

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
      .where('status', '!=', 'running')
      .where('started_at', '<=', ctx.now)
      .orderBy('started_at', 'desc')
      .orderBy('id', 'desc')
      .limit(cond.failures)
      .execute();
    let streak = 0;
    while (streak < runs.length && FAILED.has(runs[streak]!.status)) streak++;
    const breach = streak >= cond.failures;
    const lastError = runs[0] && FAILED.has(runs[0].status) ? runs[0].error : null;
    const summary = breach
      ? `${c.name}: the last ${streak} syncs failed${lastError ? `; last error: ${lastError.replace(/\s+/g, ' ').slice(0, 300)}` : ''}`
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
