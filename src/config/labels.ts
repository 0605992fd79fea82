import type { ConnectorConfig } from '../connectors/catalog.ts';
import { sourceDefinitions } from '../connectors/sources/index.ts';

/**
 * Dimension values in the words messages use: "Google Ads" for the connector google-ads,
 * "Paid search" for the channel paid_search. One place, so Slack, email and the digest
 * name a series the same way.
 */

/** The product a connector type reads; csv and http_json read anything, so their connectors go by their own names. */
const PRODUCT: Readonly<Record<string, string>> = {
  ga4: 'GA4',
  search_console: 'Search Console',
  google_ads: 'Google Ads',
  meta_ads: 'Meta Ads',
  mailchimp: 'Mailchimp',
  sendgrid: 'SendGrid',
  // Sources made of definitions carry their product's name.
  ...Object.fromEntries(Object.entries(sourceDefinitions).map(([type, d]) => [type, d.title])),
};

type Labelled = Pick<ConnectorConfig, 'name' | 'type'> & { label?: string | undefined };

/** A connector's `label`; else its product's name when it is the only connector of its type; else its name. */
export function connectorLabel(connectors: readonly Labelled[], name: string): string {
  const connector = connectors.find((c) => c.name === name);
  if (!connector) return name;
  if (connector.label) return connector.label;
  const product = PRODUCT[connector.type];
  return product && connectors.filter((c) => c.type === connector.type).length === 1 ? product : name;
}

/** "paid_search" → "Paid search". */
function channelLabel(channel: string): string {
  const words = channel.replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** A dimension value in words; an empty one (facts without a campaign or channel) says so. */
export function dimensionLabel(connectors: readonly Labelled[], dimension: 'connector' | 'channel' | 'campaign', value: string): string {
  if (value === '') return `no ${dimension}`;
  if (dimension === 'connector') return connectorLabel(connectors, value);
  if (dimension === 'channel') return channelLabel(value);
  return value;
}
