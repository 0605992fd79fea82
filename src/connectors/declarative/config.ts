import { z } from 'zod';
import { ConfigError } from '../../core/errors.ts';
import { baseConnectorFields, httpConnectorFields } from '../shared/config.ts';
import { sourceDefinitionSchema, type ConfigField, type SourceDefinition } from './definition.ts';

/** The config schema a definition gives its type: cheap, so the catalog builds it at once; the engine loads on first sync. */

/** A connector's config as the engine sees it: the common fields and the definition's own. */
export type SourceConfig = z.output<typeof commonSchema>;

const commonSchema = z.strictObject({ ...baseConnectorFields, ...httpConnectorFields, type: z.string() });

// One parse and one schema per definition object: the catalog's schema is the implementation's (registry.test.ts).
const parsedDefinitions = new WeakMap<object, SourceDefinition>();
const schemas = new WeakMap<SourceDefinition, z.ZodType<SourceConfig>>();

/** Checks a definition; a ConfigError listing its problems with their paths. */
export function parseDefinition(input: unknown, where: string): SourceDefinition {
  const known = input !== null && typeof input === 'object' ? parsedDefinitions.get(input) : undefined;
  if (known) return known;
  if (parsedDefinitions.has(input as object)) return input as SourceDefinition;
  const parsed = sourceDefinitionSchema.safeParse(input);
  if (parsed.success) {
    if (input !== null && typeof input === 'object') parsedDefinitions.set(input, parsed.data);
    parsedDefinitions.set(parsed.data, parsed.data);
    return parsed.data;
  }
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
  throw new ConfigError(`source definition ${where} is not valid: ${problems}`);
}

/**
 * The schema of one setting. The one `accounts` names needs a value, and a list of them at
 * least one: without, the connector has no stream, and every sync would succeed having read
 * nothing.
 */
export function fieldSchema(f: ConfigField, namesAccounts = false): z.ZodType {
  let s: z.ZodType;
  const min = namesAccounts ? Math.max(f.min ?? 1, 1) : f.min;
  if (f.kind === 'list') s = min !== undefined ? z.array(z.string().min(1)).min(min, namesAccounts ? `give at least ${min}: each is an account the connector reads` : undefined) : z.array(z.string().min(1));
  else if (f.kind === 'number') s = z.number().min(f.min ?? Number.NEGATIVE_INFINITY).max(f.max ?? Number.POSITIVE_INFINITY);
  else s = f.pattern ? z.string().regex(new RegExp(f.pattern[0]), f.pattern[1]) : z.string().min(1);
  if (f.default !== undefined) s = s.default(f.default as never);
  else if (f.optional) s = s.optional();
  return s.describe(f.description);
}

/** The schemas of a definition's own settings, by name. */
export function settingsShape(def: SourceDefinition): Record<string, z.ZodType> {
  const accounts = def.accounts.list ?? def.accounts.single;
  return Object.fromEntries(Object.entries(def.config).map(([k, f]) => [k, fieldSchema(f, k === accounts)]));
}

/** The settings that enable a `requests: all` definition's requests, when every one has a `when`; else none. */
function requestSettings(def: SourceDefinition): string[] {
  if (def.requests !== 'all') return [];
  const list = Array.isArray(def.request) ? def.request : [def.request];
  return list.every((r) => r.when !== undefined) ? [...new Set(list.map((r) => r.when!))] : [];
}

function isSet(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0);
}

/** The zod schema of a `type:` entry for this definition: the fields every connector has, then its own. */
export function configSchemaOf(def: SourceDefinition): z.ZodType<SourceConfig> {
  const known = schemas.get(def);
  if (known) return known;
  const own = settingsShape(def);
  const enabling = requestSettings(def);
  const schema = z.strictObject({ ...baseConnectorFields, ...httpConnectorFields, type: z.literal(def.type), ...own }).superRefine((config, ctx) => {
    // `requests: all` with a setting behind each request: none set, the connector would read nothing.
    if (enabling.length === 0 || enabling.some((key) => isSet((config as Record<string, unknown>)[key]))) return;
    ctx.addIssue({ code: 'custom', path: [enabling[0]!], message: `set at least one of ${enabling.join(', ')}: each is a request the connector reads, and with none it would read nothing` });
  }) as unknown as z.ZodType<SourceConfig>;
  schemas.set(def, schema);
  return schema;
}

