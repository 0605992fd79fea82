import type { z } from 'zod';

/*
 * Environment variables are text, so `port: ${var:KPI_PORT}` resolves to the string "9465"
 * where the schema wants a number. A value that is one reference and nothing else is turned
 * into a number or a boolean, but only where the schema refuses the string and says it
 * expected one: a connector's account id `${var:ACCOUNT}` stays the text "0123" it must be.
 * Which type the schema expects is read from its own issues, so every schema (the top level,
 * each connector's) gets the same rule with no list of fields to keep in step.
 */

export type PathPart = string | number;

/** A value that was exactly one `${env:NAME}` or `${var:NAME}` in the YAML. */
export interface WholeRef {
  kind: 'env' | 'var';
  name: string;
}

export interface RefProblem {
  path: PathPart[];
  message: string;
}

const WHOLE_REF = /^\$\{(env|var):([A-Za-z_][A-Za-z0-9_]*)\}$/;

/** The reference a YAML string is made of, when it is one reference and nothing else. */
export function wholeRefOf(text: string): WholeRef | undefined {
  const m = WHOLE_REF.exec(text);
  return m ? { kind: m[1] as WholeRef['kind'], name: m[2]! } : undefined;
}

/** What an issue at a string says its place accepts instead: numbers, and which of true and false. */
interface Scalars {
  number: boolean;
  booleans: Set<boolean>;
}

function scalarsExpected(issue: z.core.$ZodIssue): Scalars {
  const out: Scalars = { number: false, booleans: new Set() };
  const add = (i: z.core.$ZodIssue) => {
    if (i.path.length > 0) return;
    if (i.code === 'invalid_type' && (i.expected === 'number' || i.expected === 'int')) out.number = true;
    if (i.code === 'invalid_type' && i.expected === 'boolean') out.booleans.add(true).add(false);
    if (i.code === 'invalid_value') for (const v of i.values) if (typeof v === 'boolean') out.booleans.add(v);
    if (i.code === 'invalid_union') for (const branch of i.errors) for (const nested of branch) add(nested);
  };
  add({ ...issue, path: [] } as z.core.$ZodIssue);
  return out;
}

/** Plain decimal notation only: no hex, exponent or blanks, which Number() would quietly accept. */
const DECIMAL = /^-?\d+(\.\d+)?$/;

function coerce(text: string, wanted: Scalars): number | boolean | undefined {
  if (wanted.number && DECIMAL.test(text)) return Number(text);
  if ((text === 'true' || text === 'false') && wanted.booleans.has(text === 'true')) return text === 'true';
  return undefined;
}

function describe(wanted: Scalars): string {
  const words = [...(wanted.number ? ['a number'] : []), ...[...wanted.booleans].sort().reverse().map(String)];
  return words.length > 1 ? `${words.slice(0, -1).join(', ')} or ${words.at(-1)}` : words[0]!;
}

function childOf(value: unknown, key: PathPart): unknown {
  return value !== null && typeof value === 'object' ? (value as Record<PathPart, unknown>)[key] : undefined;
}

function valueAt(root: unknown, at: readonly PathPart[]): unknown {
  return at.reduce<unknown>(childOf, root);
}

function setAt(root: unknown, at: readonly PathPart[], value: unknown): void {
  const parent = valueAt(root, at.slice(0, -1));
  if (parent !== null && typeof parent === 'object') (parent as Record<PathPart, unknown>)[at.at(-1)!] = value;
}

/**
 * `schema.safeParse` of the value at `prefix` in `root`, after turning whole references into
 * the numbers and booleans the schema asked for (written back into `root`). A reference whose
 * text is not one is reported in `problems` with the variable's name (and its value, unless
 * it is a secret); its place's own schema issue stays in the result for the caller to drop.
 */
export function parseCoercingRefs<S extends z.ZodType>(
  schema: S,
  root: unknown,
  prefix: PathPart[],
  refs: ReadonlyMap<string, WholeRef>,
  keyOf: (at: readonly PathPart[]) => string,
  problems: RefProblem[],
): z.ZodSafeParseResult<z.output<S>> {
  const reported = new Set<string>();
  for (;;) {
    const result: z.ZodSafeParseResult<z.output<S>> = schema.safeParse(valueAt(root, prefix));
    if (result.success) return result;
    let changed = false;
    for (const issue of result.error.issues) {
      const at = [...prefix, ...(issue.path as PathPart[])];
      const key = keyOf(at);
      const ref = refs.get(key);
      const text = valueAt(root, at);
      if (!ref || typeof text !== 'string' || reported.has(key)) continue;
      const wanted = scalarsExpected(issue);
      if (!wanted.number && wanted.booleans.size === 0) continue;
      const value = coerce(text, wanted);
      if (value !== undefined) {
        setAt(root, at, value);
        changed = true;
        continue;
      }
      reported.add(key);
      const shown = ref.kind === 'var' ? ` is "${text}"` : '';
      problems.push({ path: at, message: `environment variable ${ref.name}${shown} (referenced as \${${ref.kind}:${ref.name}}), expected ${describe(wanted)}` });
    }
    // Each pass turns at least one more string into what the schema wants, so this ends.
    if (!changed) return result;
  }
}
