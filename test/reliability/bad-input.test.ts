import { spawn } from 'node:child_process';
import path from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { configChecks } from '../../src/config-checks.ts';
import { parseConfig } from '../../src/config/index.ts';
import { main } from '../../src/cli.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { checkFormulas, evaluate, type FormulaEnv } from '../../src/metrics/formula/index.ts';
import { report, ROOT, secretScanCase, secretValue, startSentinel, startTcpProxy, workDir, type TcpProxy } from './helpers.ts';

// ---------------------------------------------------------------- the corpora

const CSV = '{ name: leads, type: csv, path: leads.csv, date: { column: Day }, metrics: { leads: Leads } }';
const conn = (extra: string) => `connectors:\n  - { name: leads, type: csv, path: leads.csv, date: { column: Day }, metrics: { leads: Leads }, ${extra} }\n`;
const SECRET = secretValue('cfg');

/** [what, YAML, a fragment the located error must contain]. */
const BROKEN: Array<[string, string, string]> = [
  ['unclosed flow sequence', 'connectors: [\n', 'YAML syntax'],
  ['tab indentation', 'reporting:\n\tcurrency: EUR\n', 'YAML syntax'],
  ['duplicate key', 'reporting: {}\nreporting: {}\n', 'Map keys must be unique'],
  ['a list at the top', '- reporting\n- connectors\n', 'expected a mapping'],
  ['a bare word at the top', 'hello\n', 'expected a mapping'],
  ['NUL bytes', 'reporting:\u0000 x\n', 'expected a mapping'],
  ['alias bomb (billion laughs)', ['a: &a [x, x, x, x, x, x, x, x, x]', ...'bcdefghij'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefghij'[i]}`).join(', ')}]`), 'connectors: *j'].join('\n'), 'resource exhaustion'],
  ['20 000 nested brackets', `connectors: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`, 'nested too deeply'],
  ['unknown top-level key', 'conectors: []\n', 'unknown key "conectors"'],
  ['__proto__ as a top-level key', '__proto__: { polluted: true }\n', 'unknown key'],
  ['constructor as a top-level key', 'constructor: 1\n', 'unknown key "constructor"'],
  ['currency not ISO', 'reporting: { currency: euro }\n', 'reporting.currency'],
  ['time zone unknown', 'reporting: { timezone: Mars/Olympus }\n', 'reporting.timezone'],
  ['week start', 'reporting: { weekStart: friday }\n', 'reporting.weekStart'],
  ['negative FX rate', 'reporting: { currency: EUR, fxRates: { USD: -1 } }\n', 'reporting.fxRates.USD'],
  ['FX rate for the reporting currency', 'reporting: { currency: EUR, fxRates: { EUR: 2 } }\n', 'reporting.fxRates.EUR'],
  ['huge port', 'server: { port: 1e999 }\n', 'server.port'],
  ['dashboard password too short', 'server: { dashboard: { user: ops, password: abc } }\n', 'server.dashboard.password'],
  ['listen host not an address', 'server: { host: "0.0.0.0; rm -rf /" }\n', 'server.host: expected an IP address'],
  ['connectors not a list', 'connectors: { leads: {} }\n', 'connectors'],
  ['connector without type', 'connectors:\n  - { name: leads }\n', 'connectors[0].type'],
  ['unknown connector type', 'connectors:\n  - { name: leads, type: tiktok }\n', 'unknown connector type "tiktok"'],
  ['connector name with spaces', 'connectors:\n  - { name: My Leads, type: csv, path: a.csv, date: { column: D }, metrics: { leads: L } }\n', 'connectors[0].name'],
  ['duplicate connector names', `connectors:\n  - ${CSV}\n  - ${CSV}\n`, 'duplicate connector name "leads"'],
  ['cron minute 61', conn('schedule: "61 * * * *"'), 'invalid cron expression'],
  ['cron with three fields', conn('schedule: "* * *"'), 'expected a cron expression of 5 fields'],
  ['connector time zone', conn('timezone: Europe/Atlantis'), 'connectors[0].timezone'],
  ['negative lookback', conn('lookbackDays: -1'), 'connectors[0].lookbackDays'],
  ['lookback as text', conn('lookbackDays: ten'), 'connectors[0].lookbackDays'],
  ['31 February', conn('startDate: 2025-02-31'), 'connectors[0].startDate'],
  ['ftp base URL', conn('baseUrl: "ftp://example.com"'), 'connectors[0].baseUrl'],
  ['concurrency 0', conn('concurrency: 0'), 'connectors[0].concurrency'],
  ['unknown connector key', conn('sheduel: "* * * * *"'), 'unknown key "sheduel"'],
  ['missing secret', 'connectors:\n  - { name: mc, type: mailchimp, apiKey: "${env:KPI_CHAOS_UNSET_KEY}" }\n', 'environment variable KPI_CHAOS_UNSET_KEY is not set'],
  ['secret where a cron expression belongs', conn('schedule: "${env:CHAOS_SECRET}"'), 'connectors[0].schedule'],
  ['secret where a time zone belongs', 'reporting: { timezone: "${env:CHAOS_SECRET}" }\n', 'reporting.timezone'],
  ['csv without metrics', 'connectors:\n  - { name: leads, type: csv, path: a.csv, date: { column: D } }\n', 'connectors[0].metrics'],
  ['GA4 property id', 'connectors:\n  - { name: ga, type: ga4, propertyIds: ["abc"], auth: { type: oauth, clientId: a, clientSecret: b, refreshToken: c } }\n', 'connectors[0].propertyIds'],
  ['Google Ads customer id', 'connectors:\n  - { name: ads, type: google_ads, customerIds: ["12-34"], developerToken: t, auth: { type: oauth, clientId: a, clientSecret: b, refreshToken: c } }\n', 'connectors[0].customerIds'],
  ['http_json pagination', 'connectors:\n  - { name: shop, type: http_json, url: "https://x.example/o", pagination: { type: infinite }, fields: { date: d, metrics: { orders: { count: true } } } }\n', 'connectors[0].pagination'],
  ['http_json metric name', 'connectors:\n  - { name: shop, type: http_json, url: "https://x.example/o", fields: { date: d, metrics: { Orders: id } } }\n', 'lower_snake_case'],
  ['KPI name', 'kpis:\n  - { name: Click-Rate, formula: clicks / impressions }\n', 'kpis[0].name'],
  ['KPI unknown metric', 'kpis:\n  - { name: ctr2, formula: clics / impressions }\n', 'kpis[0].formula'],
  ['KPI cycle', 'kpis:\n  - { name: a1, formula: b1 + 1 }\n  - { name: b1, formula: a1 + 1 }\n', 'kpis['],
  ['KPI unit', 'kpis:\n  - { name: k1, formula: clicks, unit: furlongs }\n', 'kpis[0].unit'],
  ['goal without target', 'goals:\n  - { name: g, kpi: clicks, start: 2026-01-01, deadline: 2026-03-01 }\n', 'goals[0].target'],
  ['goal on an unknown KPI', 'goals:\n  - { name: g, kpi: revenu, target: 1, start: 2026-01-01, deadline: 2026-03-01 }\n', 'goals[0].kpi'],
  ['goal deadline before start', 'goals:\n  - { name: g, kpi: clicks, target: 1, start: 2026-03-01, deadline: 2026-01-01 }\n', 'goals[0].deadline'],
  ['OKR with an unknown goal', 'okrs:\n  - { name: o, objective: Grow, keyResults: [{ goal: nope }] }\n', 'okrs[0].keyResults[0].goal'],
  ['unknown North Star', 'northStar: happiness\n', 'northStar'],
  ['alert to an unknown channel', 'alerts:\n  - { name: a, condition: { kind: sync_failure }, channels: [pager] }\n', 'alerts[0].channels'],
  ['alert condition kind', 'alerts:\n  - { name: a, condition: { kind: vibes }, channels: [ops] }\nchannels:\n  ops: { type: slack, url: "https://hooks.example/x" }\n', 'alerts[0].condition'],
  ['threshold alert without series', 'alerts:\n  - { name: a, condition: { kind: threshold, op: above, threshold: 1 }, channels: [ops] }\nchannels:\n  ops: { type: slack, url: "https://hooks.example/x" }\n', 'alerts[0].series'],
  ['Slack URL not a URL', 'channels:\n  ops: { type: slack, url: "not a url" }\n', 'channels.ops.url'],
  ['duration that is not one', 'alerting: { groupWait: soon }\n', 'alerting.groupWait'],
];

const NESTED = 5_000;
/** [what, formula]: every one must be refused at config load, with the KPI named, quickly. */
const HOSTILE_FORMULAS: Array<[string, string]> = [
  ['10 000 open parentheses', '('.repeat(10_000)],
  [`${NESTED} balanced parentheses`, `${'('.repeat(NESTED)}clicks${')'.repeat(NESTED)}`],
  ['1 000 nested calls', `${'abs('.repeat(1_000)}clicks${')'.repeat(1_000)}`],
  ['5 000 unary minus', `${'-'.repeat(5_000)}clicks`],
  ['100 000 characters', 'c'.repeat(100_000)],
  ['2 000 terms', Array.from({ length: 2_000 }, () => 'clicks').join('+')],
  ['a number too large', '1e999'],
  ['400 nines', '9'.repeat(400)],
  ['__proto__', '__proto__'],
  ['constructor', 'constructor'],
  ['toString', 'toString / clicks'],
  ['__proto__ called', '__proto__(clicks)'],
  ['member access', 'clicks.constructor.constructor("return process")()'],
  ['SQL statement', 'clicks; DROP TABLE metric_facts'],
  ['SQL quote', "clicks' OR '1'='1"],
  ['SQL delete', '1); DELETE FROM kpi_values; --'],
  ['SQL comment', 'clicks -- comment'],
  ['C comment', '/* x */ clicks'],
  ['require', "require('child_process').execSync('touch /tmp/kpi-pwned')"],
  ['process.exit', 'process.exit(1)'],
  ['eval', 'eval(clicks)'],
  ['template literal', '`${clicks}`'],
  ['NUL byte', 'clicks\u0000'],
  ['right-to-left override', '\u202eclicks'],
  ['fullwidth letters', 'ｃｌｉｃｋｓ'],
  ['previous a billion periods back', 'previous(clicks, 1e9)'],
];

/** [argv, a fragment of what must be said]: all wrong arguments, exit 2. */
const BAD_ARGS: Array<[string[], RegExp]> = [
  [['frobnicate'], /unknown command/],
  [['--nope'], /unknown option/],
  [['sync'], /missing required argument/],
  [['sync', 'leads', '--from', '2024-13-45'], /expected a date/],
  [['sync', 'leads', '--from', 'yesterday'], /expected a date/],
  [['report', '--as-of', '2024-02-30'], /expected a date/],
  [['runs', '--limit', '-1'], /'--limit <n>' argument '-1' is invalid\. expected a whole number from 1 to 10000/],
  [['runs', '--limit', '1e9999'], /expected a whole number from 1 to 10000/],
  [['runs', '--limit', 'NaN'], /expected a whole number from 1 to 10000/],
  [['start', '--role', 'king'], /Allowed choices are scheduler, worker, all/],
  [['start', '--shutdown-timeout', '0'], /'--shutdown-timeout <seconds>' argument '0' is invalid\. expected a whole number from 1 to 86400/],
  [['report', '--grain', 'decade'], /Allowed choices/],
  [['run'], /pass --once/],
  [['alerts', 'unsilence', 'abc'], /argument 'id'\. expected a whole number from 1 to 9007199254740991/],
  [['alerts', 'silence'], /required option/],
  [['--config'], /argument missing/],
  [['validate', '--env-from', '/nonexistent/chaos.env'], /cannot read env file/],
  [[''], /unknown command/],
  [['x'.repeat(100_000)], /unknown command/],
  [['digest', '--as-of', '2024-1-1'], /expected a date/],
  [['recompute', '--from', "2024-01-01'; DROP TABLE metric_facts; --"], /expected a date/],
  // Well-formed but out of range: each used to reach Postgres (or give a report for 1900).
  [['alerts', 'silence', '--matcher', 'rule=x', '--for', '999999999w'], /'--for <duration>' argument '999999999w' is invalid\. expected a duration from 1m to 365d/],
  [['recompute', '--from', '0000-01-01'], /'--from <date>' argument '0000-01-01' is invalid\. expected a date as YYYY-MM-DD from 2000-01-01 to \d{4}-\d\d-\d\d/],
  [['alerts', 'unsilence', '12345678901234567890'], /expected a whole number from 1 to 9007199254740991/],
  [['report', '--as-of', '0001-01-01'], /expected a date as YYYY-MM-DD from 2000-01-01 to/],
  [['runs', '--limit', '99999999999999999999'], /expected a whole number from 1 to 10000/],
  [['start', '--host', '0.0.0.0.0'], /expected an IP address/],
];

// ---------------------------------------------------------------- helpers

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

async function cli(argv: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const t0 = performance.now();
  const code = await main(argv, { stdout: { write: (s: string) => ((stdout += s), true) }, stderr: { write: (s: string) => ((stderr += s), true) }, env, cwd });
  return { code, stdout, stderr, ms: performance.now() - t0 };
}

/** The real binary, as an operator runs it. */
function binary(argv: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Result & { signal: NodeJS.Signals | null }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/kpi.js'), ...argv], { cwd, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += String(d)));
    child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
    child.on('close', (code, signal) => resolve({ code: code ?? -1, signal, stdout, stderr, ms: performance.now() - t0 }));
  });
}

async function inBatches<T, R>(items: T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

const STACK = /\n\s+at .+\(.+:\d+:\d+\)/;

// ---------------------------------------------------------------- the cases

describe('bad input: broken configs, hostile formulas and wrong arguments', () => {
  const wd = workDir('input');
  const outputs: string[] = [];
  let proxy: TcpProxy;
  let redis: Awaited<ReturnType<typeof startSentinel>>;
  let db: { url: string; schema: string };
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    // Postgres through a proxy that counts connections, in a schema of its own; a Redis
    // stand-in that only counts them. Nothing below may connect to either.
    const base = new URL(inject('databaseUrl'));
    proxy = await startTcpProxy({ host: base.hostname, port: Number(base.port || 5432) });
    redis = await startSentinel();
    const schema = `t_input_${Date.now().toString(36)}`;
    const url = new URL(base);
    url.port = String(proxy.port);
    url.searchParams.set('options', `-c search_path=${schema}`);
    db = { url: url.toString(), schema };
    env = { DATABASE_URL: db.url, REDIS_URL: `redis://127.0.0.1:${redis.port}`, CHAOS_SECRET: SECRET, LOG_LEVEL: 'debug' };
  });

  afterAll(async () => {
    await proxy?.close();
    await redis?.close();
    wd.cleanup();
  });

  it(`${BROKEN.length} broken configs: one located ConfigError each, exit 3 from every command, no connection to Postgres or Redis`, async () => {
    expect(BROKEN.length).toBeGreaterThanOrEqual(40);
    const commands = [['validate'], ['run', '--once'], ['start'], ['migrate'], ['sync', 'leads'], ['recompute'], ['report'], ['runs']];
    // The real binary, for a few of them: started first, so the processes run while the loop below does.
    const spawning = inBatches(BROKEN.filter((_, i) => i % 9 === 0), 4, async ([what, yaml]) => {
      const file = wd.file(`spawned-${what.replace(/\W+/g, '-')}.yaml`, yaml);
      return { what, res: await binary(['run', '--once', '--config', file], env, wd.dir) };
    });
    const failures: string[] = [];
    let slowest = 0;
    for (const [i, [what, yaml, fragment]] of BROKEN.entries()) {
      const file = wd.file(`broken-${String(i).padStart(2, '0')}.yaml`, yaml);
      const t0 = performance.now();
      let err: unknown;
      try {
        parseConfig(yaml, file, { env: { CHAOS_SECRET: SECRET }, checks: configChecks });
      } catch (e) {
        err = e;
      }
      slowest = Math.max(slowest, performance.now() - t0);
      const relative = path.relative(process.cwd(), file);
      if (!(err instanceof ConfigError)) failures.push(`${what}: ${err === undefined ? 'loaded without error' : `threw ${(err as Error).name}: ${(err as Error).message}`}`);
      else {
        const line = err.message.split('\n').find((l) => l.includes(fragment));
        if (!line) failures.push(`${what}: no line with "${fragment}" in:\n${err.message}`);
        else if (!line.startsWith(`${relative}:`)) failures.push(`${what}: not located: ${line}`);
        if (err.message.includes(SECRET)) failures.push(`${what}: the secret is in the message`);
      }
      const cmd = commands[i % commands.length]!;
      const res = await cli([...cmd, '--config', file], env, wd.dir);
      outputs.push(res.stdout, res.stderr);
      if (res.code !== 3 || !res.stderr.startsWith('configuration error:') || STACK.test(res.stderr)) failures.push(`${what}: kpi ${cmd.join(' ')} → exit ${res.code}: ${res.stderr.slice(0, 300)}`);
    }
    const spawned = await spawning;
    for (const { what, res } of spawned) {
      outputs.push(res.stdout, res.stderr);
      if (res.code !== 3 || res.signal || STACK.test(res.stderr)) failures.push(`${what}: node bin/kpi.js run --once → exit ${res.code} ${res.signal ?? ''}: ${res.stderr.slice(0, 300)}`);
    }
    report(
      `${BROKEN.length} broken configs (syntax, alias bomb, 20 000 nested brackets, __proto__, unknown keys, bad cron/zone/dates/URLs/ids, missing and misplaced secrets, KPI/goal/OKR/alert/channel mistakes) through parseConfig and 8 commands in-process, ${spawned.length} through node bin/kpi.js`,
      `${BROKEN.length - failures.length}/${BROKEN.length} gave a located ConfigError naming the path (slowest ${slowest.toFixed(0)} ms), exit 3, no stack trace, no secret; Postgres connections ${proxy.accepted}, Redis connections ${redis.connections}; Object.prototype untouched`,
    );
    expect(failures).toEqual([]);
    expect(proxy.accepted).toBe(0);
    expect(redis.connections).toBe(0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  }, 120_000);

  it(`${HOSTILE_FORMULAS.length} hostile formulas: a located ConfigError naming the KPI, quickly, no crash, nothing touched`, async () => {
    expect(HOSTILE_FORMULAS.length).toBeGreaterThanOrEqual(20);
    const failures: string[] = [];
    // Through the real binary, for some: started first, so the processes run while the loop below does.
    const spawning = inBatches(HOSTILE_FORMULAS.filter((_, i) => i % 5 === 0), 4, async ([what, formula]) => {
      const file = wd.file(`spawned-formula-${what.replace(/\W+/g, '-')}.yaml`, `kpis:\n  - name: hostile\n    formula: ${JSON.stringify(formula)}\n`);
      return { what, res: await binary(['validate', '--config', file], env, wd.dir) };
    });
    let slowest = 0;
    for (const [i, [what, formula]] of HOSTILE_FORMULAS.entries()) {
      const yaml = `kpis:\n  - name: hostile\n    formula: ${JSON.stringify(formula)}\n`;
      const file = wd.file(`formula-${i}.yaml`, yaml);
      const t0 = performance.now();
      let err: unknown;
      try {
        parseConfig(yaml, file, { env: {}, checks: configChecks });
      } catch (e) {
        err = e;
      }
      const ms = performance.now() - t0;
      slowest = Math.max(slowest, ms);
      if (!(err instanceof ConfigError)) failures.push(`${what}: ${err === undefined ? 'accepted' : `threw ${(err as Error).name}: ${(err as Error).message.slice(0, 200)}`}`);
      else if (!/kpis\[0\]\.formula: KPI 'hostile'/.test(err.message)) failures.push(`${what}: ${err.message.slice(0, 300)}`);
      else if (err.message.length > 600) failures.push(`${what}: a ${err.message.length}-character message`);
      if (ms > 1_000) failures.push(`${what}: took ${ms.toFixed(0)} ms`);
      const res = await cli(['run', '--once', '--config', file], env, wd.dir);
      outputs.push(res.stdout, res.stderr);
      if (res.code !== 3 || STACK.test(res.stderr)) failures.push(`${what}: kpi run --once → exit ${res.code}: ${res.stderr.slice(0, 200)}`);
    }
    const spawned = await spawning;
    for (const { what, res } of spawned) {
      outputs.push(res.stdout, res.stderr);
      if (res.code !== 3 || res.signal || !/kpis\[0\]\.formula/.test(res.stderr) || STACK.test(res.stderr)) failures.push(`${what}: node bin/kpi.js validate → exit ${res.code}: ${res.stderr.slice(0, 200)}`);
    }
    report(
      `${HOSTILE_FORMULAS.length} hostile KPI formulas (10 000 open parentheses, ${NESTED} nested, 100 000 characters, 1e999, __proto__/constructor/toString, SQL fragments, require/eval/process.exit, NUL, bidi and fullwidth text) in a config, via parseConfig and kpi run --once in-process, ${spawned.length} via node bin/kpi.js validate`,
      `${HOSTILE_FORMULAS.length - failures.length}/${HOSTILE_FORMULAS.length} refused with "kpis[0].formula: KPI 'hostile': …" (slowest ${slowest.toFixed(0)} ms), exit 3, no crash or stack overflow; Postgres connections ${proxy.accepted}, Redis ${redis.connections}`,
    );
    expect(failures).toEqual([]);
    expect(proxy.accepted).toBe(0);
    expect(redis.connections).toBe(0);
  }, 120_000);

  it(`${BAD_ARGS.length} wrong command lines: exit 2 with a usage message, never a crash`, async () => {
    const failures: string[] = [];
    // Through the real binary, for some: started first, so the processes run while the loop below does.
    const picked = BAD_ARGS.filter((_, i) => i % 4 === 0);
    const spawning = inBatches(picked, 4, async ([argv, said]) => ({ argv, said, res: await binary(argv, env, wd.dir) }));
    for (const [argv, said] of BAD_ARGS) {
      const res = await cli(argv, env, wd.dir);
      outputs.push(res.stdout, res.stderr);
      const label = argv.map((a) => (a.length > 30 ? `${a.slice(0, 10)}…(${a.length})` : a)).join(' ');
      if (res.code !== 2 || !said.test(res.stderr) || STACK.test(res.stderr)) failures.push(`kpi ${label} → exit ${res.code}: ${res.stderr.slice(0, 200)}`);
    }
    const spawned = await spawning;
    for (const { argv, said, res } of spawned) {
      outputs.push(res.stdout, res.stderr);
      if (res.code !== 2 || res.signal || !said.test(res.stderr) || STACK.test(res.stderr)) failures.push(`node bin/kpi.js ${argv.join(' ').slice(0, 60)} → exit ${res.code}: ${res.stderr.slice(0, 200)}`);
    }
    report(
      `${BAD_ARGS.length} wrong command lines in-process (unknown commands and options, bad dates incl. 2024-02-30, negative/NaN/1e9999 numbers, out-of-range dates, durations, ids and limits, bad choices, missing arguments, a 100 000-character command, SQL in a date) and ${spawned.length} through node bin/kpi.js`,
      `${BAD_ARGS.length + spawned.length - failures.length}/${BAD_ARGS.length + spawned.length} exited 2 with a message saying what was wrong and no stack trace; Postgres connections ${proxy.accepted}, Redis ${redis.connections}`,
    );
    expect(failures).toEqual([]);
    expect(proxy.accepted).toBe(0);
    expect(redis.connections).toBe(0);
  }, 60_000);

  it('property: any text as a KPI formula, and any document as a config, gives a config or a ConfigError, never anything else', () => {
    let runs = 0;
    let refused = 0;
    const formula = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.string({ unit: fc.constantFrom('clicks', 'impressions', 'spend', '__proto__', 'constructor', 'previous', 'sum', '(', ')', ',', '+', '-', '*', '/', '1', '1e308', '9e999', '.', ' ', ';', "'", '"', '--', 'DROP', '\u0000', '\ud800'), maxLength: 40 }),
    );
    fc.assert(
      fc.property(formula, (text) => {
        runs++;
        try {
          parseConfig(`kpis:\n  - name: prop\n    formula: ${JSON.stringify(text)}\n`, 'prop.yaml', { env: {}, checks: configChecks });
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          refused++;
          for (const p of err.problems) expect(p.path === '' || p.path.startsWith('kpis[0]')).toBe(true);
        }
      }),
      { numRuns: 600 },
    );
    const value = fc.letrec<{ v: unknown }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small', maxDepth: 4 },
        fc.constantFrom('__proto__', 'constructor', 'prototype', '${env:NOPE}', '* * * * *', 'EUR', 'csv', 'Europe/Berlin', '2026-02-30', 1e308, -1, 0, null, true),
        fc.string({ maxLength: 12 }),
        fc.double(),
        fc.array(tie('v'), { maxLength: 4 }),
        fc.dictionary(fc.constantFrom('reporting', 'connectors', 'kpis', 'goals', 'name', 'type', 'schedule', 'formula', '__proto__', 'constructor', 'currency', 'timezone', 'alerts', 'channels', 'metrics'), tie('v'), { maxKeys: 5 }),
      ),
    })).v;
    fc.assert(
      fc.property(value, (doc) => {
        runs++;
        let text: string;
        try {
          text = stringify(doc);
        } catch {
          return;
        }
        try {
          parseConfig(text, 'doc.yaml', { env: {}, checks: configChecks });
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          refused++;
        }
      }),
      { numRuns: 600 },
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    report(`${runs} generated formulas (any unicode, and formula-ish tokens incl. 9e999, __proto__, SQL, NUL, lone surrogates) and config documents (nested values under real and hostile keys)`, `every one loaded or gave a ConfigError (${refused} refused); no other exception, no prototype pollution`);
  }, 120_000);

  it('property: a formula that compiles evaluates to a finite number or null, whatever the metric values (NaN, ±Infinity, ±1e308, -0, null)', () => {
    // Formulas from the grammar (so nearly all compile) plus token soup (so odd shapes come too).
    const { expr } = fc.letrec<{ expr: string }>((tie) => ({
      expr: fc.oneof(
        { depthSize: 'small', maxDepth: 5 },
        fc.constantFrom('clicks', 'impressions', 'spend', '0', '1', '1e308', '0.5', '-1e308'),
        fc.tuple(tie('expr'), fc.constantFrom('+', '-', '*', '/'), tie('expr')).map(([a, op, b]) => `(${a} ${op} ${b})`),
        tie('expr').map((a) => `-${a}`),
        fc.tuple(fc.constantFrom('abs', 'min', 'max', 'coalesce'), fc.array(tie('expr'), { minLength: 1, maxLength: 3 })).map(([fn, args]) => `${fn}(${args.join(', ')})`),
        fc.tuple(tie('expr'), fc.integer({ min: 1, max: 3 })).map(([a, n]) => `previous(${a}, ${n})`),
      ),
    }));
    const soup = fc.string({ unit: fc.constantFrom('clicks', 'impressions', 'spend', '1', '0', '1e308', '0.5', '(', ')', '+', '-', '*', '/', ',', 'previous', 'abs', 'min', 'max', 'coalesce', ' '), maxLength: 24 });
    const metricValue = fc.oneof(fc.constantFrom(Number.NaN, Infinity, -Infinity, 1e308, -1e308, -0, 0, null), fc.double());
    let compiled = 0;
    let nulls = 0;
    fc.assert(
      fc.property(fc.oneof(expr, soup), fc.array(metricValue, { minLength: 8, maxLength: 8 }), (text, values) => {
        const { compiled: kpis } = checkFormulas([{ name: 'k', formula: text }], new Set(['clicks', 'impressions', 'spend']));
        const kpi = kpis.get('k');
        if (!kpi) return;
        compiled++;
        let i = 0;
        const env: FormulaEnv = { metric: () => values[i++ % values.length] ?? null, kpi: () => null };
        const v = evaluate(kpi, env);
        if (v === null) nulls++;
        expect(v === null || Number.isFinite(v)).toBe(true);
      }),
      { numRuns: 2_000 },
    );
    report('2 000 generated formulas (from the grammar and from token soup) evaluated against NaN, ±Infinity, ±1e308, -0 and missing metric values', `${compiled} compiled; each gave a finite number (${compiled - nulls}) or null (${nulls}); none threw`);
    expect(compiled).toBeGreaterThan(500);
  }, 60_000);

  it('leaves no configured secret in anything the commands printed', async () => {
    const findings = await secretScanCase('the bad-input commands', { secrets: { CHAOS_SECRET: SECRET }, texts: { 'CLI output': outputs.join('\n') } });
    expect(findings).toEqual([]);
  });
});
