import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { runSync } from '../src/connectors/index.ts';
import { addDays } from '../src/core/dates.ts';
import { recompute } from '../src/metrics/index.ts';
import { migrateToLatest, openWarehouse, type Warehouse } from '../src/warehouse/index.ts';
import { createBenchDatabase, nullLogger } from './lib/env.ts';
import { adsConfig, adsConnector, readAll, startAdsSource, startReplayProxy } from './lib/google-ads.ts';
import { int, rate, ratioText, secs, timed, timer, type BenchContext, type BenchResult } from './lib/report.ts';
import { recomputeConfig } from './recompute.ts';

const GRAINS = ['day', 'week', 'month'] as const;
/** The Google Ads customers bill in USD and EUR. */
const METRICS_CONFIG = { ...recomputeConfig, reporting: { ...recomputeConfig.reporting, fxRates: { EUR: 1.1 } } };

/**
 * The embedded default against the server: the ingest benchmark's Google Ads sync (~1M metric
 * rows, the fake's answers recorded once and replayed to both) and a full recompute of what it
 * stored, on PGlite (a folder on disk, as `kpi start` without DATABASE_URL uses) and on the
 * Postgres server, one after the other in the same run.
 */
export async function pgliteBench(ctx: BenchContext): Promise<BenchResult> {
  const total = timer();
  const size = ctx.quick ? { campaigns: 100, days: 20 } : { campaigns: 1000, days: 100 };
  const server = await createBenchDatabase('pglite');
  const folder = mkdtempSync(path.join(tmpdir(), 'kpi-bench-pglite-'));
  const source = await startAdsSource(size);
  const proxy = await startReplayProxy(source.fakeUrl);
  const log = nullLogger();
  let pg: Warehouse | undefined;
  let lite: Warehouse | undefined;
  try {
    const connector = adsConnector();
    const config = adsConfig(proxy.url, source.tokenUrl);
    const window = source.window;
    const setup = timer();
    ctx.progress(`pglite: recording the fake's answers for ${size.days} days × ${size.campaigns} campaigns`);
    proxy.mode = 'record';
    await readAll(connector, config, window, log);
    proxy.mode = 'replay';
    pg = await server.open(10);
    lite = await openWarehouse({ dataDir: folder, holder: 'bench pglite' });
    await migrateToLatest(lite.db);
    // The JIT and the replayed answers warmed by an untimed two-week sync, then emptied.
    const warm = await runSync({ db: pg.db, connector, config, log, window: { from: window.from, to: addDays(window.from, 13) }, trigger: 'bench' });
    if (!warm.ok) throw new Error(`warm-up sync failed: ${String(warm.run.error)}`);
    await sql`truncate metric_facts, checkpoints, sync_runs`.execute(pg.db);
    const setupMs = setup();

    const measure = async (wh: Warehouse) => {
      ctx.progress(`pglite: sync into ${wh.kind}`);
      const first = await timed(() => runSync({ db: wh.db, connector, config, log, window, trigger: 'bench' }));
      if (!first.value.ok) throw new Error(`${wh.kind} sync failed: ${String(first.value.run.error)}`);
      ctx.progress(`pglite: the same window again into ${wh.kind}`);
      const again = await timed(() => runSync({ db: wh.db, connector, config, log, window, trigger: 'bench' }));
      if (!again.value.ok) throw new Error(`${wh.kind} re-sync failed: ${String(again.value.run.error)}`);
      const facts = Number((await sql<{ n: string }>`select count(*) as n from metric_facts`.execute(wh.db)).rows[0]?.n ?? 0);
      ctx.progress(`pglite: full recompute of ${int(facts)} facts on ${wh.kind}`);
      const full = await timed(() => recompute(wh.db, METRICS_CONFIG, undefined, { grains: GRAINS }));
      return { first: first.ms, again: again.ms, facts, recompute: full.ms };
    };
    const onServer = await measure(pg);
    const embedded = await measure(lite);
    const target = ctx.quick ? {} : { target: '≤ 3× Postgres' };
    const figure = (id: string, title: string, a: number, b: number, unit: (ms: number) => string) => {
      const ratio = a / b;
      return { id, title, value: `${unit(a)} on PGlite`, baseline: `${unit(b)} on Postgres`, ratio, ...target, ...(ctx.quick ? {} : { pass: ratio <= 3 }), notes: [`${ratioText(ratio)} the server`] };
    };
    return {
      name: 'pglite',
      size: `${int(embedded.facts)} facts (a Google Ads sync of ${size.days} days × ${int(size.campaigns + 8)} campaigns × 2 customers' networks), PGlite in a folder on disk against the Postgres server`,
      figures: [
        figure('ingest', 'the ingest sync into an empty warehouse', embedded.first, onServer.first, (ms) => `${secs(ms)} (${rate(embedded.facts, ms, 'rows')})`),
        figure('re-upsert', 'the same window again, nothing changed', embedded.again, onServer.again, (ms) => secs(ms)),
        figure('recompute', 'a full recompute of the stored facts at day, week and month grain', embedded.recompute, onServer.recompute, (ms) => `${secs(ms)} (${rate(embedded.facts, ms, 'facts')})`),
      ],
      totalMs: total(),
      setupMs,
    };
  } finally {
    await lite?.close();
    await pg?.close();
    await server.drop();
    await proxy.close();
    await source.close();
    rmSync(folder, { recursive: true, force: true });
  }
}
