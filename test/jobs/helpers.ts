import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Kysely } from 'kysely';
import { addDays, todayIn } from '../../src/connectors/index.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import type { Database } from '../../src/warehouse/index.ts';

export interface TestConnector {
  name: string;
  schedule?: string;
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
    schedule: "${c.schedule ?? '0 0 1 1 *'}"
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
