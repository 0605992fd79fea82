import type { z } from 'zod';
import type { Logger } from '../../log.ts';
import type { Kysely } from 'kysely';
import type { Database, DateString } from '../../warehouse/index.ts';

/** Inclusive range of reporting dates. */
export interface DateWindow {
  from: DateString;
  to: DateString;
}

/** What a source says about one of its accounts (property, customer, ad account, site). */
export interface StreamInfo {
  /** Currency its money metrics are in; null for sources without money. */
  currency: string | null;
  /** IANA zone its reporting dates are in; decides what "today" is for the window. */
  timeZone: string;
}

/** One base-metric value from a record; the framework adds connector and account. */
export interface FactValue {
  date: DateString;
  campaign?: string;
  channel?: string;
  metric: string;
  value: number;
  currency?: string | null;
}

/**
 * A fact as a plain literal of one shape. Normalizers that wrote `{ ...base, metric, value }`
 * paid for V8's slow path for a spread followed by new keys, about 80× slower, several times
 * for every record a sync reads.
 */
export function factValue(date: DateString, campaign: string, channel: string, metric: string, value: number, currency: string | null): FactValue {
  return { date, campaign, channel, metric, value, currency };
}

export interface ReadContext {
  log: Logger;
  signal: AbortSignal;
  /** Records something about the data on the run, e.g. flag('sampled', true). */
  flag(name: string, value: unknown): void;
}

/**
 * A connector reads one source. `read` yields pages of raw records for one stream and
 * window, in ascending date order, so the framework can commit each day as it completes and
 * memory stays flat however large the source is.
 */
export interface SourceReader<Raw> {
  describe(stream: string): Promise<StreamInfo>;
  read(stream: string, window: DateWindow, ctx: ReadContext): AsyncIterable<unknown[]>;
  /** Validates one raw record; a failure sends the record to quarantine with the zod message. */
  recordSchema: z.ZodType<Raw>;
  /** Turns a valid record into base-metric values; throwing DataError quarantines the record. */
  normalize(record: Raw, stream: string, info: StreamInfo): FactValue[];
  /**
   * Sources whose data is not a rolling window of days (files) choose their own window:
   * the dates their changed input covers, or null when nothing changed and the stream is skipped.
   */
  planWindow?(stream: string, proposed: DateWindow, explicit: boolean): Promise<DateWindow | null>;
  /** Runs once every stream has been committed, e.g. to remember which files were loaded. */
  afterSync?(runId: number): Promise<void>;
  close?(): Promise<void>;
}

export interface OpenContext {
  log: Logger;
  signal: AbortSignal;
  /** Folder of the config file; relative paths in connector config resolve against it. */
  configDir: string;
  /** For connectors that keep their own bookkeeping (which files were loaded). */
  db: Kysely<Database>;
}

export interface Connector<Cfg extends { type: string; name: string }, Raw = unknown> {
  type: Cfg['type'];
  /** Days re-read before the checkpoint, because the source restates them. */
  defaultLookbackDays(config: Cfg): number;
  /** Days read on the very first sync when the config gives no startDate. */
  initialDays?: number;
  streams(config: Cfg): string[];
  open(config: Cfg, ctx: OpenContext): Promise<SourceReader<Raw>> | SourceReader<Raw>;
}

export type AnyConnector = Connector<{ type: string; name: string }, unknown>;
