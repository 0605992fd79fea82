import { readFileSync } from 'node:fs';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { configChecks } from '../../src/config-checks.ts';
import { parseConfig } from '../../src/config/index.ts';
import { addDays, todayIn } from '../../src/core/dates.ts';
import { connectorFor, runSync } from '../../src/connectors/index.ts';
import { recompute } from '../../src/metrics/index.ts';
import { createDataset, startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { migrateToLatest, openWarehouse, SLICE_LOCK, type Database } from '../../src/warehouse/index.ts';
import { testDatabaseUrlWithSchema, testPostgres, type TestPostgres } from '../helpers/warehouse.ts';
import { capturedLogger, report, secretScanCase, secretValue, seededRandom, sleep, spawnWorker, startDelayProxy, stopAll, waitFor, workDir, type Proc } from './helpers.ts';

/** Kills, each aimed at one phase of a sync (see `phases` below): a few in the backfills, the rest spread evenly over the others. */
const KILLS = 15;
const BACKFILL_KILLS = 3;
const SEED = Number(process.env.CHAOS_SEED ?? Date.now() % 100_000);
const DAYS = 60;
/** Each answer from a fake comes this late, so one sync takes seconds and can be killed anywhere in it. */
const DELAY_MS = 100;

// Short locks: a dead worker's job is handed out again after about two seconds. The claim
// outlives that, so only the recovered job (not the next tick) takes the connector over.
const TUNING = { lockDurationMs: 1_500, stalledIntervalMs: 1_000, gateTtlMs: 6_000, backoffMs: 200, busyDelayMs: 300 };

function configYaml(prefix: string, start: string, customers: string[]): string {
  const common = `    startDate: ${start}\n    schedule: "*/2 * * * * *"\n    lookbackDays: 20`;
  return `
reporting: { currency: EUR, timezone: UTC, fxRates: { USD: 0.92 } }
redis: { prefix: ${prefix} }
kpis:
  - { name: paid_ctr, formula: clicks / impressions, unit: percent }
  - { name: order_value, formula: revenue / orders, unit: currency }
connectors:
  - name: gads
    type: google_ads
    customerIds: ${JSON.stringify(customers)}
    loginCustomerId: "\${var:ADS_LOGIN}"
    developerToken: "\${env:ADS_DEVELOPER_TOKEN}"
    baseUrl: \${var:ADS_URL}
    auth: { type: oauth, clientId: "\${var:G_CLIENT_ID}", clientSecret: "\${env:G_CLIENT_SECRET}", refreshToken: "\${env:G_REFRESH_TOKEN}", tokenUrl: "\${var:G_TOKEN_URL}" }
${common}
  - name: meta
    type: meta_ads
    adAccountIds: ["\${var:META_ACCOUNT}"]
    accessToken: "\${env:META_TOKEN}"
    baseUrl: \${var:META_URL}
${common}
  - name: sendgrid
    type: sendgrid
    apiKey: "\${env:SENDGRID_KEY}"
    baseUrl: \${var:SENDGRID_URL}
    categories: [newsletter, transactional]
${common}
  - name: shop
    type: http_json
    url: \${var:SHOP_URL}/admin/api/2025-01/orders.json
    params: { status: any, created_at_min: "{from}T00:00:00", created_at_max: "{to}T23:59:59", limit: "40" }
    auth: { type: header, name: X-Shopify-Access-Token, value: "\${env:SHOP_TOKEN}" }
    pagination: { type: link_header }
    recordsPath: orders
    timezone: Europe/Berlin
    fields:
      id: id
      date: created_at
      currency: currency
      metrics:
        orders: { count: true }
        revenue: { sum: total_price }
${common}
`;
}

async function allFacts(db: Kysely<Database>): Promise<string[]> {
  const rows = await db.selectFrom('metric_facts').select(['connector', 'account', 'date', 'campaign', 'channel', 'metric', 'value', 'currency']).execute();
  return rows.map((f) => `${f.connector}|${f.account}|${f.date}|${f.campaign}|${f.channel}|${f.metric}|${f.value}|${f.currency}`).sort();
}

async function allKpiValues(db: Kysely<Database>): Promise<string[]> {
  const rows = await db.selectFrom('kpi_values').select(['kpi', 'grain', 'period_start', 'period_end', 'dimension', 'dimension_value', 'value']).execute();
  return rows.map((v) => `${v.kpi}|${v.grain}|${v.period_start}|${v.period_end}|${v.dimension}|${v.dimension_value}|${Number(v.value).toPrecision(12)}`).sort();
}

describe(`crash: ${KILLS} SIGKILLs of workers across the phases of multi-day syncs (seed ${SEED})`, () => {
  const wd = workDir('crash');
  const prefix = `${inject('redisPrefix')}-crash`;
  const today = todayIn('UTC');
  const start = addDays(today, -(DAYS - 1));
  let sb: Sandbox;
  const proxies: Array<{ url: string; close(): Promise<void> }> = [];
  let clean: { url: string; drop(): Promise<void> };
  let wh: TestPostgres;
  const secrets: Record<string, string> = {};
  let env: Record<string, string>;
  const replicas: Proc[] = [];
  const { log, lines } = capturedLogger('info');

  beforeAll(async () => {
    sb = await startSandbox(createDataset({ seed: 29, endDate: today, days: DAYS + 10 }));
    // Keys of our own, so a leak of them cannot be mistaken for anything else.
    secrets.SENDGRID_KEY = `SG.${secretValue('sendgrid')}`;
    secrets.SHOP_TOKEN = `shpat_${secretValue('shop')}`;
    sb.fakes.sendgrid.credentials.add(secrets.SENDGRID_KEY);
    sb.fakes.shop.credentials.add(secrets.SHOP_TOKEN);
    secrets.ADS_DEVELOPER_TOKEN = sb.credentials.googleAds.developerToken;
    secrets.G_CLIENT_SECRET = sb.credentials.google.oauthClient.clientSecret;
    secrets.G_REFRESH_TOKEN = sb.credentials.google.oauthClient.refreshToken;
    secrets.META_TOKEN = sb.credentials.meta.accessToken;
    const slow = async (url: string) => {
      const p = await startDelayProxy(url, DELAY_MS);
      proxies.push(p);
      return p.url;
    };
    env = {
      ...secrets,
      ADS_LOGIN: sb.credentials.googleAds.loginCustomerId,
      ADS_URL: await slow(sb.urls.googleAds),
      G_CLIENT_ID: sb.credentials.google.oauthClient.clientId,
      G_TOKEN_URL: sb.credentials.google.tokenUrl,
      META_ACCOUNT: sb.credentials.meta.adAccountId,
      META_URL: await slow(sb.urls.meta),
      SENDGRID_URL: await slow(sb.urls.sendgrid),
      SHOP_URL: await slow(sb.urls.shop),
    };
    clean = await testDatabaseUrlWithSchema();
    wh = await testPostgres();
  }, 60_000);

  afterAll(async () => {
    await stopAll(replicas, 'SIGKILL');
    await wh?.close();
    await clean?.drop();
    for (const p of proxies) await p.close();
    await sb?.close();
    wd.cleanup();
  });

  it('a clean, uninterrupted run: one sync per connector, then a full recompute', async () => {
    const t0 = Date.now();
    // Straight to the fakes: the proxies only delay answers (so the replicas' syncs can be
    // killed mid-way), they change nothing in them, and the baseline need not wait for them.
    const direct = { ...env, ADS_URL: sb.urls.googleAds, META_URL: sb.urls.meta, SENDGRID_URL: sb.urls.sendgrid, SHOP_URL: sb.urls.shop };
    const config = parseConfig(configYaml(prefix, start, sb.credentials.googleAds.customerIds), wd.path('kpi.yaml'), { env: direct, checks: configChecks });
    const cleanWh = await openWarehouse({ url: clean.url, poolSize: 4 });
    try {
      await migrateToLatest(cleanWh.db);
      // The connectors side by side, as the replicas sync them: each writes only its own facts.
      const results = await Promise.all(config.connectors.map(async (c) => runSync({ db: cleanWh.db, connector: await connectorFor(c.type), config: c, log })));
      for (const res of results) expect(res.run.status, res.run.error ?? '').toBe('succeeded');
      await recompute(cleanWh.db, config);
      const facts = await allFacts(cleanWh.db);
      expect(facts.length).toBeGreaterThan(1000);
      report(`a clean sync of 4 connectors (google_ads, meta_ads, sendgrid, http_json) over ${DAYS} days, side by side, straight to the fakes`, `${facts.length} facts and ${(await allKpiValues(cleanWh.db)).length} KPI values in ${((Date.now() - t0) / 1000).toFixed(1)} s: the baseline`);
    } finally {
      await cleanWh.close();
    }
  }, 90_000);

  it(`SIGKILL at ${KILLS} points stratified over the phases of a sync; after recovery the facts and KPI values equal the clean run's and no run is left running`, async () => {
    const file = wd.file('kpi.yaml', configYaml(prefix, start, sb.credentials.googleAds.customerIds));
    let n = 0;
    // Spares are loaded (modules, config) but start the app only when a replica they replace
    // is dead: the time a kill costs is then the kill's, not a process start-up's.
    const spawnReplica = (spare: boolean) => {
      const name = `replica-${++n}`;
      const p = spawnWorker(
        file,
        { ...env, DATABASE_URL: wh.url, PGAPPNAME: appName(name), REDIS_URL: inject('redisUrl'), TUNING: JSON.stringify(TUNING), LOG_FILE: wd.path(`${name}.log`), SHUTDOWN_TIMEOUT_MS: '3000' },
        { name, outFile: wd.path(`${name}.out`), spare },
      );
      replicas.push(p);
      return p;
    };
    /** Each replica's connections carry its name, so pg_stat_activity tells whose they are. */
    const appName = (name: string) => `kpi-crash-${process.pid}-${name}`;
    const logOf = (p: Proc) => {
      try {
        return readFileSync(wd.path(`${p.name}.log`), 'utf8');
      } catch {
        return '';
      }
    };
    const running = () => wh.db.selectFrom('sync_runs').select(['id', 'connector', 'rows_read']).where('status', '=', 'running').execute();
    const working = () => replicas.filter((r) => r.alive() && r.isReady());
    /** The working replicas whose log has started one of these runs, with those runs. */
    const holders = async <R extends { id: number }>(runs: R[]) => {
      return working()
        .map((r) => {
          const text = logOf(r);
          return { r, runs: runs.filter((run) => text.includes(`"runId":${run.id},`)) };
        })
        .filter((c) => c.runs.length > 0);
    };
    const rand = seededRandom(SEED);
    const pick = <T>(list: T[]): T | null => (list.length > 0 ? list[Math.floor(rand() * list.length)]! : null);
    let seenFinished = new Date();

    /**
     * Where a kill lands, chosen from outside through the database and the replicas' logs:
     * - backfill: inside a connector's first (60-day) sync, before or between its days' commits;
     * - resync: inside a later sync of the 20-day lookback;
     * - commit: while a day's transaction (facts, checkpoint, counters) is open on the victim's connection;
     * - succeeded: just after a run was recorded `succeeded`, while its job and chain finish.
     */
    const phases = {
      backfill: async () => {
        const live = await running();
        const done = await wh.db.selectFrom('sync_runs').select('connector').distinct().where('status', '=', 'succeeded').execute();
        return pick(await holders(live.filter((run) => !done.some((d) => d.connector === run.connector))));
      },
      resync: async () => {
        const live = await running();
        const done = await wh.db.selectFrom('sync_runs').select('connector').distinct().where('status', '=', 'succeeded').execute();
        return pick(await holders(live.filter((run) => done.some((d) => d.connector === run.connector))));
      },
      commit: async () => {
        // A day's commit: a transaction holding the advisory lock on a slice (src/warehouse/facts.ts).
        const open = await sql<{ app: string }>`select a.application_name as app from pg_stat_activity a join pg_locks l on l.pid = a.pid
          where a.datname = current_database() and l.locktype = 'advisory' and l.classid = ${SLICE_LOCK} and l.granted`.execute(wh.db);
        const victims = working().filter((r) => open.rows.some((o) => o.app === appName(r.name)));
        const r = pick(victims);
        if (!r) return null;
        const text = logOf(r);
        return { r, runs: (await running()).filter((run) => text.includes(`"runId":${run.id},`)) };
      },
      succeeded: async () => {
        const since = seenFinished;
        const finished = await wh.db.selectFrom('sync_runs').select(['id', 'finished_at']).where('status', '=', 'succeeded').where('finished_at', '>', since).execute();
        if (finished.length === 0) return null;
        seenFinished = new Date(Math.max(...finished.map((f) => new Date(f.finished_at!).getTime())));
        const c = pick(await holders(finished));
        if (!c) return null;
        const text = logOf(c.r);
        return { r: c.r, runs: (await running()).filter((run) => text.includes(`"runId":${run.id},`)) };
      },
    };
    type Phase = keyof typeof phases;
    // The backfills come first (they exist only until each connector's first success), then
    // the other three phases equally often, in an order the seed shuffles.
    const later: Phase[] = Array.from({ length: KILLS - BACKFILL_KILLS }, (_, i) => (['resync', 'commit', 'succeeded'] as const)[i % 3]!);
    for (let i = later.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [later[i], later[j]] = [later[j]!, later[i]!];
    }
    const plan: Phase[] = [...Array.from({ length: BACKFILL_KILLS }, () => 'backfill' as const), ...later];

    for (let i = 0; i < 3; i++) spawnReplica(false);
    const spares = [spawnReplica(true), spawnReplica(true)];
    await Promise.all(replicas.slice(0, 3).map((r) => r.ready));
    const killed: Array<{ replica: string; phase: Phase; runs: string[] }> = [];
    const killedRunIds: number[] = [];
    let lastKill = 0;
    const t0 = Date.now();
    for (const phase of plan) {
      // A random pause, so each kill lands at a different point of whatever runs then.
      await sleep(rand() * 1_000);
      seenFinished = phase === 'succeeded' ? new Date() : seenFinished;
      // Deadlines here are hang detectors: a loaded machine gets there later, not wrongly.
      const victim = await waitFor(phases[phase], { timeoutMs: 120_000, what: `a replica to kill in phase ${phase}`, everyMs: 20 });
      victim.r.child.kill('SIGKILL');
      await victim.r.exited;
      lastKill = Date.now();
      // A run may have finished between choosing the victim and the kill: only the runs still
      // open (or already taken over) once the process is gone were interrupted by it.
      const after = victim.runs.length ? await wh.db.selectFrom('sync_runs').select(['id', 'status']).where('id', 'in', victim.runs.map((run) => run.id)).execute() : [];
      const interrupted = victim.runs.filter((run) => after.some((a) => a.id === run.id && (a.status === 'running' || a.status === 'abandoned')));
      killed.push({ replica: victim.r.name, phase, runs: interrupted.map((run) => `${run.connector}#${run.id} (${run.rows_read} records committed)`) });
      killedRunIds.push(...interrupted.map((run) => run.id));
      const replacement = spares.shift()!;
      spares.push(spawnReplica(true));
      await replacement.start();
      // The next victim is looked for among the replicas working by then; with none left, the
      // replacement is waited for.
      if (working().length === 0) await replacement.ready;
    }
    const chaosMs = Date.now() - t0;

    // Recovery: every connector completes a sync that started after the last kill, and the
    // chain has drained.
    const settled = await waitFor(
      async () => {
        const ok = await sql<{ n: number }>`select count(distinct connector)::int as n from sync_runs where status = 'succeeded' and started_at > ${new Date(lastKill)}`.execute(wh.db);
        return ok.rows[0]!.n === 4 ? Date.now() : null;
      },
      { timeoutMs: 180_000, what: 'every connector to sync again after the last kill', everyMs: 250 },
    );
    const recoveryMs = settled - lastKill;
    // Then the chains those syncs started catch the KPI values up. How long that takes depends
    // on the machine, so wait for it (a bounded while) instead of guessing; values still wrong
    // at the end are shown by the assertions below.
    const cleanBefore = await openWarehouse({ url: clean.url, poolSize: 1 });
    const expected = new Set(await allKpiValues(cleanBefore.db));
    await cleanBefore.close();
    await waitFor(
      async () => {
        const now = await allKpiValues(wh.db);
        return now.length === expected.size && now.every((v) => expected.has(v));
      },
      { timeoutMs: 120_000, what: 'the KPI values to catch up with the facts', everyMs: 500 },
    ).catch(() => undefined);
    await stopAll(replicas);

    const runs = await wh.db.selectFrom('sync_runs').select(['id', 'connector', 'status', 'error_kind']).execute();
    const stillRunning = runs.filter((r) => r.status === 'running');
    const abandoned = runs.filter((r) => r.status === 'abandoned');
    const chaosFacts = await allFacts(wh.db);
    const chaosKpis = await allKpiValues(wh.db);
    const cleanWh = await openWarehouse({ url: clean.url, poolSize: 1 });
    const cleanFacts = await allFacts(cleanWh.db);
    const cleanKpis = await allKpiValues(cleanWh.db);
    await cleanWh.close();
    const diff = (a: string[], b: string[]) => {
      const sb2 = new Set(b);
      return a.filter((x) => !sb2.has(x));
    };
    const kpiMissing = diff(cleanKpis, chaosKpis);
    const kpiExtra = diff(chaosKpis, cleanKpis);
    const byPhase = Object.keys(phases).map((ph) => `${killed.filter((k) => k.phase === ph).length} ${ph}`).join(', ');
    report(
      `${KILLS} SIGKILLs of 3 rotating replicas over ${(chaosMs / 1000).toFixed(0)} s (${byPhase}; runs killed mid-sync: ${killedRunIds.length}; e.g. ${killed
        .slice(0, 3)
        .map((k) => k.runs.join('+'))
        .join(', ')}), 4 connectors x ${DAYS} days re-read 20 days at a time`,
      `recovered ${(recoveryMs / 1000).toFixed(1)} s after the last kill; ${runs.length} runs, ${abandoned.length} abandoned, ${stillRunning.length} still running; facts ${chaosFacts.length} vs clean ${cleanFacts.length} (${diff(cleanFacts, chaosFacts).length} missing, ${diff(chaosFacts, cleanFacts).length} extra); KPI values ${chaosKpis.length} vs clean ${cleanKpis.length} (${kpiMissing.length} missing, ${kpiExtra.length} different)`,
    );

    expect(stillRunning).toEqual([]);
    // Every kill but the `succeeded` ones is aimed inside a sync, and nearly every one lands
    // there (a sync takes seconds; choosing a victim, milliseconds).
    expect(killedRunIds.length).toBeGreaterThanOrEqual(killed.filter((k) => k.phase !== 'succeeded').length / 2);
    // Every run a kill interrupted was closed as abandoned by whoever synced the connector next.
    expect(runs.filter((r) => killedRunIds.includes(r.id)).map((r) => r.status)).toEqual(killedRunIds.map(() => 'abandoned'));
    expect(chaosFacts).toEqual(cleanFacts);
    expect({ missing: kpiMissing.slice(0, 5), different: kpiExtra.slice(0, 5) }).toEqual({ missing: [], different: [] });
  }, 600_000);

  it('a worker killed after committing some days of a backfill: the recovered sync still recomputes the KPIs of those days', async () => {
    // One connector alone, so no other connector's chain recomputes the same days by chance.
    const soloWh = await testPostgres();
    const soloPrefix = `${prefix}-solo`;
    const from = addDays(today, -19);
    const procs: Proc[] = [];
    try {
      const file = wd.file(
        'solo.yaml',
        `reporting: { currency: EUR }\nredis: { prefix: ${soloPrefix} }\nconnectors:\n  - { name: solo, type: csv, path: unused.csv, date: { column: Day }, metrics: { clicks: Clicks }, schedule: "*/2 * * * * *", startDate: ${from}, lookbackDays: 1 }\n`,
      );
      const start = (name: string, spare: boolean) => {
        const p = spawnWorker(
          file,
          { DATABASE_URL: soloWh.url, REDIS_URL: inject('redisUrl'), SOURCE: JSON.stringify({ dayDelayMs: 150 }), TUNING: JSON.stringify(TUNING), LOG_FILE: wd.path(`${name}.log`) },
          { name, outFile: wd.path(`${name}.out`), spare },
        );
        procs.push(p);
        replicas.push(p);
        return p;
      };
      const first = start('solo-1', false);
      // The new worker loads alongside, and starts only once the first is dead.
      const second = start('solo-2', true);
      await first.ready;
      const checkpoint = async () => (await soloWh.db.selectFrom('checkpoints').select('cursor').where('connector', '=', 'solo').executeTakeFirst())?.cursor ?? null;
      // Kill once seven of the twenty days are committed.
      const at = await waitFor(async () => {
        const c = await checkpoint();
        return c && c >= addDays(from, 6) ? c : null;
      }, { timeoutMs: 60_000, what: 'seven days to be committed' });
      first.child.kill('SIGKILL');
      await first.exited;
      await second.start();
      await second.ready;
      await waitFor(async () => (await checkpoint()) === today && (await soloWh.db.selectFrom('sync_runs').select('id').where('status', '=', 'succeeded').execute()).length > 0, {
        timeoutMs: 120_000,
        what: 'the recovered sync to finish',
      });
      // The chain that sync started recomputes the backfill's days; wait until none of them is
      // behind its facts (the ticks that go on re-read only today and yesterday).
      const yesterday = addDays(today, -1);
      await waitFor(
        async () => {
          const behind = await sql<{ n: number }>`select count(*)::int as n from kpi_days where date < ${yesterday}::date and points_version is distinct from facts_version`.execute(soloWh.db);
          return behind.rows[0]!.n === 0;
        },
        { timeoutMs: 60_000, what: 'the recovered chain to recompute the backfill\'s days', everyMs: 250 },
      ).catch(() => undefined);
      await stopAll([second]);

      const recovered = await allKpiValues(soloWh.db);
      const config = parseConfig(`reporting: { currency: EUR }\nconnectors: []\n`, 'solo.yaml', { env: {} });
      await recompute(soloWh.db, config);
      const truth = await allKpiValues(soloWh.db);
      const missing = truth.filter((v) => !recovered.includes(v));
      const missingDays = [...new Set(missing.filter((v) => v.includes('|day|')).map((v) => v.split('|')[2]))].sort();
      const runs = await soloWh.db.selectFrom('sync_runs').select(['status', 'touched_from', 'touched_to']).orderBy('id').execute();
      report(
        `SIGKILL of the only worker once the backfill had committed up to ${at} (7 of 20 days), then a new worker`,
        `runs ${runs.map((r) => `${r.status} touched ${r.touched_from ?? '-'}..${r.touched_to ?? '-'}`).join(', ')}; KPI values ${recovered.length} vs a full recompute ${truth.length}; days with no KPI values after recovery: ${missingDays.length ? missingDays.join(', ') : 'none'}`,
      );
      expect(missingDays).toEqual([]);
      expect(recovered).toEqual(truth);
    } finally {
      await stopAll(procs, 'SIGKILL');
      await soloWh.close();
    }
  }, 300_000);

  it('leaves no configured secret in the replicas\' logs and output, the databases or Redis', async () => {
    const files = replicas.flatMap((r) => [wd.path(`${r.name}.log`), wd.path(`${r.name}.out`)]);
    const findings = await secretScanCase('the crash run', {
      secrets,
      files,
      texts: { 'clean-run log': lines.join('') },
      databases: [clean.url, wh.url],
      redis: [{ url: inject('redisUrl'), prefix }],
    });
    expect(findings).toEqual([]);
  }, 60_000);
});
