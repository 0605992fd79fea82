import { Writable } from 'node:stream';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, expect } from 'vitest';
import { createLogger, type Logger } from '../../src/core/log.ts';
import { CredentialStore, GOOGLE_STATIC_TOKEN, SANDBOX_OAUTH_CLIENT, startGoogleTokenFake, type Dataset, type FakeServer, type GoogleTokenFake } from '../../src/sandbox/index.ts';
import type { Database } from '../../src/warehouse/index.ts';

/** Helpers shared by the source connector tests (the Google ones and Meta). */

export const OAUTH = SANDBOX_OAUTH_CLIENT;

/** The auth block of a Google connector, secrets by ${env:…} as ops write them. */
export function googleAuthYaml(indent = '    '): string {
  return `${indent}auth: { type: oauth, clientId: ${OAUTH.clientId}, clientSecret: "\${env:G_CLIENT_SECRET}", refreshToken: "\${env:G_REFRESH_TOKEN}", tokenUrl: "\${var:TOKEN_URL}" }`;
}

export function googleEnv(token: GoogleTokenFake, extra: Record<string, string> = {}): Record<string, string> {
  return { G_CLIENT_SECRET: OAUTH.clientSecret, G_REFRESH_TOKEN: OAUTH.refreshToken, TOKEN_URL: token.tokenUrl, ...extra };
}

/** What a Google connector holds that must never reach a log or an error: its client secrets and every token it was issued. */
export function googleSecrets(token: GoogleTokenFake, ...extra: string[]): string[] {
  return [OAUTH.clientSecret, OAUTH.refreshToken, ...extra, ...token.issued];
}

/**
 * A Google API fake and the token endpoint sharing one credential store, as Google's do, started
 * before the tests of the file (or describe) this is called in and closed after them. The object
 * is returned at once so that config builders can capture it.
 */
export function useGoogle<S>(
  dataset: Dataset,
  start: (ds: Dataset, options: { credentials: CredentialStore }) => Promise<FakeServer<S>>,
): { readonly token: GoogleTokenFake; readonly api: FakeServer<S> } {
  let started: { token: GoogleTokenFake; api: FakeServer<S> } | undefined;
  const current = () => {
    if (!started) throw new Error('the Google fakes only run inside the tests and hooks of the file that started them');
    return started;
  };
  beforeAll(async () => {
    const credentials = new CredentialStore([GOOGLE_STATIC_TOKEN]);
    const token = await startGoogleTokenFake({ credentials });
    started = { token, api: await start(dataset, { credentials }) };
  });
  afterAll(async () => {
    if (started) await Promise.all([started.token.close(), started.api.close()]);
    started = undefined;
  });
  return {
    get token() {
      return current().token;
    },
    get api() {
      return current().api;
    },
  };
}

/** Sleeps that return at once and are remembered; `onSleep` may change the world meanwhile. */
export function fakeSleep(onSleep?: (ms: number) => void): { sleeps: number[]; sleep: (ms: number, signal?: AbortSignal) => Promise<void> } {
  const sleeps: number[] = [];
  return {
    sleeps,
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      sleeps.push(ms);
      onSleep?.(ms);
    },
  };
}

export function capturingLogger(): { log: Logger; text: () => string } {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }) });
  return { log, text: () => lines.join('') };
}

export const quietLogger = (): Logger => createLogger({ destination: new Writable({ write: (_c, _e, cb) => cb() }) });

export async function truncateWarehouse(db: Kysely<Database>): Promise<void> {
  await sql`truncate metric_facts, checkpoints, sync_runs, quarantine`.execute(db);
}

export interface Fact {
  value: number;
  currency: string | null;
}

/** Facts keyed account|date|campaign|channel|metric; values on one key add up, as in the warehouse. */
export class Facts {
  readonly map = new Map<string, Fact>();

  add(account: string, date: string, campaign: string, channel: string, metric: string, value: number, currency: string | null): void {
    const key = [account, date, campaign, channel, metric].join('|');
    const seen = this.map.get(key);
    if (seen) seen.value += value;
    else this.map.set(key, { value, currency });
  }
}

export async function storedFacts(db: Kysely<Database>, connector: string): Promise<Facts> {
  const rows = await db.selectFrom('metric_facts').select(['account', 'date', 'campaign', 'channel', 'metric', 'value', 'currency']).where('connector', '=', connector).execute();
  const out = new Facts();
  for (const r of rows) out.add(r.account, String(r.date), r.campaign, r.channel, r.metric, Number(r.value), r.currency);
  return out;
}

/** Same keys, same currencies, values equal to 6 decimals; lists the differences when not. */
export function expectSameFacts(actual: Facts, expected: Facts): void {
  const problems: string[] = [];
  for (const [key, want] of expected.map) {
    const got = actual.map.get(key);
    if (!got) problems.push(`missing ${key}=${want.value}`);
    else if (Math.abs(got.value - want.value) > 1e-6 || got.currency !== want.currency) problems.push(`${key}: got ${got.value} ${got.currency}, want ${want.value} ${want.currency}`);
  }
  for (const key of actual.map.keys()) if (!expected.map.has(key)) problems.push(`unexpected ${key}`);
  expect(problems.slice(0, 20)).toEqual([]);
  expect(actual.map.size).toBe(expected.map.size);
}

/** Every secret value a test must never find in logs or errors. */
export function expectNoSecrets(text: string, secrets: Iterable<string>): void {
  for (const s of secrets) expect(text.includes(s), `secret ${s.slice(0, 6)}… leaked`).toBe(false);
}
