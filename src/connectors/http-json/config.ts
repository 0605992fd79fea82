import { z } from 'zod';
import { baseConnectorFields, httpConnectorFields } from '../shared/config.ts';

const auth = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('none') }),
    z.strictObject({ type: z.literal('bearer'), token: z.string().min(1).describe('sent as `Authorization: Bearer TOKEN`') }),
    z.strictObject({ type: z.literal('basic'), username: z.string().min(1).describe('Basic auth user name'), password: z.string().describe('Basic auth password') }),
    z.strictObject({ type: z.literal('header'), name: z.string().min(1).describe('the header that carries the credential'), value: z.string().min(1).describe('its value') }),
    z.strictObject({ type: z.literal('query'), name: z.string().min(1).describe('the query parameter that carries the credential (redacted from logged URLs)'), value: z.string().min(1).describe('its value') }),
  ])
  .describe('how requests authenticate: `none`, `bearer`, `basic`, `header` or `query`');

const pagination = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('none') }),
    z.strictObject({
      type: z.literal('page'),
      param: z.string().default('page').describe('the page number parameter'),
      start: z.number().int().default(1).describe('number of the first page'),
      sizeParam: z.string().optional().describe('the page size parameter, if any'),
      size: z.number().int().positive().optional().describe('page size sent in sizeParam'),
    }),
    z.strictObject({
      type: z.literal('offset'),
      param: z.string().default('offset').describe('the offset parameter'),
      sizeParam: z.string().default('limit').describe('the page size parameter'),
      size: z.number().int().positive().default(100).describe('records per page'),
    }),
    z.strictObject({
      type: z.literal('cursor'),
      param: z.string().default('cursor').describe('the parameter the next cursor is sent in'),
      cursorPath: z.string().min(1).describe('dot path in the body to the next cursor, e.g. `data.-1.id` (the last record\'s id)'),
    }),
    z.strictObject({ type: z.literal('link_header') }),
  ])
  .describe('how further pages are requested: `none`, `page`, `offset`, `cursor` or `link_header` (the next URL in a Link header)');

const where = z
  .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
  .optional()
  .describe('only records whose fields (dot paths) have these values');

export const httpJsonConfigSchema = z.strictObject({
  ...baseConnectorFields,
  ...httpConnectorFields,
  type: z.literal('http_json'),
  url: z
    .string()
    .min(1)
    .describe("the endpoint; `{from}` and `{to}` are replaced by the window's dates (YYYY-MM-DD), `{from_unix}` and `{to_unix}` by the first and last second of those days in `timezone`"),
  params: z.record(z.string(), z.string()).default({}).describe('query parameters, with the same placeholders as url'),
  auth: auth.default({ type: 'none' }),
  pagination: pagination.default({ type: 'none' }),
  recordsPath: z.string().default('').describe('dot path to the array of records in the body, e.g. `orders` or `data.items`; empty for a top-level array'),
  account: z.string().min(1).default('api').describe('the account the facts are stored under'),
  chunkDays: z.number().int().min(1).max(366).default(7).describe('long windows are requested in chunks of this many days, so memory stays bounded'),
  headers: z.record(z.string(), z.string()).default({}).describe('extra request headers, e.g. an API version'),
  fields: z
    .strictObject({
      id: z.string().min(1).optional().describe('a field that identifies a record (an order id): a record seen twice in one sync counts once'),
      date: z.string().min(1).describe("path to the record's date"),
      dateFormat: z
        .string()
        .default('iso')
        .describe("`iso` (dates, or timestamps moved into the connector's timezone), `unix`, `unix_ms`, or a luxon format"),
      campaign: z.string().optional().describe("path to the record's campaign (its name)"),
      campaignId: z.string().min(1).optional().describe("path to the campaign's id: facts are keyed by it, and `campaign` is its (latest) name"),
      channel: z.string().optional().describe("path to the record's channel"),
      currency: z.string().optional().describe("path to the record's currency code"),
      metrics: z
        .record(
          z.string().regex(/^[a-z][a-z0-9_]*$/, 'metric names are lower_snake_case'),
          z.union([
            z.string().min(1),
            z.strictObject({ count: z.literal(true).describe('count the records'), where }),
            z.strictObject({ sum: z.string().min(1).describe('path of the number to sum'), scale: z.number().optional().describe('factor applied to each value, e.g. 0.01 for cents'), where }),
          ]),
        )
        .describe('metric → a field path, `{ count: true, where }` to count records, or `{ sum: path, scale, where }`; a path may end in an array index, `-1` for the last element'),
    })
    .describe('where each record keeps its date, dimensions and numbers (dot paths)'),
});

export type HttpJsonConfig = z.infer<typeof httpJsonConfigSchema>;
