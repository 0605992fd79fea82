import { describe, expect, it } from 'vitest';
import type { AnyConnector, ConnectorConfig } from '../../src/connectors/index.ts';
import { sourceConnector } from '../../src/connectors/declarative/connector.ts';
import type { SourceOptions } from '../../src/connectors/declarative/engine.ts';
import type { SourceDefinitionInput } from '../../src/connectors/declarative/definition.ts';
import type { Dataset, FakeServer, Fault, Restatement } from '../../src/sandbox/index.ts';
import { warehouseKinds } from '../helpers/warehouse.ts';
import { quietLogger, type Facts } from './google-helpers.ts';
import { expectFullSync, expectRerunWritesNothing, itFailsOnARevokedToken, itQuarantinesATypeChange, itReplacesARestatedDay, itRetries, SERVER_FAULTS, sourceHarness, type Source } from './source-cases.ts';

/**
 * The cases every source made of a definition passes against its fake: a full sync that
 * follows the pages, a re-sync that writes nothing, a restated day within the lookback
 * replaced, 429 and 5xx ridden out, a record that does not read quarantined while the rest
 * is stored, and dead credentials failing as a configuration error without a secret in sight.
 * A source's test file describes its source once and calls `conformance`.
 */
export interface SourceUnderTest<Row> {
  definition: SourceDefinitionInput;
  /** The connector's name in `config()`. */
  name: string;
  dataset: Dataset;
  fake(): FakeServer<unknown>;
  /** A piece of the path of the data requests, where faults are aimed. */
  dataPath: string;
  config(): ConnectorConfig;
  now(): Date;
  /** The facts a full sync leaves, computed from the data set; `skip` leaves rows out. */
  expected(skip?: (row: Row) => boolean): Facts;
  /** Records a full sync reads (the API's records, before any fan-out). */
  rows(): number;
  /** Makes the fake serve small pages; undefined for an API that does not page. */
  smallPages?: { set(): void; reset(): void };
  /** A day within the lookback that the source restates. */
  restatement: Restatement;
  /** A 429 as this API sends it (its own Retry-After or reset header). */
  rateLimit: Fault;
  /** `config` and `expected` where the case syncs another config (one account, so the struck record is known). */
  typeChange: { reason: RegExp; row(): Row; config?(): ConnectorConfig; expected?(skip: (row: Row) => boolean): Facts };
  revoked: { error: RegExp; secrets(): string[] };
  /** What `kpi check` lists for config(): the accounts (portal, advertisers) the credentials see. */
  check?: { accounts: string[] };
}

/** Retries that take no time, so the fault cases run fast whatever the backoff. */
function connectorOf(definition: SourceDefinitionInput, options: SourceOptions = {}): AnyConnector {
  return sourceConnector(definition, { retry: { baseDelayMs: 1, maxDelayMs: 5 }, timeoutMs: 10_000, ...options }) as unknown as AnyConnector;
}

export function conformance<Row>(title: string, s: SourceUnderTest<Row>): void {
  const source: Source<SourceOptions> = {
    name: s.name,
    dataset: s.dataset,
    fake: s.fake,
    dataPath: s.dataPath,
    connector: (options) => connectorOf(s.definition, options),
    config: s.config,
    now: s.now,
    expected: () => s.expected(),
  };

  describe.each(warehouseKinds)(`${title} conformance on %s`, (kind) => {
    const h = sourceHarness(source, kind);
    const dataRequests = () => s.fake().requests.filter((r) => r.path.includes(s.dataPath)).length;

    it('reads the whole window into exactly the expected facts; a re-sync writes nothing', async () => {
      await expectFullSync(h, s.rows(), {});
      await expectRerunWritesNothing(h);
    });

    if (s.smallPages) {
      const pages = s.smallPages;
      it('follows the pages of a window to the end', async () => {
        const whole = await h.sync();
        expect(whole.run.status).toBe('succeeded');
        const onePageEach = dataRequests();
        s.fake().requests.length = 0;
        pages.set();
        try {
          await h.wh.db.deleteFrom('metric_facts').execute();
          await h.wh.db.deleteFrom('checkpoints').execute();
          const res = await h.sync();
          expect(res.run).toMatchObject({ status: 'succeeded', rows_read: s.rows(), rows_rejected: 0 });
          expect(dataRequests()).toBeGreaterThan(onePageEach);
          await h.expectFacts();
        } finally {
          pages.reset();
        }
      });
    }

    if (s.check) {
      const want = s.check.accounts;
      it('kpi check: the credentials work and see the accounts, with nothing to fix', async () => {
        const c = s.config();
        const connector = connectorOf(s.definition);
        const seen = await connector.discover!(c, { log: quietLogger(), signal: new AbortController().signal, configDir: '.' });
        expect(seen.problems).toEqual([]);
        expect(seen.accounts.filter((a) => a.accessible).map((a) => a.id).sort()).toEqual([...want].sort());
      });
    }

    itReplacesARestatedDay(h, 'the lookback', s.restatement);
    itRetries(h, [['a 429', s.rateLimit], ...SERVER_FAULTS]);
    itQuarantinesATypeChange(h, 'a record whose field', {
      reason: s.typeChange.reason,
      row: s.typeChange.row,
      expected: (skip) => (s.typeChange.expected ?? s.expected)(skip),
      ...(s.typeChange.config ? { config: s.typeChange.config } : {}),
    });
    itFailsOnARevokedToken(h, 'fails on revoked credentials as a config error, no secret in its error or log', { error: s.revoked.error, secrets: s.revoked.secrets });
  });
}
