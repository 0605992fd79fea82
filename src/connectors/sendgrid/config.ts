import type { z } from 'zod';
import { configSchemaOf, parseDefinition, type SourceConfig } from '../declarative/config.ts';
import { sendgridSource } from '../sources/sendgrid.ts';

/** SendGrid is a source definition (src/connectors/sources/sendgrid.ts); its config schema comes from it. */
export const sendgridConfigSchema = configSchemaOf(parseDefinition(sendgridSource, '"sendgrid"')) as unknown as z.ZodType<SendgridConfig>;

export type SendgridConfig = SourceConfig & { type: 'sendgrid'; apiKey: string; account: string; categories?: string[] | undefined };
