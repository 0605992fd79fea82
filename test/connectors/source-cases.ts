import { afterEach, beforeEach, expect, it } from 'vitest';
import { runSync, type AnyConnector, type ConnectorConfig, type SyncResult } from '../../src/connectors/index.ts';
import type { Sleep } from '../../src/core/resilience/index.ts';
import type { Logger } from '../../src/core/log.ts';
import { restate, type Dataset, type FakeServer, type Fault, type GoogleTokenFake, type Restatement } from '../../src/sandbox/index.ts';
import { listQuarantine, type Warehouse, type WarehouseKind } from '../../src/warehouse/index.ts';
import { useWarehouse } from '../helpers/warehouse.ts';
import { sharedGoogleAuth } from '../../src/connectors/shared/google-auth.ts';
import type { GoogleAuthConfig } from '../../src/connectors/shared/google-auth-config.ts';
import { GOOGLE_SCOPES, type GoogleConnectorType } from '../../src/connectors/shared/google-scopes.ts';
import { capturingLogger, expectNoSecrets, expectSameFacts, fakeSleep, quietLogger, storedFacts, truncateWarehouse, type Facts } from './google-helpers.ts';

/**
 * The cases every API source connector (GA4, Search Console, Google Ads, Meta) must pass in the
 * same way: riding out transient faults, replacing restated days, quarantining a bad record and
 * failing on dead credentials as a config error. Each test file describes its source once and
 * registers these next to the cases only that source has.
 */

/** The connector options the shared cases set; every source connector takes them. */
export interface SourceOptions {
  sleep?: Sleep;
  timeoutMs?: number;
}

export interface Source<O extends SourceOptions> {
  /** The connector's name in `config()`: the facts read back are those stored under it. */
  name: string;
  dataset: Dataset;
  /** The fake the connector reads from, where faults are queued and requests logged. */
  fake(): FakeServer<unknown>;
  /** A piece of the path of the requests that carry data, where faults are aimed. */
  dataPath: string;
  connector(options?: O): AnyConnector;
  config(): ConnectorConfig;
  now(): Date;
  /** The facts a full sync must leave, computed from the data set rather than read from the fake. */
  expected(): Facts;
}

export interface SourceHarness<O extends SourceOptions> {
  readonly source: Source<O>;
  readonly wh: Warehouse;
  sync(options?: O, cfg?: ConnectorConfig, log?: Logger): Promise<SyncResult>;
  /** Fails, listing the differences, unless the warehouse holds exactly `want` for the connector. */
  expectFacts(want?: Facts): Promise<void>;
}

/**
 * Registers, in the describe it is called in, a warehouse emptied before each test and a fake
 * cleared of faults and logged requests; faults a test left unused are dropped after it, so a
 * failing test cannot hand its faults to the next one.
 */
export function sourceHarness<O extends SourceOptions>(source: Source<O>, kind: WarehouseKind = 'postgres'): SourceHarness<O> {
  const wh = useWarehouse(kind, truncateWarehouse);
  beforeEach(() => {
    source.fake().faults.length = 0;
    source.fake().requests.length = 0;
  });
  afterEach(() => {
    source.fake().faults.length = 0;
  });
  return {
    source,
    wh,
    sync: (options, cfg = source.config(), log = quietLogger()) => runSync({ db: wh.db, connector: source.connector(options), config: cfg, log, now: source.now }),
    expectFacts: async (want = source.expected()) => expectSameFacts(await storedFacts(wh.db, source.name), want),
  };
}

/** Syncs the whole window into the empty warehouse and checks what it read, stored and said about each stream. */
export async function expectFullSync(h: SourceHarness<SourceOptions>, rows: number, streams: Record<string, object>, options?: SourceOptions): Promise<SyncResult> {
  const res = await h.sync(options);
  expect(res.error).toBeUndefined();
  expect(res.run).toMatchObject({ status: 'succeeded', rows_read: rows, rows_rejected: 0 });
  await h.expectFacts();
  for (const [stream, flags] of Object.entries(streams)) expect(res.run.flags[`stream:${stream}`], `stream ${stream}`).toMatchObject(flags);
  return res;
}

export async function expectRerunWritesNothing(h: SourceHarness<SourceOptions>): Promise<void> {
  const again = await h.sync();
  expect(again.run).toMatchObject({ status: 'succeeded', rows_written: 0, rows_deleted: 0 });
}

export function expectFailed(res: SyncResult, kind: 'config' | 'transient', error: RegExp): void {
  expect(res.run).toMatchObject({ status: 'failed', error_kind: kind });
  expect(res.run.error).toMatch(error);
}

/** Transient faults that look the same from every source; each source adds its own rate limits and where a body is cut off. */
export const SERVER_FAULTS: Array<[string, Fault]> = [
  ['a burst of 5xx', { kind: '500', times: 3 }],
  ['a 503', { kind: '503', times: 2 }],
  ['a hanging response (timeout)', { kind: 'hang' }],
];

export function itRetries(h: SourceHarness<SourceOptions>, faults: Array<[string, Fault]>): void {
  it.each(faults)('retries %s and still writes exactly the expected facts', async (_name, fault) => {
    const { sleeps, sleep } = fakeSleep();
    const fake = h.source.fake();
    fake.faults.push({ ...fault, path: h.source.dataPath });
    // Only the hang needs a short deadline; elsewhere a slow machine must not look like a hang.
    const res = await h.sync({ sleep, ...(fault.kind === 'hang' ? { timeoutMs: 300 } : {}) });
    expect(res.error).toBeUndefined();
    expect(res.run.status).toBe('succeeded');
    await h.expectFacts();
    expect(fake.faults, 'faults the sync never reached').toHaveLength(0);
    expect(fake.requests.filter((r) => r.fault === fault.kind)).toHaveLength(fault.times ?? 1);
    if (fault.retryAfterSec !== undefined) expect(sleeps).toContain(fault.retryAfterSec * 1000);
  });
}

/** `window`: the stream whose window the second sync reports, and that window (the lookback from today). */
export function itReplacesARestatedDay(
  h: SourceHarness<SourceOptions>,
  within: string,
  restatement: Restatement,
  window?: { stream: string; from: string; to: string },
): void {
  it(`replaces a day that the source restated within ${within}`, async () => {
    await h.sync();
    try {
      restate(h.source.dataset, restatement);
      const res = await h.sync();
      expect(res.run.status).toBe('succeeded');
      if (window) expect((res.run.flags[`stream:${window.stream}`] as { window?: unknown } | undefined)?.window).toEqual({ from: window.from, to: window.to });
      expect(res.run.rows_written).toBeGreaterThan(0);
      await h.expectFacts();
    } finally {
      restate(h.source.dataset, { ...restatement, factor: 1 });
    }
  });
}

export interface TypeChangeCase<R> {
  /** Where the fault strikes, when not the first data request. */
  fault?: Partial<Fault>;
  config?(): ConnectorConfig;
  /** The quarantine reason names the field. */
  reason: RegExp;
  /** The data set's row the fault hits: the first the fake sends. */
  row(): R;
  /** What the quarantined record must show of that row. */
  record?(row: R): object;
  /** The expected facts without the rows `skip` picks. */
  expected(skip: (r: R) => boolean): Facts;
}

/** `what`: the record and field, as in "a row whose clicks". */
export function itQuarantinesATypeChange<R>(h: SourceHarness<SourceOptions>, what: string, c: TypeChangeCase<R>): void {
  it(`quarantines ${what} changed type and keeps the rest`, async () => {
    h.source.fake().faults.push({ kind: 'typeChange', path: h.source.dataPath, ...c.fault });
    const res = await h.sync({}, c.config?.());
    expect(res.run).toMatchObject({ status: 'succeeded', rows_rejected: 1 });
    const [q] = await listQuarantine(h.wh.db, { syncRunId: res.run.id });
    expect(q?.reason).toMatch(c.reason);
    const row = c.row();
    if (c.record) expect(q?.record).toMatchObject(c.record(row));
    await h.expectFacts(c.expected((r) => r === row));
  });
}

/**
 * Makes sure the process holds an access token for the source's credentials before the test,
 * as it does after any earlier sync with them (one token per credential and process): the
 * test's sync then asks for a token only because of what the test does.
 */
export async function holdGoogleToken(config: ConnectorConfig): Promise<void> {
  const { auth, type } = config as unknown as { auth: GoogleAuthConfig; type: GoogleConnectorType };
  await sharedGoogleAuth(auth, [GOOGLE_SCOPES[type]]).provider.headers({ method: 'GET', url: new URL('https://example.invalid/') });
}

/**
 * For Google sources. `unauthorized`: how many requests may meet the dead token, when the
 * connector has several in flight at once.
 */
export function itRefreshesAnExpiredToken(h: SourceHarness<SourceOptions>, token: () => GoogleTokenFake, after: number, unauthorized?: { min: number; max: number }): void {
  it('refreshes an access token the API stopped accepting, once, and succeeds', async () => {
    await holdGoogleToken(h.source.config());
    const issued = token().issued.length;
    h.source.fake().faults.push({ kind: 'expiredToken', path: h.source.dataPath, after });
    const res = await h.sync();
    expect(res.run.status).toBe('succeeded');
    // The token the process held, then one new one after the 401.
    expect(token().issued.length - issued).toBe(1);
    if (unauthorized) {
      const rejected = h.source.fake().requests.filter((r) => r.status === 401).length;
      expect(rejected, 'requests answered 401').toBeGreaterThanOrEqual(unauthorized.min);
      expect(rejected, 'requests answered 401').toBeLessThanOrEqual(unauthorized.max);
    }
    await h.expectFacts();
  });
}

export interface RevokedTokenCase {
  error: RegExp;
  /** Every secret the connector held, asked after the sync so that tokens issued during it count. */
  secrets(): string[];
  /** A line the log must have, so that the secret check is known to have read a real log. */
  logged?: string;
  config?(): ConnectorConfig;
  /** Google sources: the client refreshes once before giving up. */
  refreshesOnce?: () => GoogleTokenFake;
  /** Checks only this source makes. */
  also?(res: SyncResult): void;
}

export function itFailsOnARevokedToken(h: SourceHarness<SourceOptions>, title: string, c: RevokedTokenCase): void {
  it(title, async () => {
    const { log, text } = capturingLogger();
    if (c.refreshesOnce) await holdGoogleToken(c.config?.() ?? h.source.config());
    h.source.fake().faults.push({ kind: 'revokedToken', path: h.source.dataPath });
    const issued = c.refreshesOnce?.().issued.length ?? 0;
    const res = await h.sync({}, c.config?.(), log);
    expectFailed(res, 'config', c.error);
    // The token held, refused; one new one, refused too.
    if (c.refreshesOnce) expect(c.refreshesOnce().issued.length - issued, 'access tokens issued').toBe(1);
    c.also?.(res);
    const secrets = c.secrets();
    expectNoSecrets(String(res.run.error), secrets);
    expectNoSecrets(text(), secrets);
    if (c.logged) expect(text()).toContain(c.logged);
  });
}
