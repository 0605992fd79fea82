import { z } from 'zod';
import { baseConnectorFields } from '../shared/config.ts';

export const mailchimpConfigSchema = z.strictObject({
  ...baseConnectorFields,
  type: z.literal('mailchimp'),
  /** Mailchimp keys end in the datacenter, e.g. "…-us6". */
  apiKey: z.string().regex(/-[a-z]+\d+$/, 'expected a Mailchimp API key ending in its datacenter, e.g. "…-us6"'),
  account: z.string().min(1).default('mailchimp'),
});

export type MailchimpConfig = z.infer<typeof mailchimpConfigSchema>;
