import { z } from 'zod';
import { baseConnectorFields, httpConnectorFields } from '../shared/config.ts';
import { googleAuthSchema } from '../shared/google-auth-config.ts';

export const ga4ConfigSchema = z.strictObject({
  ...baseConnectorFields,
  ...httpConnectorFields,
  type: z.literal('ga4'),
  propertyIds: z
    .array(z.string().regex(/^\d+$/, 'expected a numeric GA4 property id, e.g. "123456789"'))
    .min(1)
    .describe('the GA4 properties to read, by numeric id (quoted, e.g. `["123456789"]`); each is an account'),
  auth: googleAuthSchema,
  pageSize: z.number().int().min(1).max(250_000).default(10_000).describe('rows per runReport page (the API allows up to 250,000)'),
});

export type Ga4Config = z.infer<typeof ga4ConfigSchema>;
