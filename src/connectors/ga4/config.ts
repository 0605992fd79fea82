import { z } from 'zod';
import { baseConnectorFields } from '../shared/config.ts';
import { googleAuthSchema } from '../shared/google-auth-config.ts';

export const ga4ConfigSchema = z.strictObject({
  ...baseConnectorFields,
  type: z.literal('ga4'),
  propertyIds: z.array(z.string().regex(/^\d+$/, 'expected a numeric GA4 property id, e.g. "123456789"')).min(1),
  auth: googleAuthSchema,
  /** Rows per runReport page (the API allows up to 250,000). */
  pageSize: z.number().int().min(1).max(250_000).default(10_000),
});

export type Ga4Config = z.infer<typeof ga4ConfigSchema>;
