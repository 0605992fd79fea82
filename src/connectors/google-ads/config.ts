import { z } from 'zod';
import { baseConnectorFields, httpConnectorFields } from '../shared/config.ts';
import { googleAuthSchema } from '../shared/google-auth-config.ts';

const customerId = z
  .string()
  .transform((s) => s.replace(/-/g, ''))
  .pipe(z.string().regex(/^\d{10}$/, 'expected a 10-digit Google Ads customer id, e.g. "123-456-7890"'));

export const googleAdsConfigSchema = z.strictObject({
  ...baseConnectorFields,
  ...httpConnectorFields,
  type: z.literal('google_ads'),
  customerIds: z.array(customerId).min(1).describe('the accounts to read, 10 digits with or without dashes (`"123-456-7890"`)'),
  loginCustomerId: customerId.optional().describe('the manager account the credentials reach the customers through'),
  developerToken: z.string().min(1).describe("your Google Ads API developer token (a secret, e.g. `${env:GOOGLE_ADS_DEVELOPER_TOKEN}`)"),
  auth: googleAuthSchema,
  apiVersion: z.string().regex(/^v\d+$/).default('v21').describe('Google Ads API version, e.g. `v21`'),
  conversionWindowDays: z
    .number()
    .int()
    .min(1)
    .max(90)
    .default(14)
    .describe('conversions are attributed back up to this many days, so those days are re-read (the default lookbackDays)'),
});

export type GoogleAdsConfig = z.infer<typeof googleAdsConfigSchema>;
