import type { z } from 'zod';
import { ConfigError } from '../core/errors.ts';
import { baseMetrics } from '../core/vocabulary.ts';
import { csvConfigSchema } from './csv/config.ts';
import { ga4ConfigSchema } from './ga4/config.ts';
import { googleAdsConfigSchema } from './google-ads/config.ts';
import { httpJsonConfigSchema } from './http-json/config.ts';
import { mailchimpConfigSchema } from './mailchimp/config.ts';
import { metaAdsConfigSchema } from './meta-ads/config.ts';
import { searchConsoleConfigSchema } from './search-console/config.ts';
import { sendgridConfigSchema } from './sendgrid/config.ts';
import type { AnyConnector, Connector, ConnectorConfigBase } from './shared/connector.ts';
import { configSchemaOf, parseDefinition, type SourceConfig } from './declarative/config.ts';
import type { SourceDefinitionInput } from './declarative/definition.ts';
import { sourceDefinitions } from './sources/index.ts';
import { userSourceConfigSchema, type UserSourceConfig } from './declarative/user-source.ts';

interface CatalogEntry<Schema extends z.ZodType<ConnectorConfigBase>> {
  /** Here at once: validating a config needs every type's schema, and schemas are cheap. */
  configSchema: Schema;
  /** Imported on first use: API clients cost tens of megabytes, and a config names two or three types. */
  load(): Promise<Connector<z.output<Schema>>>;
  /**
   * The base metrics a connector of this type writes, known without syncing: what tells which
   * connectors feed a KPI, so that a KPI is complete only when they are (src/metrics/completeness.ts).
   */
  metrics(config: z.output<Schema>): readonly string[];
  /**
   * Days after which the source's numbers for a day are final (GA4 processes a day for about
   * a day more; Search Console reports two to three days late). A day is complete only once
   * it is older than this, as well as synced by every stream. A connector's `settlingDays` overrides it.
   */
  settlingDays: number;
}

/** What the vocabulary says a type writes. */
const writtenBy = (type: string) => (): readonly string[] => baseMetrics.filter((m) => m.writtenBy.includes(type)).map((m) => m.name);

function entry<Schema extends z.ZodType<ConnectorConfigBase>>(
  configSchema: Schema,
  load: () => Promise<Connector<z.output<Schema>>>,
  about: { metrics: (config: z.output<Schema>) => readonly string[]; settlingDays?: number },
): CatalogEntry<Schema> {
  return { configSchema, load, metrics: about.metrics, settlingDays: about.settlingDays ?? 0 };
}

/** A type made of a definition (src/connectors/sources): its schema at once, the engine on first sync. */
function sourceEntry(input: SourceDefinitionInput): CatalogEntry<z.ZodType<SourceConfig>> {
  const def = parseDefinition(input, `"${input.type}"`);
  return entry(configSchemaOf(def), async () => (await import('./declarative/connector.ts')).sourceConnector(def) as unknown as Connector<SourceConfig>, {
    metrics: () => Object.keys(def.metrics),
  });
}

const definedSources = Object.fromEntries(Object.entries(sourceDefinitions).map(([type, def]) => [type, sourceEntry(def)])) as {
  [Type in keyof typeof sourceDefinitions]: CatalogEntry<z.ZodType<SourceConfig & { type: Type }>>;
};

/**
 * Every connector type, keyed by the `type` written in YAML. Each folder holds `config.ts`
 * (the schema, imported here) and `connector.ts` (its defineConnector, imported when a sync
 * of that type first runs).
 */
export const connectorCatalog = {
  csv: entry(csvConfigSchema, async () => (await import('./csv/connector.ts')).csvConnector, { metrics: (c) => Object.keys(c.metrics) }),
  ga4: entry(ga4ConfigSchema, async () => (await import('./ga4/connector.ts')).ga4Connector, { metrics: writtenBy('ga4'), settlingDays: 1 }),
  google_ads: entry(googleAdsConfigSchema, async () => (await import('./google-ads/connector.ts')).googleAdsConnector, { metrics: writtenBy('google_ads') }),
  http_json: entry(httpJsonConfigSchema, async () => (await import('./http-json/connector.ts')).httpJsonConnector, { metrics: (c) => Object.keys(c.fields.metrics) }),
  mailchimp: entry(mailchimpConfigSchema, async () => (await import('./mailchimp/connector.ts')).mailchimpConnector, { metrics: writtenBy('mailchimp') }),
  meta_ads: entry(metaAdsConfigSchema, async () => (await import('./meta-ads/connector.ts')).metaAdsConnector, { metrics: writtenBy('meta_ads') }),
  search_console: entry(searchConsoleConfigSchema, async () => (await import('./search-console/connector.ts')).searchConsoleConnector, { metrics: writtenBy('search_console'), settlingDays: 2 }),
  sendgrid: entry(sendgridConfigSchema, async () => (await import('./sendgrid/connector.ts')).sendgridConnector, { metrics: writtenBy('sendgrid') }),
  ...definedSources,
  // A user's own source: a definition file the config names; its metrics are the file's.
  source: entry(userSourceConfigSchema as unknown as z.ZodType<UserSourceConfig>, async () => (await import('./declarative/connector.ts')).userSourceConnector, {
    metrics: (c) => (c.source ? Object.keys(c.source.metrics) : baseMetrics.map((m) => m.name)),
  }),
};

type Catalog = typeof connectorCatalog;
export type ConnectorType = keyof Catalog;
export type ConnectorConfig = { [Type in ConnectorType]: z.output<Catalog[Type]['configSchema']> }[ConnectorType];

/** The base metrics `config` writes; every metric of the vocabulary for a type this build does not know. */
export function connectorMetrics(config: ConnectorConfigBase): readonly string[] {
  if (!isConnectorType(config.type)) return baseMetrics.map((m) => m.name);
  return (connectorCatalog[config.type] as CatalogEntry<z.ZodType<ConnectorConfigBase>>).metrics(config);
}

/** Days after which a day's numbers from `config` are final: its own setting, or its type's. */
export function settlingDaysOf(config: ConnectorConfigBase & { settlingDays?: number | undefined }): number {
  if (config.settlingDays !== undefined) return config.settlingDays;
  return isConnectorType(config.type) ? connectorCatalog[config.type].settlingDays : 0;
}

/** Own keys only: "constructor" or "toString" must not pass for a connector type. */
export function isConnectorType(type: unknown): type is ConnectorType {
  return typeof type === 'string' && Object.hasOwn(connectorCatalog, type);
}

/** A connector, or a function that loads it (so a process pays only for the types it syncs). */
export type ConnectorEntry = AnyConnector | (() => Promise<AnyConnector>);
/** Implementations by type; tests and embedders pass their own in place of the catalog's. */
export type ConnectorRegistry = Partial<Record<string, ConnectorEntry>>;

/** The catalog's implementations, each loaded when first asked for. */
export const connectorRegistry: ConnectorRegistry = Object.fromEntries(Object.entries(connectorCatalog).map(([type, { load }]) => [type, load]));

/**
 * The implementation of `type`, loaded if need be; a ConfigError when the registry has none
 * (a registry given by a test or an embedder may hold only some types).
 */
export async function connectorFor(type: string, registry: ConnectorRegistry = connectorRegistry): Promise<AnyConnector> {
  const found = Object.hasOwn(registry, type) ? registry[type] : undefined;
  if (!found) throw new ConfigError(`no connector implementation for type "${type}" in this build`);
  return typeof found === 'function' ? found() : found;
}
