import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Kysely } from 'kysely';
import { addDays, todayIn } from '../../src/core/dates.ts';
import type { TimerClock as Clock } from '../../src/core/resilience/index.ts';
import { createLogger, type Logger } from '../../src/core/log.ts';
import type { Database } from '../../src/warehouse/index.ts';

export interface TestConnector {
  name: string;
  schedule?: string;
  /** Zone of the schedule; UTC by default. */
  timezone?: string;
  enabled?: boolean;
  /** Defaults to three days before today, so a first sync reads four days. */
  startDate?: string;
  lookbackDays?: number;
}

export const today = () => todayIn('UTC');
export const defaultStart = () => addDays(today(), -3);

/** Connectors are of type csv (a valid config) and served by the scripted connector. */
export function configYaml(options: { connectors: TestConnector[]; redisPrefix?: string; port?: number; dashboard?: { user: string; password: string }; extra?: string }): string {
  const connectors = options.connectors
    .map(
      (c) => `  - name: ${c.name}
    type: csv
    path: unused.csv
    date: { column: Day }
    metrics: { clicks: Clicks }
    schedule: "${c.schedule ?? '0 0 1 1 *'}"${c.timezone ? `\n    timezone: ${c.timezone}` : ''}
    enabled: ${c.enabled ?? true}
    startDate: ${c.startDate ?? defaultStart()}${c.lookbackDays !== undefined ? `\n    lookbackDays: ${c.lookbackDays}` : ''}`,
    )
    .join('\n');
  return [
    // The scripted source reports in EUR; one currency needs no exchange rates.
    'reporting:\n  currency: EUR',
    `connectors:\n${connectors || '  []'}`,
    options.redisPrefix ? `redis:\n  prefix: ${options.redisPrefix}` : '',
    `server:\n  port: ${options.port ?? 0}${options.dashboard ? `\n  dashboard: { user: ${options.dashboard.user}, password: ${options.dashboard.password} }` : ''}`,
    options.extra ?? '',
  ].join('\n');
}

export function tempDir(prefix = 'kpi-jobs-'): { dir: string; file(name: string, text: string): string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return {
    dir,
    file(name, text) {
      const p = path.join(dir, name);
      writeFileSync(p, text);
      return p;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Logs kept in memory: quiet test output, and a place to look when a test fails. */
export function memoryLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
  return { log, lines };
}

export async function factsOf(db: Kysely<Database>, connector?: string): Promise<string[]> {
  let q = db.selectFrom('metric_facts').select(['connector', 'date', 'campaign', 'value']).orderBy('connector').orderBy('date').orderBy('campaign');
  if (connector) q = q.where('connector', '=', connector);
  return (await q.execute()).map((f) => `${f.connector} ${f.date} ${f.campaign} ${f.value}`);
}

export async function waitFor<T>(probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, options: { timeoutMs?: number; what?: string } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what ?? 'condition'}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface ManualClock extends Clock {
  /** Moves the wall clock and the timers on by `ms`, running each timer due on the way at its time. */
  advance(ms: number): void;
  /** Moves only the wall clock, as a suspended machine or a stepped clock does: timers run on a monotonic clock. */
  jumpWall(ms: number): void;
  /** The delays timers were asked for, in order. */
  delays: number[];
}

/** A clock that moves only when told, for schedules over days of wall-clock time. */
export function manualClock(startIso: string): ManualClock {
  let wall = Date.parse(startIso);
  let monotonic = 0;
  let lastId = 0;
  const timers = new Map<number, { due: number; fire: () => void }>();
  const delays: number[] = [];
  return {
    delays,
    now: () => wall,
    setTimeout(fire, ms) {
      delays.push(ms);
      timers.set(++lastId, { due: monotonic + ms, fire });
      return lastId;
    },
    clearTimeout(id) {
      timers.delete(id as number);
    },
    advance(ms) {
      const end = monotonic + ms;
      for (;;) {
        // The earliest due timer; among equals, the first set (Map keeps insertion order).
        let next: [number, { due: number; fire: () => void }] | undefined;
        for (const entry of timers) if (entry[1].due <= end && (!next || entry[1].due < next[1].due)) next = entry;
        if (!next) break;
        timers.delete(next[0]);
        wall += next[1].due - monotonic;
        monotonic = next[1].due;
        next[1].fire();
      }
      wall += end - monotonic;
      monotonic = end;
    },
    jumpWall(ms) {
      wall += ms;
    },
  };
}
