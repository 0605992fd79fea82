import { z } from 'zod';
import { durationText } from '../core/duration.ts';
import { configTypes } from '../core/schema.ts';
import { connectorCatalog } from '../connectors/catalog.ts';
import { configSchema } from './schema.ts';

/**
 * The configuration reference, made from the zod schemas that validate a config: a JSON
 * Schema for editors (config/kpi.schema.json) and the README's tables of every field with its
 * type, default and meaning (each field's `.describe()`). `npm run docs:config` writes both;
 * test/config/reference.test.ts fails when either differs from what the schemas give now.
 */

/** A JSON Schema node, as zod writes it. */
export interface JsonNode {
  type?: string | string[];
  description?: string;
  default?: unknown;
  const?: unknown;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  maxLength?: number;
  properties?: Record<string, JsonNode>;
  required?: string[];
  additionalProperties?: JsonNode | boolean;
  propertyNames?: JsonNode;
  items?: JsonNode;
  anyOf?: JsonNode[];
  oneOf?: JsonNode[];
  allOf?: JsonNode[];
  [TYPE_NAME]?: string;
  [FROM_TEXT]?: boolean;
  [key: string]: unknown;
}

/** Where a node's type name (duration, cron, ...) is kept while the reference is made; never written out. */
const TYPE_NAME = 'x-kpi-type';
/** Marks a value the loader converts from text (a port read with z.coerce), so `${var:NAME}` fits there too; never written out. */
const FROM_TEXT = 'x-kpi-from-text';

/** The top-level schema with connectors as what they are: one of the catalog's types (the loader checks them one by one). */
function documentedSchema() {
  const types = Object.values(connectorCatalog).map((entry) => entry.configSchema) as unknown as [z.ZodObject, z.ZodObject, ...z.ZodObject[]];
  return configSchema.extend({
    connectors: z
      .array(z.discriminatedUnion('type', types))
      .default([])
      .describe(configSchema.shape.connectors.description ?? ''),
  });
}

/** The JSON Schema of a config file, with the type names the reference shows. */
function annotatedJsonSchema(): JsonNode {
  return z.toJSONSchema(documentedSchema(), {
    io: 'input',
    // Preprocessed values (durations) have no JSON Schema of their own; the override below gives them one.
    unrepresentable: 'any',
    override: ({ zodSchema, jsonSchema }) => {
      const node = jsonSchema as JsonNode;
      const meta = configTypes.get(zodSchema as unknown as z.ZodType);
      if (meta) {
        node[TYPE_NAME] = meta.typeName;
        if (meta.jsonSchema) {
          delete node.type;
          Object.assign(node, meta.jsonSchema);
        }
      }
      // A default is a parsed value: a duration's is milliseconds, which the file writes as text.
      const def = (zodSchema as unknown as z.ZodType)._zod.def as { type: string; innerType?: z.ZodType; defaultValue?: unknown; coerce?: boolean };
      if (def.coerce) node[FROM_TEXT] = true;
      if (def.type === 'default' && def.innerType && configTypes.get(def.innerType)?.typeName.startsWith('duration')) {
        if (typeof def.defaultValue === 'number') node.default = durationText(def.defaultValue);
      }
    },
  }) as JsonNode;
}

// ------------------------------------------------------------------ the JSON Schema file

/** A value the loader replaces before checking it: `${env:NAME}` or `${var:NAME}`. */
const REFERENCE = { type: 'string', pattern: '^.*\\$\\{(env|var):[A-Za-z_][A-Za-z0-9_]*\\}.*$', description: 'a value from the environment: ${env:NAME} (a secret) or ${var:NAME}' };

/**
 * The schema editors get: without the reference's marks, and where a value is checked
 * against a pattern (an API key, an id) or read from text (a port), `${env:NAME}` and
 * `${var:NAME}` fit too: the loader checks such a value only once it is replaced.
 */
export function configJsonSchema(): JsonNode {
  const visit = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(visit);
    if (value === null || typeof value !== 'object') return value;
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) if (key !== TYPE_NAME && key !== FROM_TEXT) out[key] = visit(item);
    const node = out as JsonNode;
    // An object's default is its fields' defaults, which each field shows (and durations in it are milliseconds).
    if (node.properties && node.default !== undefined) delete node.default;
    if ((node.type === 'string' && node.pattern !== undefined) || (value as JsonNode)[FROM_TEXT]) {
      const { description, default: dflt, ...rest } = node;
      return { ...(description ? { description } : {}), ...(dflt !== undefined ? { default: dflt } : {}), anyOf: [rest, { $ref: '#/$defs/reference' }] };
    }
    return node;
  };
  const schema = visit(annotatedJsonSchema()) as JsonNode;
  return { ...schema, title: 'kpi-pipeline configuration', $defs: { reference: REFERENCE } };
}

// ------------------------------------------------------------------ the README tables

interface Row {
  key: string;
  type: string;
  default: string;
  meaning: string;
  described: boolean;
}

const code = (s: string) => `\`${s}\``;

/** A value in YAML flow style, as one would write it. */
function flow(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(flow).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    return entries.length === 0 ? '{}' : `{ ${entries.map(([k, v]) => `${k}: ${flow(v)}`).join(', ')} }`;
  }
  if (typeof value === 'string') return value === '' ? '""' : /^[\w./:@*+-][\w ./:@*+-]*$/.test(value) ? value : JSON.stringify(value);
  return String(value);
}

/** zod writes an integer's implicit bounds (±2^53 − 1); they say nothing. */
const bound = (n: number | undefined) => (n === undefined || Math.abs(n) >= Number.MAX_SAFE_INTEGER ? undefined : n);

function range(node: JsonNode): string {
  const [min, max, above] = [bound(node.minimum), bound(node.maximum), bound(node.exclusiveMinimum)];
  if (min !== undefined && max !== undefined) return ` ${min}–${max}`;
  if (above !== undefined) return ` > ${above}`;
  if (min !== undefined) return ` ≥ ${min}`;
  if (max !== undefined) return ` ≤ ${max}`;
  return '';
}

/** The alternatives of a union whose members are objects told apart by one constant field. */
function discriminated(node: JsonNode): { field: string; variants: Array<[string, JsonNode]> } | undefined {
  const members = node.oneOf ?? node.anyOf;
  if (!members || members.length < 2 || !members.every((m) => m.properties)) return undefined;
  const field = Object.keys(members[0]!.properties!).find((key) => members.every((m) => m.properties![key]?.const !== undefined));
  if (!field) return undefined;
  return { field, variants: members.map((m) => [String(m.properties![field]!.const), m]) };
}

/** The type a cell shows; `nested` inside another type's name, where an object shows its keys. */
function typeOf(node: JsonNode, nested = false): string {
  if (node[TYPE_NAME]) return node[TYPE_NAME];
  if (node.const !== undefined) return code(String(node.const));
  if (node.enum) return node.enum.map((v) => code(String(v))).join(' \\| ');
  const union = discriminated(node);
  if (union) return `object by ${code(union.field)}`;
  const members = node.oneOf ?? node.anyOf;
  if (members) return members.map((m) => typeOf(m, true)).join(' or ');
  switch (node.type) {
    case 'string':
      return node.minLength === 1 && node.maxLength === 1 ? 'character' : 'text';
    case 'integer':
    case 'number':
      return `${node.type}${range(node)}`;
    case 'boolean':
      return 'boolean';
    case 'array':
      return node.items ? `list of ${typeOf(node.items, true)}` : 'list';
    case 'object':
      if (node.properties) return nested ? `{ ${Object.keys(node.properties).join(', ')} }` : 'object';
      if (typeof node.additionalProperties === 'object') {
        const keys = node.propertyNames ? typeOf(node.propertyNames, true) : 'text';
        return `map of ${keys} to ${typeOf(node.additionalProperties, true)}`;
      }
      return 'object';
    default:
      return 'any';
  }
}

/** The rows of `node`'s fields; `prefix` is prepended to each key, `when` to each meaning. */
function fieldRows(node: JsonNode, prefix: string, when = '', skip: ReadonlySet<string> = new Set()): Row[] {
  const rows: Row[] = [];
  const required = new Set(node.required ?? []);
  for (const [name, field] of Object.entries(node.properties ?? {})) {
    if (skip.has(name)) continue;
    rows.push(...describeField(`${prefix}${name}`, field, required.has(name), when));
  }
  return rows;
}

function describeField(key: string, field: JsonNode, required: boolean, when: string): Row[] {
  const dflt = required ? 'required' : field.properties || field.default === undefined ? '' : code(flow(field.default));
  const row: Row = { key: code(key), type: typeOf(field), default: dflt, meaning: when + (field.description ?? ''), described: Boolean(field.description?.trim()) };
  const union = discriminated(field);
  if (union) {
    // Fields every variant has alike are listed once; the others under their variant.
    const first = union.variants[0]![1];
    const alike = Object.keys(first.properties!).filter(
      (name) => name !== union.field && union.variants.every(([, v]) => JSON.stringify(v.properties![name]) === JSON.stringify(first.properties![name]) && v.required?.includes(name) === first.required?.includes(name)),
    );
    const rows = [row, ...fieldRows({ ...first, properties: Object.fromEntries(alike.map((name) => [name, first.properties![name]!])) }, `${key}.`, when)];
    for (const [value, variant] of union.variants) rows.push(...fieldRows(variant, `${key}.`, `${when}${code(`${union.field}: ${value}`)}: `, new Set([union.field, ...alike])));
    return rows;
  }
  if (field.properties) return [row, ...fieldRows(field, `${key}.`, when)];
  // A list or map of objects: its items' fields follow as rows, so the type need not list them.
  const items = field.items;
  if (field.type === 'array' && items && (items.properties || discriminated(items))) {
    return [{ ...row, type: 'list' }, ...describeField(`${key}[]`, items, false, when).slice(1)];
  }
  const values = typeof field.additionalProperties === 'object' ? field.additionalProperties : undefined;
  if (values && (values.properties || discriminated(values))) {
    return [{ ...row, type: `map of ${field.propertyNames ? typeOf(field.propertyNames, true) : 'text'} to object` }, ...describeField(`${key}.NAME`, values, false, when).slice(1)];
  }
  return [row];
}

function table(rows: Row[]): string {
  const cell = (s: string) => s.replace(/\|/g, (m, at: number, all: string) => (all[at - 1] === '\\' ? m : '\\|')).replace(/\n/g, ' ');
  return ['| key | type | default | meaning |', '| --- | --- | --- | --- |', ...rows.map((r) => `| ${[r.key, r.type, r.default, r.meaning].map(cell).join(' | ')} |`)].join('\n');
}

/** Fields of the schema that have no description: each must say what it means. */
export function undescribedFields(): string[] {
  return [...new Set(sections().flatMap((section) => section.rows.filter((r) => !r.described).map((r) => `${section.title}: ${r.key}`)))];
}

const GROUPS: Array<[string, string[]]> = [
  ['Top level', ['reporting', 'warehouse', 'redis', 'server', 'dataDir', 'northStar', 'jobs', 'retention', 'digest', 'alerting']],
  ['`kpis[]`', ['kpis']],
  ['`goals[]` and `okrs[]`', ['goals', 'okrs']],
  ['`channels`', ['channels']],
  ['`alerts[]`', ['alerts']],
  ['`reports[]`', ['reports']],
];

interface Section {
  title: string;
  level: number;
  rows: Row[];
}

function sections(): Section[] {
  const root = annotatedJsonSchema();
  const properties = root.properties!;
  const grouped = new Set(GROUPS.flatMap(([, keys]) => keys));
  // A top-level key added without a place in GROUPS still gets its rows, under "Top level".
  const ungrouped = Object.keys(properties).filter((k) => !grouped.has(k) && k !== 'connectors');
  const field = (key: string) => describeField(key, properties[key]!, root.required?.includes(key) ?? false, '');
  const out: Section[] = GROUPS.map(([title, keys], i) => ({ title, level: 3, rows: [...keys, ...(i === 0 ? ungrouped : [])].flatMap(field) }));

  // Connectors: the fields every type has once (and those most have, saying which lack
  // them), then what each type adds.
  const variants = discriminated(properties.connectors!.items!)!.variants;
  const types = variants.map(([type]) => type);
  const sameIn = (key: string, node: JsonNode) => variants.filter(([, v]) => JSON.stringify(v.properties![key]) === JSON.stringify(node)).map(([type]) => type);
  const shared = new Map<string, { node: JsonNode; required: boolean; types: string[] }>();
  for (const [, v] of variants) {
    for (const [key, node] of Object.entries(v.properties!)) {
      const having = sameIn(key, node);
      if (key !== 'type' && !shared.has(key) && having.length > types.length / 2) shared.set(key, { node, required: v.required?.includes(key) ?? false, types: having });
    }
  }
  const typeRow: Row = { key: code('type'), type: types.map(code).join(' \\| '), default: 'required', meaning: 'the source; each type adds the fields listed under it below', described: true };
  const sharedRows = [...shared.entries()].flatMap(([key, { node, required, types: having }]) => {
    const lacking = types.filter((t) => !having.includes(t));
    const rows = describeField(key, node, required, '');
    if (lacking.length > 0) rows[0] = { ...rows[0]!, meaning: `${rows[0]!.meaning} (every type but ${lacking.map(code).join(', ')})` };
    return rows;
  });
  out.push({ title: 'Connectors: fields every connector has', level: 3, rows: [typeRow, ...sharedRows] });
  for (const [type, v] of variants) {
    const own = new Set(['type', ...[...shared.entries()].filter(([, s]) => s.types.includes(type)).map(([key]) => key)]);
    out.push({ title: code(type), level: 4, rows: fieldRows(v, '', '', own) });
  }
  return out;
}

export const REFERENCE_START = '<!-- config-reference:start (generated by `npm run docs:config` from the schemas; edit the schemas, not this) -->';
export const REFERENCE_END = '<!-- config-reference:end -->';

/** The README's reference section: one table per part of the config and per connector type. */
export function configReferenceMarkdown(): string {
  return sections()
    .map((section) => `${'#'.repeat(section.level)} ${section.title}\n\n${table(section.rows)}`)
    .join('\n\n');
}

/** `readme` with the text between the markers replaced by `reference`. */
export function withReference(readme: string, reference: string): string {
  const start = readme.indexOf(REFERENCE_START);
  const end = readme.indexOf(REFERENCE_END);
  if (start < 0 || end < start) throw new Error(`README.md has no reference section: expected the lines\n${REFERENCE_START}\n${REFERENCE_END}`);
  return `${readme.slice(0, start + REFERENCE_START.length)}\n\n${reference}\n\n${readme.slice(end)}`;
}
