import { z } from 'zod';
import { baseConnectorFields } from '../shared/config.ts';

export const csvConfigSchema = z.strictObject({
  ...baseConnectorFields,
  type: z.literal('csv'),
  path: z.string().min(1).describe("a file, or a glob with wildcards in the file name, relative to the config file's folder"),
  account: z.string().min(1).default('csv').describe('the account the facts are stored under'),
  delimiter: z.string().length(1).default(',').describe('the character between columns'),
  decimalSeparator: z.enum(['.', ',']).default('.').describe('the decimal mark of numbers in the file'),
  date: z
    .strictObject({
      column: z.string().min(1).describe("the column holding each line's date"),
      format: z.string().min(1).default('yyyy-MM-dd').describe('luxon format tokens of the date, e.g. `dd.MM.yyyy`'),
    })
    .describe('where each line says its day'),
  dimensions: z
    .strictObject({
      campaign: z.string().min(1).optional().describe('the column holding the campaign (its name)'),
      campaignId: z.string().min(1).optional().describe("the column holding the campaign's id: facts are keyed by it, and the campaign column is its (latest) name"),
      channel: z.string().min(1).optional().describe('the column holding the channel'),
    })
    .default({})
    .describe('columns that split the numbers (column names)'),
  metrics: z
    .record(z.string().regex(/^[a-z][a-z0-9_]*$/, 'metric names are lower_snake_case'), z.string().min(1))
    .refine((m) => Object.keys(m).length > 0, 'map at least one metric to a column')
    .describe('metric name → the column holding it, e.g. `{ leads: Leads }`'),
  currency: z.string().regex(/^[A-Z]{3}$/).optional().describe('ISO code of the money columns, when all lines share one'),
  currencyColumn: z.string().min(1).optional().describe("the column holding each line's currency code"),
});

export type CsvConfig = z.infer<typeof csvConfigSchema>;
