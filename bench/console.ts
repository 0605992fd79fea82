import { createPipelineHandlers } from '../src/app.ts';
import { consoleRoutes } from '../src/console/index.ts';
import { configChecks } from '../src/config-checks.ts';
import { parseConfig, type Config } from '../src/config/index.ts';
import { addDays } from '../src/core/dates.ts';
import { buildReport, recompute } from '../src/metrics/index.ts';
import { createPipelineMetrics, createServer } from '../src/server/index.ts';
import { alertsConfig, generateFacts } from './alerts.ts';
import { createBenchDatabase, nullLogger } from './lib/env.ts';
import { QueryProfiler } from './lib/profile.ts';
import { int, secs, timed, timer, type BenchContext, type BenchResult } from './lib/report.ts';

const RUNS = 5;

/** The alerts benchmark's rules and data, with a North Star, a goal and an OKR for the overview to show. */
function consoleConfig(asOf: string): Config {
  const base = alertsConfig();
  const yaml = `
reporting: { currency: USD }
northStar: spend
goals:
  - { name: spend-quarter, kpi: spend, criterion: reach, target: 50000000, start: ${addDays(asOf, -60)}, deadline: ${addDays(asOf, 30)} }
  - { name: cpa-low, kpi: cpa, grain: week, criterion: stay_below, target: 40, start: ${addDays(asOf, -60)}, deadline: ${addDays(asOf, 30)} }
okrs:
  - name: efficient
    objective: Spend well
    keyResults: [{ goal: spend-quarter }, { goal: cpa-low }]
`;
  return { ...parseConfig(yaml, 'bench-console.yaml', { env: {}, checks: configChecks }), alerts: base.alerts, channels: base.channels, alerting: base.alerting };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Facts per campaign: 70 days of 5 metrics. */
const FACTS_PER_CAMPAIGN = 350;
/** The size: the overview on a 10M-fact warehouse. */
const FULL_FACTS = 10_000_000;

/**
 * Console: the overview page's server time (every KPI of the report with its 12-period
 * sparkline, goals, alert states, connector freshness; HTML rendered) on the alerts
 * benchmark's kind of warehouse, recomputed and evaluated as the pipeline leaves it, against
 * `kpi report`'s buildReport for the same period alone (from the facts). The median of five
 * requests after one to warm up. `--console-facts N` sets the size (campaigns of 350 facts).
 */
export async function consoleBench(ctx: BenchContext): Promise<BenchResult> {
  const total = timer();
  const campaigns = ctx.quick ? 50 : Math.max(1, Math.round((ctx.consoleFacts ?? FULL_FACTS) / FACTS_PER_CAMPAIGN));
  const last = '2026-03-15';
  const asOf = addDays(last, 1);
  const db = await createBenchDatabase('console');
  const wh = await db.open(10);
  const profiler = new QueryProfiler();
  const profiled = wh.db.withPlugin(profiler);
  try {
    const config = consoleConfig(asOf);
    ctx.progress(`console: generating 70 days of facts for ${campaigns} campaigns`);
    const facts = await generateFacts(wh.db, campaigns, last);
    // The overview reads the KPI points recompute stores after every sync.
    ctx.progress('console: full recompute');
    const recomputed = await timed(() => recompute(wh.db, config));
    ctx.progress('console: one evaluation (goals stored, alert instances created)');
    await createPipelineHandlers({ config, db: wh.db, log: nullLogger() }).evaluate(new Date(`${asOf}T06:00:00Z`));

    const choice = { grain: 'week' as const, period: 'last' as const, asOf };
    ctx.progress('console: baseline (the report alone)');
    await buildReport(wh.db, config, choice);
    const reports: number[] = [];
    for (let i = 0; i < RUNS; i++) reports.push((await timed(() => buildReport(wh.db, config, choice))).ms);

    ctx.progress('console: the overview page');
    const server = await createServer({ db: wh.db, metrics: createPipelineMetrics({ db: wh.db }), console: consoleRoutes({ db: profiled, config: () => config, host: '127.0.0.1' }) });
    const url = `/console/?grain=week&period=last&as_of=${asOf}`;
    let bytes = 0;
    const once = async () => {
      const res = await server.inject({ url });
      if (res.statusCode !== 200) throw new Error(`the overview answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
      bytes = res.body.length;
    };
    await once();
    const pages: number[] = [];
    profiler.reset();
    for (let i = 0; i < RUNS; i++) pages.push((await timed(once)).ms);
    await server.close();
    const page = median(pages);
    const report = median(reports);
    return {
      name: 'console',
      size: `the overview of ${int(facts)} facts (${int(campaigns)} campaigns, 70 days), every KPI of the report with a 12-week sparkline, 2 goals, 1 OKR, 10 alert rules`,
      setupMs: total() - pages.reduce((a, b) => a + b, 0) - reports.reduce((a, b) => a + b, 0),
      totalMs: total(),
      figures: [
        {
          id: 'overview',
          title: 'The console overview page, server time (median of 5), against building the same report alone',
          value: `${secs(page)} (${int(bytes / 1024)} kB of HTML; runs ${pages.map((p) => secs(p)).join(', ')})`,
          baseline: `buildReport ${secs(report)}`,
          ratio: page / report,
          ...(ctx.quick ? {} : { target: '< 300 ms', pass: page < 300 }),
          notes: [
            `top statements over the ${RUNS} requests: ${profiler.top(4).join('; ')}`,
            `untimed setup: facts generated, full recompute ${secs(recomputed.ms)} (${int(recomputed.value.values)} KPI values), one evaluation (goals stored, alert instances created)`,
          ],
        },
      ],
    };
  } finally {
    await wh.close();
    await db.drop();
  }
}
