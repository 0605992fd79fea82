import { ConfigError } from '../errors.ts';
import type { AnyConnector } from './shared/connector.ts';

/** A connector, or a function that loads it (so a process pays only for the types it syncs). */
export type ConnectorEntry = AnyConnector | (() => Promise<AnyConnector>);
export type ConnectorRegistry = Partial<Record<string, ConnectorEntry>>;

/**
 * The implementation of each connector type. Each source folder adds its entry here as it
 * lands; a config naming a type whose implementation is missing fails at sync time with a
 * ConfigError rather than at load time, so configs stay valid across versions.
 *
 * Entries import their folder on first use: loading all of them (API clients included) cost
 * every process tens of megabytes, though a config usually names two or three types.
 */
export const connectorRegistry: ConnectorRegistry = {
  csv: async () => (await import('./csv/index.ts')).csvConnector as unknown as AnyConnector,
  ga4: async () => (await import('./ga4/index.ts')).ga4Connector as unknown as AnyConnector,
  google_ads: async () => (await import('./google-ads/index.ts')).googleAdsConnector as unknown as AnyConnector,
  http_json: async () => (await import('./http-json/index.ts')).httpJsonConnector as unknown as AnyConnector,
  mailchimp: async () => (await import('./mailchimp/index.ts')).mailchimpConnector as unknown as AnyConnector,
  meta_ads: async () => (await import('./meta-ads/index.ts')).metaAdsConnector as unknown as AnyConnector,
  search_console: async () => (await import('./search-console/index.ts')).searchConsoleConnector as unknown as AnyConnector,
  sendgrid: async () => (await import('./sendgrid/index.ts')).sendgridConnector as unknown as AnyConnector,
};

/** The implementation of `type`, loaded if need be; a ConfigError when this build has none. */
export async function connectorFor(type: string, registry: ConnectorRegistry = connectorRegistry): Promise<AnyConnector> {
  // Own keys only: "constructor" or "toString" must not resolve to Object's methods.
  const found = Object.hasOwn(registry, type) ? registry[type] : undefined;
  if (!found) throw new ConfigError(`no connector implementation for type "${type}" in this build`);
  return typeof found === 'function' ? found() : found;
}
