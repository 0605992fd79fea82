import { cutText } from '../core/secrets.ts';

/**
 * What Postgres can store. Its text type refuses the NUL character, its jsonb type refuses
 * the \u0000 escape and unpaired surrogates, and both the JSON encoder and jsonb itself give
 * up on values nested a few thousand levels deep. A source can send any of these, and a
 * record that cannot be stored must never take the rest of its sync down with it.
 */

/** Shown where a NUL character was: visible, and storable. */
const NUL_SYMBOL = '\u2400';

/** Deeper than this, a quarantined record keeps a note instead of the rest. */
const MAX_STORED_DEPTH = 64;

/** `text` with NUL characters and unpaired surrogates replaced by visible, storable ones. */
export function storableText(text: string): string {
  const noNul = text.includes('\u0000') ? text.replaceAll('\u0000', NUL_SYMBOL) : text;
  return noNul.isWellFormed() ? noNul : noNul.toWellFormed();
}

/** Why a text cannot be part of a stored key, or null when it can. */
export function unstorableTextProblem(text: string): string | null {
  if (text.includes('\u0000')) return 'contains a NUL character';
  if (!text.isWellFormed()) return 'contains an unpaired UTF-16 surrogate (not valid Unicode)';
  return null;
}

type TextFilter = (text: string) => string;

function storableValue(value: unknown, depth: number, seen: Set<object>, filter: TextFilter): unknown {
  if (typeof value === 'string') return storableText(filter(value));
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value !== 'object') return value === undefined ? null : String(value);
  if (depth >= MAX_STORED_DEPTH) return `[nested deeper than ${MAX_STORED_DEPTH} levels; not kept]`;
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => storableValue(v, depth + 1, seen, filter));
    // Defined, not assigned: assigning a member named __proto__ would set the copy's prototype and drop the member.
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) Object.defineProperty(out, storableText(filter(k)), { value: storableValue(v, depth + 1, seen, filter), enumerable: true, writable: true, configurable: true });
    return out;
  } finally {
    seen.delete(value);
  }
}

/** `value` as an error message shows it: JSON nested no deeper than it is stored, cut to `maxChars`. */
export function shownValue(value: unknown, maxChars = 100): string {
  // JSON.stringify and String() recurse: a value nested 100,000 deep (JSON.parse reads it) overflows the stack.
  return cutText(JSON.stringify(storableValue(value, 0, new Set(), (t) => t)) ?? 'undefined', maxChars);
}

/**
 * `value` as JSON that jsonb accepts: texts made storable, depth bounded, and cut to
 * `maxChars` (the cut text kept as a string under "truncated", never split inside a character).
 * `filter` sees every text (keys too) before it is encoded, e.g. to scrub secrets: a secret
 * with a quote or a backslash in it no longer reads the same once JSON has escaped it.
 */
export function storableJson(value: unknown, maxChars: number, filter: TextFilter = (t) => t): string {
  const json = JSON.stringify(storableValue(value, 0, new Set(), filter)) ?? 'null';
  if (json.length <= maxChars) return json;
  return JSON.stringify({ truncated: cutText(json, maxChars) });
}
