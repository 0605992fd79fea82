import { z } from 'zod';

/**
 * A source as data: what to ask an API and how its answer becomes facts. A definition is a
 * TS object (src/connectors/sources/) or a YAML file (a user's own source, `type: source`),
 * checked by this schema; src/connectors/declarative/engine.ts runs it. Text values are
 * templates: `{config.NAME}` (the connector's config), `{account}` (the stream), and the
 * window's `{from}`, `{to}` (YYYY-MM-DD), `{from:FORMAT}` / `{to:FORMAT}` (a luxon format such
 * as `yyyyMMdd`, `y`, `M`, `d`), `{from_unix}` / `{to_unix}` and `{from_ms}` / `{to_ms}` (the
 * first and last second or millisecond of those days in the date zone), `{start_iso}` /
 * `{end_iso}` (the window's first instant and the instant after its last day, in UTC ISO),
 * `{zone}` (the zone the window's days are in: the account's, once `describe` has said it).
 * `{config.NAME|after:-}` keeps what follows the last `-` (a Mailchimp key's datacenter);
 * `{config.NAME|json}` writes the value as JSON (a list as ["a","b"]).
 */

const template = z.string();
const where = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));

/** A setting the connector's YAML entry gives (an API key, account ids), beside the fields every connector has. */
const configField = z.strictObject({
  kind: z.enum(['string', 'secret', 'list', 'number']).describe('`secret` values are scrubbed from every output; `list` is a list of texts'),
  description: z.string().min(1).describe("the line the configuration reference shows for it"),
  optional: z.boolean().default(false),
  default: z.union([z.string(), z.number(), z.array(z.string())]).optional(),
  /** A regular expression the value must match, and the message when it does not. */
  pattern: z.tuple([z.string(), z.string()]).optional(),
  min: z.number().optional(),
  max: z.number().optional(),
});
export type ConfigField = z.infer<typeof configField>;

const auth = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('none') }),
  z.strictObject({ type: z.literal('bearer'), token: template }),
  z.strictObject({ type: z.literal('basic'), username: template, password: template }),
  z.strictObject({ type: z.literal('header'), name: z.string().min(1), value: template }),
  z.strictObject({ type: z.literal('query'), name: z.string().min(1), value: template }),
  z.strictObject({
    type: z.literal('oauth2_refresh'),
    tokenUrl: template.describe('the token endpoint the refresh-token grant is posted to'),
    clientId: template,
    clientSecret: template,
    refreshToken: template,
    scope: template.optional(),
  }),
]);

const pagination = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('none') }),
  z.strictObject({
    type: z.literal('page'),
    param: z.string().default('page'),
    start: z.number().int().default(1),
    sizeParam: z.string().optional(),
    size: z.number().int().positive().optional(),
    /** Path to the number of pages, when the API gives one: paging stops there rather than on a short page. */
    totalPagesPath: z.string().optional(),
  }),
  z.strictObject({
    type: z.literal('offset'),
    param: z.string().default('offset'),
    sizeParam: z.string().default('limit'),
    size: z.number().int().positive().default(100),
    /** Path to the total count, when the API gives one: paging stops there rather than on a short page. */
    totalPath: z.string().optional(),
  }),
  z.strictObject({
    type: z.literal('cursor'),
    param: z.string().default('cursor'),
    cursorPath: z.string().min(1),
    /** Where the cursor goes back: a query parameter, or a key of the JSON body (a search API). */
    in: z.enum(['query', 'body']).default('query'),
  }),
  z.strictObject({ type: z.literal('link_header') }),
  z.strictObject({ type: z.literal('next_url'), path: z.string().min(1).describe('dot path to the next page\'s URL in the body') }),
]);

const request = z.strictObject({
  method: z.enum(['GET', 'POST']).default('GET'),
  /** Path (or URL) of the endpoint, a template; relative to the base URL. */
  path: template,
  query: z.record(z.string(), z.union([template, z.array(template)])).default({}),
  /** JSON body (POST), every text in it a template; `{config.LIST}` alone stands for the list. */
  body: z.unknown().optional(),
  headers: z.record(z.string(), template).default({}),
  /** Use this request only when the config's value of this key is set and not empty. */
  when: z.string().optional(),
  /** Values (templates) each record of this request's answers carries under `_request.`: which metric a request per metric asked for. */
  fields: z.record(z.string(), template).optional(),
});
export type RequestSpec = z.infer<typeof request>;

const metric = z.union([
  z.string().min(1),
  z.strictObject({
    /** A path, or paths of which the first present one counts. */
    path: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    /** Paths to add up. */
    sum: z.array(z.string().min(1)).optional(),
    /** Paths to take away from the sum. */
    minus: z.array(z.string().min(1)).optional(),
    /** Count the record (1) instead of reading a number. */
    count: z.literal(true).optional(),
    /** A factor (cents to units: 0.01); zero would store every value as 0, so it is refused. */
    scale: z.number().refine((v) => v !== 0, 'scale 0 would store every value as 0').optional(),
    /** Never below zero (a difference of counts). */
    atLeastZero: z.boolean().optional(),
    /** Only records whose fields (dot paths) have these values. */
    where: where.optional(),
    /** Only records whose fields do not have these values. */
    whereNot: where.optional(),
  }),
]);
export type MetricSpec = z.infer<typeof metric>;

/** A dimension: a constant, a path into the record, or a path whose value is mapped. */
const dimension = z.union([
  z.strictObject({ value: z.string() }),
  z.strictObject({
    /** A path, or paths of which the first with a value counts. */
    path: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    /** Value → what is stored; values not listed are stored as they are, or as `otherwise`. */
    map: z.record(z.string(), z.string()).optional(),
    otherwise: z.string().optional(),
    /** Keep what follows the last `:` (a URN such as urn:li:sponsoredCampaign:123). */
    afterLast: z.string().optional(),
  }),
]);

export const sourceDefinitionSchema = z.strictObject({
  type: z.string().regex(/^[a-z][a-z0-9_]*$/).describe('the `type` a config entry names'),
  title: z.string().min(1).describe('the product name messages and `kpi check` show'),
  config: z.record(z.string().regex(/^[a-zA-Z][a-zA-Z0-9]*$/), configField).default({}),
  baseUrl: template.describe('the API origin (and path prefix), e.g. https://api.hubapi.com; a config entry\'s baseUrl replaces its scheme, host and port'),
  auth: auth.default({ type: 'none' }),
  headers: z.record(z.string(), template).default({}),
  /** The streams: one per value of a list setting (ad accounts), or one named by a setting. */
  accounts: z.strictObject({ list: z.string().optional(), single: z.string().optional() }).refine((a) => (a.list === undefined) !== (a.single === undefined), 'give list or single'),
  /** The data request; several, each with `when`, choose by config (the first whose `when` is set, else the one without). */
  request: z.union([request, z.array(request).min(1)]),
  /** `first`: one request of the list, chosen as above; `all`: every one without `when` or whose `when` is set, their records read together (one request per metric). */
  requests: z.enum(['first', 'all']).default('first'),
  pagination: pagination.default({ type: 'none' }),
  window: z
    .strictObject({
      chunkDays: z.number().int().min(1).max(366).default(31),
      lookbackDays: z.number().int().min(0).max(365).default(3),
      /** The zone dates are in: the connector's `timezone`, or UTC (SendGrid, LinkedIn). */
      zone: z.enum(['config', 'UTC']).default('config'),
    })
    .default({ chunkDays: 31, lookbackDays: 3, zone: 'config' }),
  records: z.string().default('').describe('dot path to the array of records in the answer; empty for a top-level array'),
  /** Each record fans out into the items of this array inside it (SendGrid's stats per day); `_parent.` reaches the record. */
  explode: z.string().optional(),
  /**
   * Parallel arrays made records (an answer in columns: a list of dates beside a list of counts):
   * `{ KEY: path }`, each path a list in the record (`_answer.` reaches the whole answer); the
   * i-th record has KEY: the i-th element of each list, and `_parent.` reaches the record.
   */
  zip: z.record(z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]*$/), z.string().min(1)).refine((z) => Object.keys(z).length > 0, 'give at least one list').optional(),
  date: z.strictObject({ path: z.string().min(1), format: z.string().default('iso') }).describe('`iso`, `unix`, `unix_ms`, `ymd_object` ({year, month, day}) or a luxon format'),
  dimensions: z
    .strictObject({ channel: dimension.default({ value: '' }), campaign: dimension.optional(), campaignId: dimension.optional() })
    .default({ channel: { value: '' } }),
  /** Currency of money metrics: a path, a constant, or the account's (from `describe`). */
  currency: dimension.optional(),
  /** One request per stream for the account's currency and zone. */
  describe: z.strictObject({ request, currencyPath: z.string().optional(), timeZonePath: z.string().optional() }).optional(),
  metrics: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/), metric),
  /** How the API answers a rate limit: the header with the reset time. */
  rateLimit: z.strictObject({ resetHeader: z.string(), resetIs: z.enum(['epoch_seconds', 'seconds']).default('seconds') }).optional(),
  /** Answers that mean something other than their status says: a 200 with an error body, a 400 that is a throttle. */
  errors: z
    .array(
      z.strictObject({
        status: z.union([z.number().int(), z.array(z.number().int())]).optional(),
        /** Dot path and value in the body, e.g. { path: code, equals: "40100" }. */
        body: z.strictObject({ path: z.string(), equals: z.union([z.string(), z.number()]).optional(), notEquals: z.union([z.string(), z.number()]).optional() }).optional(),
        kind: z.enum(['config', 'transient', 'ok']),
      }),
    )
    .default([]),
  /** `kpi check`: one request listing the accounts the credentials see. */
  check: z
    .strictObject({
      request,
      /** Path to the list of accounts; an object there is one account. */
      records: z.string().default(''),
      id: z.string(),
      name: z.string().optional(),
      currency: z.string().optional(),
      timeZone: z.string().optional(),
      kind: z.string().default('account'),
      /** Whether the configured accounts are ids the listing must hold (false where the account is only a label). */
      matchAccounts: z.boolean().default(true),
    })
    .optional(),
  concurrency: z.strictObject({ default: z.number().int().min(1).default(2), max: z.number().int().min(1).default(50) }).default({ default: 2, max: 50 }),
}).superRefine((def, ctx) => {
  // A misspelt or optional accounts setting would leave the connector without streams: every
  // sync would succeed having read nothing.
  const [key, name] = def.accounts.list !== undefined ? ['list', def.accounts.list] : ['single', def.accounts.single];
  if (name === undefined) return;
  const field = Object.hasOwn(def.config, name) ? def.config[name] : undefined;
  const path = ['accounts', key];
  if (!field) ctx.addIssue({ code: 'custom', path, message: `names the setting "${name}", which \`config\` does not have (it has: ${Object.keys(def.config).join(', ') || 'none'})` });
  else if (field.optional && field.default === undefined) ctx.addIssue({ code: 'custom', path, message: `names the setting "${name}", which is optional: unset, the connector would read nothing; give it a default or make it required` });
});

export type SourceDefinition = z.infer<typeof sourceDefinitionSchema>;
export type SourceDefinitionInput = z.input<typeof sourceDefinitionSchema>;
