import { z } from 'zod';
import { baseConnectorFields } from '../shared/config.ts';

export const csvConfigSchema = z.strictObject({
  ...baseConnectorFields,
  type: z.literal('csv'),
  /** A file path or a glob, relative to the config file's folder. */
  path: z.string().min(1),
  account: z.string().min(1).default('csv'),
  delimiter: z.string().length(1).default(','),
  decimalSeparator: z.enum(['.', ',']).default('.'),
  date: z.strictObject({
    column: z.string().min(1),
    /** luxon format tokens, e.g. yyyy-MM-dd or dd.MM.yyyy */
    format: z.string().min(1).default('yyyy-MM-dd'),
  }),
  dimensions: z
    .strictObject({ campaign: z.string().min(1).optional(), channel: z.string().min(1).optional() })
    .default({}),
  /** metric name → column */
  metrics: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/, 'metric names are lower_snake_case'), z.string().min(1)).refine((m) => Object.keys(m).length > 0, 'map at least one metric to a column'),
  currency: z.string().regex(/^[A-Z]{3}$/).optional(),
  currencyColumn: z.string().min(1).optional(),
});

export type CsvConfig = z.infer<typeof csvConfigSchema>;
