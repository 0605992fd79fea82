import { z } from 'zod';
import { baseConnectorFields } from '../shared/config.ts';

const auth = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('none') }),
  z.strictObject({ type: z.literal('bearer'), token: z.string().min(1) }),
  z.strictObject({ type: z.literal('basic'), username: z.string().min(1), password: z.string() }),
  z.strictObject({ type: z.literal('header'), name: z.string().min(1), value: z.string().min(1) }),
  z.strictObject({ type: z.literal('query'), name: z.string().min(1), value: z.string().min(1) }),
]);

const pagination = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('none') }),
  z.strictObject({ type: z.literal('page'), param: z.string().default('page'), start: z.number().int().default(1), sizeParam: z.string().optional(), size: z.number().int().positive().optional() }),
  z.strictObject({ type: z.literal('offset'), param: z.string().default('offset'), sizeParam: z.string().default('limit'), size: z.number().int().positive().default(100) }),
  z.strictObject({ type: z.literal('cursor'), param: z.string().default('cursor'), cursorPath: z.string().min(1) }),
  z.strictObject({ type: z.literal('link_header') }),
]);

export const httpJsonConfigSchema = z.strictObject({
  ...baseConnectorFields,
  type: z.literal('http_json'),
  /** With {from} and {to} replaced by the window's dates (YYYY-MM-DD). */
  url: z.string().min(1),
  params: z.record(z.string(), z.string()).default({}),
  auth: auth.default({ type: 'none' }),
  pagination: pagination.default({ type: 'none' }),
  /** Dot path to the array of records in the body, e.g. "orders" or "data.items"; empty for a top-level array. */
  recordsPath: z.string().default(''),
  account: z.string().min(1).default('api'),
  /** Long windows are requested in chunks of this many days, so memory stays bounded. */
  chunkDays: z.number().int().min(1).max(366).default(7),
  /** Extra headers, e.g. an API version. */
  headers: z.record(z.string(), z.string()).default({}),
  fields: z.strictObject({
    /** A field that identifies a record (order id); records seen twice in one sync count once. */
    id: z.string().min(1).optional(),
    date: z.string().min(1),
    /** iso (dates or timestamps, read in the connector's time zone), unix, unix_ms, or a luxon format. */
    dateFormat: z.string().default('iso'),
    campaign: z.string().optional(),
    channel: z.string().optional(),
    currency: z.string().optional(),
    /** metric → field path, or {count: true} to count records, or {sum: path, scale} (scale 0.01 for cents). */
    metrics: z.record(
      z.string().regex(/^[a-z][a-z0-9_]*$/, 'metric names are lower_snake_case'),
      z.union([z.string().min(1), z.strictObject({ count: z.literal(true), where: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional() }), z.strictObject({ sum: z.string().min(1), scale: z.number().optional(), where: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional() })]),
    ),
  }),
});

export type HttpJsonConfig = z.infer<typeof httpJsonConfigSchema>;
