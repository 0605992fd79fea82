import { sql, type Kysely } from 'kysely';
import { createPipelineHandlers } from '../src/app.ts';
import { configChecks } from '../src/config-checks.ts';
import { parseConfig, type Config } from '../src/config/index.ts';
import { addDays } from '../src/core/dates.ts';
import { kpiSeries, kpiWindows, periodOf, shiftPeriod, type Grain } from '../src/metrics/index.ts';
import type { Database } from '../src/warehouse/index.ts';
import { createBenchDatabase, nullLogger } from './lib/env.ts';
import { cpuMeter, cpuNote, QueryProfiler } from './lib/profile.ts';
import { int, secs, timed, timer, type BenchContext, type BenchResult } from './lib/report.ts';

/** Ten rules, each with one instance per campaign; four of them anomaly rules. */
const RULES = `
  - name: ctr-low
    series: { kpi: ctr, grain: day, dimension: campaign }
    condition: { kind: threshold, op: below, threshold: 0.012 }
    channels: [ops]
  - name: cpa-high
    series: { kpi: cpa, grain: day, dimension: campaign }
    condition: { kind: threshold, op: above, threshold: 40 }
    for: 2
    channels: [ops]
  - name: roas-low
    series: { kpi: roas, grain: week, dimension: campaign }
    condition: { kind: threshold, op: below, threshold: 0.5 }
    channels: [ops]
  - name: clicks-drop
    series: { kpi: clicks, grain: day, dimension: campaign }
    condition: { kind: change, op: drop, threshold: 50 }
    channels: [ops]
  - name: spend-swing
    series: { kpi: spend, grain: week, dimension: campaign }
    condition: { kind: change, op: any, threshold: 60 }
    channels: [ops]
  - name: spend-mtd
    series: { kpi: spend, grain: month, dimension: campaign, period: current }
    condition: { kind: change, op: rise, threshold: 80, toDate: true }
    channels: [ops]
  - name: clicks-anomaly
    series: { kpi: clicks, grain: day, dimension: campaign }
    condition: { kind: anomaly, lookback: 8, sensitivity: 3 }
    channels: [ops]
  - name: ctr-anomaly
    series: { kpi: ctr, grain: day, dimension: campaign }
    condition: { kind: anomaly, lookback: 8, minVolume: { kpi: impressions, value: 100 } }
    channels: [ops]
  - name: spend-anomaly
    series: { kpi: spend, grain: day, dimension: campaign }
    condition: { kind: anomaly, lookback: 6, direction: up, minDeltaPct: 20 }
    channels: [ops]
  - name: conversions-anomaly
    series: { kpi: conversions, grain: week, dimension: campaign }
    condition: { kind: anomaly, lookback: 6 }
    channels: [ops]
`;

export function alertsConfig(): Config {
  const yaml = `
reporting: { currency: USD }
channels:
  ops: { type: slack, url: "http://127.0.0.1:9/hook" }
alerting: { groupWait: 0, evaluationInterval: 1m }
alerts:${RULES}`;
  return parseConfig(yaml, 'bench-alerts.yaml', { env: {}, checks: configChecks });
}

/** 70 days of 5 ad metrics per campaign; on the last day every tenth campaign's clicks collapse. */
export async function generateFacts(db: Kysely<Database>, campaigns: number, last: string): Promise<number> {
  const first = addDays(last, -69);
  await sql`
    insert into metric_facts (date, connector, account, campaign, channel, metric, value, currency, sync_run_id, updated_at)
    select d.day::date, 'google_ads', '123-456-7890', 'Campaign ' || case when c.i < 10000 then lpad(c.i::text, 4, '0') else c.i::text end, case when c.i % 3 = 0 then 'display' else 'paid_search' end,
           m.metric,
           round((m.scale * (1 + ((c.i * 7919 + d.n * 104729 + m.k * 1299709) % 200) / 1000.0)
                  * case when m.metric in ('clicks', 'conversions') and d.day::date = ${last}::date and c.i % 10 = 0 then 0.2 else 1 end)::numeric, 2),
           m.currency, null, now()
    from (select day, row_number() over (order by day) as n from generate_series(${first}::date, ${last}::date, interval '1 day') day) d
    cross join generate_series(0, ${campaigns - 1}) c(i)
    cross join (values ('impressions', 1, 5000.0, null), ('clicks', 2, 80.0, null), ('spend', 3, 90.0, 'USD'), ('conversions', 4, 4.0, null), ('conversion_value', 5, 300.0, 'USD'))
      m(metric, k, scale, currency)
  `.execute(db);
  await sql`vacuum analyze metric_facts`.execute(db);
  return Number((await sql<{ n: string }>`select count(*) as n from metric_facts`.execute(db)).rows[0]?.n ?? 0);
}

/**
 * The baseline: the KPI reads the rules make (same KPIs, grains, ranges and dimension)
 * through the public series functions, with no state machine and no writes.
 */
async function readsOnly(db: Kysely<Database>, config: Config, asOf: string): Promise<number> {
  let points = 0;
  for (const rule of config.alerts) {
    const s = rule.series!;
    const c = rule.condition;
    const grain = s.grain as Grain;
    const current = periodOf(asOf, grain, 'monday');
    const last = periodOf(shiftPeriod(current.start, grain, -1), grain, 'monday');
    if (c.kind === 'threshold') {
      points += (await kpiSeries(db, config, { kpi: s.kpi, grain, dimension: s.dimension, from: last.start, to: last.end })).length;
    } else if (c.kind === 'change') {
      const now = c.toDate ? { start: current.start, end: asOf } : last;
      const before = periodOf(shiftPeriod(now.start, grain, -c.against), grain, 'monday');
      points += (await kpiWindows(db, config, { kpi: s.kpi, windows: [before, now], dimension: s.dimension })).length;
    } else if (c.kind === 'anomaly') {
      const lag = grain === 'day' ? 7 : 1;
      const from = shiftPeriod(last.start, grain, -lag * c.lookback);
      points += (await kpiSeries(db, config, { kpi: s.kpi, grain, dimension: s.dimension, from, to: last.end })).length;
      if (c.minVolume) points += (await kpiSeries(db, config, { kpi: c.minVolume.kpi ?? s.kpi, grain, dimension: s.dimension, from: last.start, to: last.end })).length;
    }
  }
  return points;
}

/**
 * Alerts: the evaluate job (goals, then every alert rule) over 10 rules × 1,000 campaigns =
 * 10,000 alert instances, four rules of them anomaly detection. Measured on the first
 * evaluation (every instance created) and on the next tick (every instance advanced, the
 * usual case). Baseline: the same KPI reads without state machine or writes.
 */
export async function alertsBench(ctx: BenchContext): Promise<BenchResult> {
  const total = timer();
  const campaigns = ctx.quick ? 50 : 1000;
  const last = '2026-03-15';
  const asOf = new Date(`${addDays(last, 1)}T06:00:00Z`);
  const db = await createBenchDatabase('alerts');
  const wh = await db.open(10);
  const profiler = new QueryProfiler();
  const profiled = wh.db.withPlugin(profiler);
  try {
    const config = alertsConfig();
    ctx.progress(`alerts: generating 70 days of facts for ${campaigns} campaigns`);
    const facts = await generateFacts(wh.db, campaigns, last);
    const handlers = createPipelineHandlers({ config, db: profiled, log: nullLogger() });

    ctx.progress('alerts: baseline reads');
    await readsOnly(wh.db, config, addDays(last, 1)); // warm-up: plans, caches, JIT
    const reads = await timed(() => readsOnly(wh.db, config, addDays(last, 1)));

    ctx.progress('alerts: first evaluation (creates every instance)');
    profiler.reset();
    const first = await timed(() => handlers.evaluate(asOf));
    const firstTop = profiler.top(4);
    const instances = Number((await sql<{ n: string }>`select count(*) as n from alert_instances`.execute(wh.db)).rows[0]?.n ?? 0);

    ctx.progress('alerts: next tick');
    profiler.reset();
    const cpu = cpuMeter();
    const next = await timed(() => handlers.evaluate(new Date(asOf.getTime() + 60_000)));
    const nextCpu = cpu();
    const readMs = profiler.total((l) => l === 'select metric_facts');
    const stateMs = profiler.total((l) => /alert_/.test(l));
    const outbox = Number((await sql<{ n: string }>`select count(*) as n from alert_outbox`.execute(wh.db)).rows[0]?.n ?? 0);
    const firing = Number((await sql<{ n: string }>`select count(*) as n from alert_instances where state in ('firing', 'pending')`.execute(wh.db)).rows[0]?.n ?? 0);

    const worst = Math.max(first.ms, next.ms);
    return {
      name: 'alerts',
      size: `${int(instances)} alert instances (10 rules × ${int(campaigns)} campaigns, 4 anomaly rules) over ${int(facts)} facts`,
      setupMs: total() - reads.ms - first.ms - next.ms,
      totalMs: total(),
      figures: [
        {
          id: 'evaluate',
          title: 'The evaluate job (goals and every alert rule) for 10,000 alert instances, against the same KPI reads alone',
          value: `next tick ${secs(next.ms)}, first evaluation ${secs(first.ms)} (${int(instances)} instances, ${int(firing)} pending or firing, ${int(outbox)} outbox rows)`,
          baseline: `the rules' KPI reads alone ${secs(reads.ms)}`,
          ratio: next.ms / reads.ms,
          ...(ctx.quick ? {} : { target: '< 1 s (both evaluations)', pass: worst < 1000 }),
          notes: [
            cpuNote(next.ms, nextCpu),
            `next tick: reading facts ${secs(readMs)}, alert state statements ${secs(stateMs)}; top: ${profiler.top(3).join('; ')}`,
            `first evaluation top: ${firstTop.join('; ')}`,
          ],
        },
      ],
    };
  } finally {
    await wh.close();
    await db.drop();
  }
}
