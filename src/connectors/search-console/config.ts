import { z } from 'zod';
import { baseConnectorFields } from '../shared/config.ts';
import { googleAuthSchema } from '../shared/google-auth-config.ts';

export const searchConsoleConfigSchema = z.strictObject({
  ...baseConnectorFields,
  type: z.literal('search_console'),
  siteUrls: z.array(z.string().min(1)).min(1),
  auth: googleAuthSchema,
  /** 'final' skips the last, still changing days; 'all' includes fresh data. */
  dataState: z.enum(['final', 'all']).default('final'),
  /** Which dimension becomes the fact's campaign column. */
  dimension: z.enum(['query', 'page']).default('query'),
  rowLimit: z.number().int().min(1).max(25_000).default(25_000),
});

export type SearchConsoleConfig = z.infer<typeof searchConsoleConfigSchema>;
