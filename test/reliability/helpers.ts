/**
 * Shared machinery of the reliability suite: replica processes, a Redis server of our own
 * to restart, a TCP proxy to cut Postgres off, a slow HTTP proxy in front of the fakes, and
 * the secret scan every file ends with.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createLogger, type Logger } from '../../src/core/log.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const WORKER = path.join(ROOT, 'test/reliability/fixtures/worker.ts');

/** One line per case in the test output: what was done to the system and what held. */
export function report(tried: string, held: string): void {
  console.log(`tried: ${tried} / held: ${held}`);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Deterministic randomness: the seed is printed, so a failing run can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function waitFor<T>(probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, options: { timeoutMs?: number; what?: string; everyMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${options.timeoutMs ?? 15_000} ms waiting for ${options.what ?? 'a condition'}`);
    await sleep(options.everyMs ?? 50);
  }
}

export interface WorkDir {
  dir: string;
  path(name: string): string;
  file(name: string, text: string): string;
  cleanup(): void;
}

export function workDir(prefix: string): WorkDir {
  const dir = mkdtempSync(path.join(tmpdir(), `kpi-chaos-${prefix}-`));
  return {
    dir,
    path: (name) => path.join(dir, name),
    file(name, text) {
      const p = path.join(dir, name);
      writeFileSync(p, text);
      return p;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A logger whose lines are kept (for the secret scan and for a failing test's story). */
export function capturedLogger(level = 'debug'): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = createLogger({ level, destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
  return { log, lines };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------- replica processes

export interface Proc {
  name: string;
  child: ChildProcess;
  /** stdout and stderr together. */
  out(): string;
  ready: Promise<void>;
  isReady(): boolean;
  /**
   * A spare (spawnWorker with `spare: true`) has loaded its modules and config and waits for
   * this to start the app; a replica spawned otherwise starts at once and ignores it.
   */
  start(): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
}

/**
 * Spawns the worker fixture the way `kpi start` runs (node --import tsx). Its stdout and
 * stderr are kept, and appended to `outFile` for the secret scan.
 */
export function spawnWorker(configFile: string, env: Record<string, string>, options: { name: string; outFile: string; nodeArgs?: string[]; spare?: boolean }): Proc {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', WORKER, configFile], {
    cwd: ROOT,
    env: { ...process.env, ...env, ...(options.spare ? { START_ON_SIGNAL: '1' } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  let markLoaded: () => void = () => {};
  const loaded = new Promise<void>((resolve) => (markLoaded = resolve));
  const onData = (d: Buffer) => {
    const text = String(d);
    out += text;
    appendFileSync(options.outFile, text);
    if (out.includes('loaded\n')) markLoaded();
    if (out.includes('ready\n')) markReady();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let isReady = false;
  void ready.then(() => (isReady = true));
  const early = (what: string) => exited.then(() => Promise.reject(new Error(`${options.name} exited before it was ${what}:\n${out}`)));
  const readyOrExit = Promise.race([ready, early('ready')]);
  readyOrExit.catch(() => {});
  return {
    name: options.name,
    child,
    out: () => out,
    ready: readyOrExit,
    isReady: () => isReady,
    async start() {
      if (!options.spare) return;
      // Only once its handler is in place: SIGUSR2 would otherwise end the process.
      await Promise.race([loaded, early('loaded')]);
      child.kill('SIGUSR2');
    },
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
  };
}

export async function stopAll(procs: Proc[], signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  for (const p of procs) if (p.alive()) p.child.kill(signal);
  await Promise.all(procs.map((p) => p.exited));
}

// ---------------------------------------------------------------- a Redis of our own

export interface RedisServer {
  port: number;
  url: string;
  /** Stops the server the way a restart does (SIGTERM: the append-only file is flushed). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** SIGKILL: whatever was not yet written to the append-only file is lost. */
  crash(): Promise<void>;
}

/**
 * A redis-server on a free port, configured as docker-compose.yml ships it (append-only
 * file, noeviction), which this suite may stop and start. The shared Redis is never touched.
 */
export async function startRedisServer(dir: string): Promise<RedisServer> {
  const port = await freePort();
  let proc: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const start = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--maxmemory-policy', 'noeviction', '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const p = proc;
    exited = new Promise((resolve) => p.on('exit', () => resolve()));
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => {
        out += String(d);
        if (out.includes('Ready to accept connections')) resolve();
      };
      p.stdout!.on('data', onData);
      p.stderr!.on('data', onData);
      p.on('exit', () => reject(new Error(`redis-server exited: ${out}`)));
    });
  };
  const halt = async (signal: NodeJS.Signals) => {
    if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    await exited;
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, start, stop: () => halt('SIGTERM'), crash: () => halt('SIGKILL') };
}

// ---------------------------------------------------------------- a TCP proxy to cut

export interface TcpProxy {
  port: number;
  /** Every open connection is dropped; new ones are accepted and then never answered. */
  cut(): void;
  restore(): void;
  /** Connections dropped or left unanswered while cut. */
  readonly refused: number;
  /** Connections accepted since the start. */
  readonly accepted: number;
  close(): Promise<void>;
}

/** Sits between the service and a server (Postgres), so a test can make the server unreachable. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const held = new Set<net.Socket>();
  let isCut = false;
  let refused = 0;
  let accepted = 0;
  const server = net.createServer((client) => {
    accepted++;
    client.on('error', () => {});
    if (isCut) {
      refused++;
      held.add(client);
      client.on('close', () => held.delete(client));
      return;
    }
    const upstream = net.connect(target.port, target.host);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() {
      isCut = true;
      for (const [a, b] of pairs) {
        refused++;
        a.destroy();
        b.destroy();
      }
      pairs.clear();
    },
    restore() {
      isCut = false;
      for (const s of held) s.destroy();
      held.clear();
    },
    get refused() {
      return refused;
    },
    get accepted() {
      return accepted;
    },
    async close() {
      isCut = false;
      for (const s of held) s.destroy();
      held.clear();
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------- a slow HTTP proxy

/**
 * Forwards to a fake API, answering each request `delayMs` late: a sync that takes a few
 * seconds instead of a few hundred milliseconds, so it can be killed at many points.
 */
export async function startDelayProxy(target: string, delayMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const timer = setTimeout(() => {
        const fwd = http.request(
          // The Host header is kept, as a transparent proxy keeps it: the API's links then point back through the proxy.
          { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
          (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
          },
        );
        fwd.on('error', () => res.destroy());
        res.on('close', () => fwd.destroy());
        fwd.end(Buffer.concat(chunks));
      }, delayMs);
      res.on('close', () => clearTimeout(timer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------- the secret scan

export interface ScanTargets {
  /** name → value of every secret the configs of this file resolved from the environment. */
  secrets: Record<string, string>;
  /** name → further forms to look for exactly as given (a Basic auth header's base64, say). */
  alsoExact?: Record<string, string[]>;
  /** Log files and captured process output. */
  files?: string[];
  /** Other captured text (in-process log lines, CLI output, error messages), by what it is. */
  texts?: Record<string, string>;
  /** Postgres URLs (with their search_path): every table of that schema is dumped. */
  databases?: string[];
  /** Every key under each prefix, with its value, whatever its type. */
  redis?: Array<{ url: string; prefix: string }>;
}

export interface ScanResult {
  findings: string[];
  stats: { files: number; texts: number; rows: number; keys: number; bytes: number };
}

/** The forms a secret can take on its way out: raw, percent-encoded (either case), form-encoded, JSON-escaped. */
export function forms(value: string): string[] {
  const percent = encodeURIComponent(value);
  return [...new Set([value, percent, percent.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()), new URLSearchParams({ v: value }).toString().slice(2), JSON.stringify(value).slice(1, -1)])];
}

export async function dumpSchema(url: string): Promise<Array<{ table: string; text: string }>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const schema = (await client.query<{ s: string }>('select current_schema() as s')).rows[0]!.s;
    const tables = await client.query<{ t: string }>(`select table_name as t from information_schema.tables where table_schema = $1 and table_type = 'BASE TABLE' order by 1`, [schema]);
    const out: Array<{ table: string; text: string }> = [];
    for (const { t } of tables.rows) {
      const rows = await client.query<{ j: string }>(`select row_to_json(x)::text as j from "${schema}"."${t}" x`);
      for (const r of rows.rows) out.push({ table: t, text: r.j });
    }
    return out;
  } finally {
    await client.end();
  }
}

export async function dumpRedis(url: string, prefix: string): Promise<Array<{ key: string; text: string }>> {
  const redis = new Redis(url, { maxRetriesPerRequest: 2 });
  try {
    const out: Array<{ key: string; text: string }> = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', '1000');
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        let value: unknown;
        if (type === 'string') value = await redis.get(key);
        else if (type === 'hash') value = await redis.hgetall(key);
        else if (type === 'list') value = await redis.lrange(key, 0, -1);
        else if (type === 'set') value = await redis.smembers(key);
        else if (type === 'zset') value = await redis.zrange(key, '0', '-1', 'WITHSCORES');
        else if (type === 'stream') value = await redis.xrange(key, '-', '+');
        out.push({ key, text: `${key} ${JSON.stringify(value)}` });
      }
    } while (cursor !== '0');
    return out;
  } finally {
    redis.disconnect();
  }
}

/** Looks for every form of every secret in everything the targets hold. */
export async function scanForSecrets(targets: ScanTargets): Promise<ScanResult> {
  const needles = Object.entries(targets.secrets).flatMap(([name, value]) => [...forms(value), ...(targets.alsoExact?.[name] ?? [])].map((f) => ({ name, f })));
  const findings: string[] = [];
  const stats = { files: 0, texts: 0, rows: 0, keys: 0, bytes: 0 };
  const look = (where: string, text: string) => {
    stats.bytes += text.length;
    for (const { name, f } of needles) {
      const at = text.indexOf(f);
      if (at >= 0) findings.push(`${name} in ${where}: …${text.slice(Math.max(0, at - 80), at + f.length + 40)}…`);
    }
  };
  for (const file of targets.files ?? []) {
    if (!existsSync(file)) continue;
    stats.files++;
    look(file, readFileSync(file, 'utf8'));
  }
  for (const [what, text] of Object.entries(targets.texts ?? {})) {
    stats.texts++;
    look(what, text);
  }
  for (const url of targets.databases ?? []) {
    for (const row of await dumpSchema(url)) {
      stats.rows++;
      look(`table ${row.table}`, row.text);
    }
  }
  for (const r of targets.redis ?? []) {
    for (const entry of await dumpRedis(r.url, r.prefix)) {
      stats.keys++;
      look(`redis key ${entry.key}`, entry.text);
    }
  }
  return { findings, stats };
}

/** Runs the scan, prints the case line and returns the findings (the caller expects none). */
export async function secretScanCase(what: string, targets: ScanTargets): Promise<string[]> {
  const { findings, stats } = await scanForSecrets(targets);
  report(
    `scan ${what} for ${Object.keys(targets.secrets).length} configured secrets (${stats.files} log/output files, ${stats.texts} captured texts, ${stats.rows} database rows, ${stats.keys} Redis keys, ${(stats.bytes / 1e6).toFixed(1)} MB)`,
    findings.length === 0 ? 'no secret value found anywhere' : `${findings.length} leaks: ${findings.slice(0, 3).join(' | ')}`,
  );
  return findings;
}

/** Distinctive secret values: long enough to be registered, unlike anything else in a log. */
export function secretValue(label: string): string {
  return `${label}-S3cr3t-${Math.random().toString(36).slice(2, 12)}`;
}

// ---------------------------------------------------------------- configs for the scripted source

export interface ScriptedConnector {
  name: string;
  schedule: string;
  startDate: string;
  lookbackDays?: number;
}

/** A valid config whose connectors (type csv) the scripted source in fixtures/source.ts serves. */
export function scriptedYaml(options: { prefix?: string; connectors: ScriptedConnector[]; extra?: string }): string {
  return [
    'reporting: { currency: EUR }',
    options.prefix ? `redis: { prefix: ${options.prefix} }` : '',
    'connectors:',
    ...options.connectors.map(
      (c) =>
        `  - { name: ${c.name}, type: csv, path: unused.csv, date: { column: Day }, metrics: { clicks: Clicks }, schedule: "${c.schedule}", startDate: ${c.startDate}, lookbackDays: ${c.lookbackDays ?? 1} }`,
    ),
    options.extra ?? '',
  ].join('\n');
}

/** connector date campaign value, for comparing with expectedFacts. */
export async function scriptedFacts(db: import('kysely').Kysely<import('../../src/warehouse/index.ts').Database>, connector?: string): Promise<string[]> {
  let q = db.selectFrom('metric_facts').select(['connector', 'date', 'campaign', 'value']).orderBy('connector').orderBy('date').orderBy('campaign');
  if (connector) q = q.where('connector', '=', connector);
  return (await q.execute()).map((f) => `${f.connector} ${f.date} ${f.campaign} ${f.value}`);
}

/** Every KPI value, as text, for comparing a pipeline's result with a full recompute. */
export async function kpiValues(db: import('kysely').Kysely<import('../../src/warehouse/index.ts').Database>): Promise<string[]> {
  const rows = await db.selectFrom('kpi_values').select(['kpi', 'grain', 'period_start', 'period_end', 'dimension', 'dimension_value', 'value']).execute();
  return rows.map((v) => `${v.kpi}|${v.grain}|${v.period_start}|${v.period_end}|${v.dimension}|${v.dimension_value}|${Number(v.value).toPrecision(12)}`).sort();
}

/** A port that counts the connections made to it and closes them: a Redis or Postgres nobody may touch. */
export async function startSentinel(): Promise<{ port: number; readonly connections: number; close(): Promise<void> }> {
  let connections = 0;
  const server = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return connections;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface SlackReceiver {
  /** Webhook URL on the receiver, with `path` as Slack's /services/... part. */
  url(path: string): string;
  /** Every body received, in order. */
  posts: string[];
  close(): Promise<void>;
}

/** A stand-in Slack incoming webhook that keeps every body it is sent and answers "ok". */
export async function startSlackReceiver(): Promise<SlackReceiver> {
  const posts: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += String(c)));
    req.on('end', () => {
      posts.push(body);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: (p) => `http://127.0.0.1:${port}${p}`,
    posts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
