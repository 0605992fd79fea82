import { z } from 'zod';
import { baseConnectorFields, httpConnectorFields } from '../shared/config.ts';
import { googleAuthSchema } from '../shared/google-auth-config.ts';

export const searchConsoleConfigSchema = z.strictObject({
  ...baseConnectorFields,
  ...httpConnectorFields,
  type: z.literal('search_console'),
  siteUrls: z.array(z.string().min(1)).min(1).describe('the properties to read: `sc-domain:example.com` or a URL prefix such as `https://example.com/`'),
  auth: googleAuthSchema,
  dataState: z.enum(['final', 'all']).default('final').describe('`final` skips the last, still changing days; `all` includes fresh data'),
  dimension: z.enum(['query', 'page']).default('query').describe("which dimension becomes the fact's campaign"),
  rowLimit: z.number().int().min(1).max(25_000).default(25_000).describe('rows per request (the API allows up to 25,000)'),
});

export type SearchConsoleConfig = z.infer<typeof searchConsoleConfigSchema>;
