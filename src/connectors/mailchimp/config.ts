import type { z } from 'zod';
import { configSchemaOf, parseDefinition, type SourceConfig } from '../declarative/config.ts';
import { mailchimpSource } from '../sources/mailchimp.ts';

/** Mailchimp is a source definition (src/connectors/sources/mailchimp.ts); its config schema comes from it. */
export type MailchimpConfig = SourceConfig & { type: 'mailchimp'; apiKey: string; account: string };

export const mailchimpConfigSchema = configSchemaOf(parseDefinition(mailchimpSource, '"mailchimp"')) as unknown as z.ZodType<MailchimpConfig>;
