import type { z } from 'zod';
import type { DateRange } from '../../core/dates.ts';
import type { Logger } from '../../core/log.ts';
import type { DateString, Fact } from '../../warehouse/index.ts';
import type { Discovery } from './discover.ts';

export type { Fact };

/** What a source says about one of its accounts (property, customer, ad account, site). */
export interface StreamInfo {
  /** Currency its money metrics are in; null for sources without money. */
  currency: string | null;
  /** IANA zone its reporting dates are in; decides what "today" is for the window. */
  timeZone: string;
  /**
   * The zone is the connector's guess (its `timezone`), the source having said nothing yet: a
   * reader that learns it from its first answer rather than asking. The sync then marks days
   * complete two days later than usual, as the guess may be up to two dates off.
   */
  provisional?: boolean;
}

/**
 * A fact as a plain literal of one shape. Normalizers that wrote `{ ...base, metric, value }`
 * paid for V8's slow path for a spread followed by new keys, about 80× slower, several times
 * for every record a sync reads.
 */
export function fact(date: DateString, campaign: string, channel: string, metric: string, value: number, currency: string | null, campaignId = ''): Fact {
  return { date, campaign, campaignId, channel, metric, value, currency };
}

export interface ReadContext<State = undefined> {
  log: Logger;
  signal: AbortSignal;
  /**
   * Dates a record may carry (startDate minus lookback to tomorrow): a record outside them is a
   * mistake to quarantine, not another sync's day to skip.
   */
  validDates: DateRange;
  /** What the stream's last successful sync left (see SourceReader.stateSchema). */
  state: State | undefined;
  /** Records something about the data on the run, e.g. flag('sampled', true). */
  flag(name: string, value: unknown): void;
  /**
   * What the answer itself says about the account (GA4's metadata, the customer fields of a
   * Google Ads row, Meta's account_currency): used for the records from here on, and kept with
   * the stream's checkpoint, so the next sync's describe needs no request.
   */
  learn(info: Partial<StreamInfo>): void;
}

export interface PlanContext<State = undefined> {
  /** The window was asked for (a backfill) rather than derived from the checkpoint. */
  explicit: boolean;
  /** What the stream's last successful sync left (see SourceReader.stateSchema). */
  state: State | undefined;
}

/**
 * A connector reads one source. `read` yields pages of raw records for one stream and
 * window, in ascending date order, so the framework can commit each day as it completes and
 * memory stays flat however large the source is.
 */
export interface SourceReader<Raw, State = undefined> {
  /**
   * The account's currency and zone. `known` is what the source said at an earlier sync (kept
   * with the checkpoint): a reader returns it rather than ask again, as each request counts
   * against the source's quota; the answers keep it current through ReadContext.learn.
   */
  describe(stream: string, known?: StreamInfo): Promise<StreamInfo>;
  /**
   * Pages of records. What it returns at the end becomes the stream's state: committed with
   * the stream's last day, so a sync that fails keeps the state the last good one left.
   */
  read(stream: string, window: DateRange, ctx: ReadContext<State>): AsyncIterable<unknown[], State | void>;
  /** Validates one raw record; a failure sends the record to quarantine with the zod message. */
  recordSchema: z.ZodType<Raw>;
  /** Turns a valid record into base-metric values; throwing DataError quarantines the record. */
  normalize(record: Raw, stream: string, info: StreamInfo): Fact[];
  /**
   * For sources that keep something of their own per stream between syncs (which files were
   * loaded). Stored state that no longer fits is dropped with a warning: the stream then
   * starts as if it had none, which costs a full read and never loses data.
   */
  stateSchema?: z.ZodType<State>;
  /**
   * Sources whose data is not a rolling window of days (files) choose their own window:
   * the dates their changed input covers, or null when nothing changed and the stream is skipped.
   */
  planWindow?(stream: string, proposed: DateRange, plan: PlanContext<State>): Promise<DateRange | null>;
  close?(): Promise<void>;
}

export interface OpenContext {
  log: Logger;
  signal: AbortSignal;
  /** Folder of the config file; relative paths in connector config resolve against it. */
  configDir: string;
}

/** What the framework reads from every connector's config. */
export interface ConnectorConfigBase {
  type: string;
  name: string;
}

export interface Connector<Cfg extends ConnectorConfigBase = ConnectorConfigBase, Raw = unknown> {
  type: Cfg['type'];
  /** Days re-read before the checkpoint, because the source restates them. */
  defaultLookbackDays(config: Cfg): number;
  /** Days read on the very first sync when the config gives no startDate. */
  initialDays?: number;
  streams(config: Cfg): string[];
  /** Each reader's state is its own: the framework stores it and hands it back, never looks inside. */
  open(config: Cfg, ctx: OpenContext): Promise<SourceReader<Raw, unknown>> | SourceReader<Raw, unknown>;
  /** `kpi check`: whether the credentials work and what they can see (see shared/discover.ts). */
  discover?(config: Cfg, ctx: OpenContext): Promise<Discovery>;
}

export type AnyConnector = Connector<ConnectorConfigBase, unknown>;

/** A connector as its folder declares it; see defineConnector. */
export interface ConnectorDefinition<Schema extends z.ZodType<ConnectorConfigBase>, Raw, State> {
  type: z.output<Schema>['type'];
  /** The schema the config layer checks this type's YAML with; the implementation's config type comes from it. */
  configSchema: Schema;
  /** Days re-read before the checkpoint, because the source restates them; a function when the config decides. */
  defaultLookbackDays: number | ((config: z.output<Schema>) => number);
  /** Days read on the very first sync when the config gives no startDate (30 by default). */
  initialDays?: number;
  /** One stream per account (property, customer, file set) the config names. */
  streams(config: z.output<Schema>): string[];
  open(config: z.output<Schema>, ctx: OpenContext): Promise<SourceReader<Raw, State>> | SourceReader<Raw, State>;
  /**
   * Checks the credentials and lists the accounts they can see, for `kpi check`. Throws
   * CredentialsRefusedError when the source refuses the credentials; reports configured
   * accounts out of reach as problems. Every catalog type has one (test/connectors/registry.test.ts).
   */
  discover?(config: z.output<Schema>, ctx: OpenContext): Promise<Discovery>;
}

export type DefinedConnector<Schema extends z.ZodType<ConnectorConfigBase>, Raw> = Connector<z.output<Schema>, Raw> & { configSchema: Schema };

/**
 * A connector type: its config schema and the code that reads its source. The config type
 * the other functions see is the schema's output, so an implementation cannot drift from the
 * YAML it is given.
 */
export function defineConnector<Schema extends z.ZodType<ConnectorConfigBase>, Raw, State = undefined>(
  definition: ConnectorDefinition<Schema, Raw, State>,
): DefinedConnector<Schema, Raw> {
  const { type, configSchema, defaultLookbackDays: lookback, initialDays, streams, open, discover } = definition;
  return {
    type,
    configSchema,
    defaultLookbackDays: typeof lookback === 'number' ? () => lookback : lookback,
    ...(initialDays !== undefined ? { initialDays } : {}),
    streams,
    open,
    ...(discover ? { discover } : {}),
  };
}
