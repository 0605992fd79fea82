import { ConfigError } from '../errors.ts';
import type { AnyConnector } from './shared/connector.ts';
import { csvConnector } from './csv/index.ts';
import { ga4Connector } from './ga4/index.ts';
import { googleAdsConnector } from './google-ads/index.ts';
import { httpJsonConnector } from './http-json/index.ts';
import { mailchimpConnector } from './mailchimp/index.ts';
import { metaAdsConnector } from './meta-ads/index.ts';
import { searchConsoleConnector } from './search-console/index.ts';
import { sendgridConnector } from './sendgrid/index.ts';

/**
 * The implementation of each connector type. Each source folder adds its entry here as it
 * lands; a config naming a type whose implementation is missing fails at sync time with a
 * ConfigError rather than at load time, so configs stay valid across versions.
 */
export const connectorRegistry: Partial<Record<string, AnyConnector>> = {
  csv: csvConnector as unknown as AnyConnector,
  ga4: ga4Connector as unknown as AnyConnector,
  google_ads: googleAdsConnector as unknown as AnyConnector,
  http_json: httpJsonConnector as unknown as AnyConnector,
  mailchimp: mailchimpConnector as unknown as AnyConnector,
  meta_ads: metaAdsConnector as unknown as AnyConnector,
  search_console: searchConsoleConnector as unknown as AnyConnector,
  sendgrid: sendgridConnector as unknown as AnyConnector,
};

export function connectorFor(type: string, registry: Partial<Record<string, AnyConnector>> = connectorRegistry): AnyConnector {
  const found = registry[type];
  if (!found) throw new ConfigError(`no connector implementation for type "${type}" in this build`);
  return found;
}
