import type { z } from 'zod';
import { ga4ConfigSchema } from './ga4/config.ts';
import { searchConsoleConfigSchema } from './search-console/config.ts';
import { googleAdsConfigSchema } from './google-ads/config.ts';
import { metaAdsConfigSchema } from './meta-ads/config.ts';
import { mailchimpConfigSchema } from './mailchimp/config.ts';
import { sendgridConfigSchema } from './sendgrid/config.ts';
import { csvConfigSchema } from './csv/config.ts';
import { httpJsonConfigSchema } from './http-json/config.ts';

/** Config schema of every connector type, keyed by the `type` written in YAML. */
export const connectorConfigSchemas = {
  ga4: ga4ConfigSchema,
  search_console: searchConsoleConfigSchema,
  google_ads: googleAdsConfigSchema,
  meta_ads: metaAdsConfigSchema,
  mailchimp: mailchimpConfigSchema,
  sendgrid: sendgridConfigSchema,
  csv: csvConfigSchema,
  http_json: httpJsonConfigSchema,
} as const;

export type ConnectorType = keyof typeof connectorConfigSchemas;
export type ConnectorConfig = { [K in ConnectorType]: z.infer<(typeof connectorConfigSchemas)[K]> }[ConnectorType];
