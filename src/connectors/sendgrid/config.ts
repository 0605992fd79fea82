import { z } from 'zod';
import { baseConnectorFields } from '../shared/config.ts';

export const sendgridConfigSchema = z.strictObject({
  ...baseConnectorFields,
  type: z.literal('sendgrid'),
  apiKey: z.string().min(1),
  account: z.string().min(1).default('sendgrid'),
  /** When set, stats are read per category and the category becomes the campaign. */
  categories: z.array(z.string().min(1)).optional(),
});

export type SendgridConfig = z.infer<typeof sendgridConfigSchema>;
