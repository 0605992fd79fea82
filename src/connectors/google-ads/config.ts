import { z } from 'zod';
import { baseConnectorFields } from '../shared/config.ts';
import { googleAuthSchema } from '../shared/google-auth-config.ts';

const customerId = z
  .string()
  .transform((s) => s.replace(/-/g, ''))
  .pipe(z.string().regex(/^\d{10}$/, 'expected a 10-digit Google Ads customer id, e.g. "123-456-7890"'));

export const googleAdsConfigSchema = z.strictObject({
  ...baseConnectorFields,
  type: z.literal('google_ads'),
  customerIds: z.array(customerId).min(1),
  loginCustomerId: customerId.optional(),
  developerToken: z.string().min(1),
  auth: googleAuthSchema,
  apiVersion: z.string().regex(/^v\d+$/).default('v21'),
  /** Conversions are attributed back up to this many days, so those days are re-read. */
  conversionWindowDays: z.number().int().min(1).max(90).default(14),
});

export type GoogleAdsConfig = z.infer<typeof googleAdsConfigSchema>;
