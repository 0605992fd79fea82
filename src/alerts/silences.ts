import type { Kysely } from 'kysely';
import { RE2JS } from 're2js';
import { cutText } from '../core/secrets.ts';
import type { Database } from '../warehouse/index.ts';

/**
 * name=value, name!=value, name=~regex, name!~regex; a regex must match the whole value. The
 * regexes are RE2 syntax, matched by RE2's linear-time engine: a pattern such as (\w+\s?)+
 * against a long campaign name would take JavaScript's backtracking engine minutes, and
 * delivery would freeze on it. RE2 has no lookarounds and no backreferences.
 */
export interface Matcher {
  name: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

export interface Silence {
  id: number;
  matchers: Matcher[];
  startsAt: Date;
  endsAt: Date;
  /** drop: the notifications are not sent; hold: they are sent when the silence ends. */
  action: 'drop' | 'hold';
  comment: string;
  createdBy: string;
  createdAt: Date;
}

// Longer than any real label pattern; a limit keeps one silence from costing a delivery much.
const MAX_PATTERN_LENGTH = 1000;

const compiled = new Map<string, RE2JS>();

/** The matcher's regex, compiled once per process; throws RangeError saying what is wrong with it. */
function regexOf(pattern: string): RE2JS {
  let re = compiled.get(pattern);
  if (re) return re;
  if (pattern.length > MAX_PATTERN_LENGTH) throw new RangeError(`is ${pattern.length} characters long; at most ${MAX_PATTERN_LENGTH} are allowed`);
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    throw new RangeError(`${(err as Error).message} (RE2 syntax: no lookarounds or backreferences)`);
  }
  if (compiled.size >= 1000) compiled.clear();
  compiled.set(pattern, re);
  return re;
}

export function parseMatcher(text: string): Matcher {
  // Trimmed apart: a lazy group before trailing spaces would backtrack quadratically.
  const m = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)(.*)$/.exec(text.trim());
  if (!m) throw new RangeError(`expected a matcher like name=value, name!=value or name=~regex, got "${cutText(text, 80)}"`);
  const value = m[3]!.trim().replace(/^"(.*)"$/, '$1');
  const matcher: Matcher = { name: m[1]!, op: m[2] as Matcher['op'], value };
  checkRegex(matcher, text);
  return matcher;
}

function checkRegex(m: Matcher, shown: string): void {
  if (m.op !== '=~' && m.op !== '!~') return;
  try {
    regexOf(m.value);
  } catch (err) {
    throw new RangeError(`invalid regular expression in "${cutText(shown, 80)}": ${(err as Error).message}`);
  }
}

export function formatMatcher(m: Matcher): string {
  return `${m.name}${m.op}${m.value}`;
}

/** Why a stored matcher matches nothing (a regex made before silences took RE2 syntax), or undefined. */
export function matcherProblem(m: Matcher): string | undefined {
  try {
    checkRegex(m, formatMatcher(m));
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Whole-value match; a stored pattern that no longer compiles matches nothing, so the silence silences nothing rather than everything. */
function fullMatch(pattern: string, value: string): boolean | undefined {
  try {
    return regexOf(pattern).matches(value);
  } catch {
    return undefined;
  }
}

function test(m: Matcher, labels: Readonly<Record<string, string>>): boolean {
  // A label that is not there matches as the empty string, as in Alertmanager.
  const actual = labels[m.name] ?? '';
  switch (m.op) {
    case '=':
      return actual === m.value;
    case '!=':
      return actual !== m.value;
    case '=~':
      return fullMatch(m.value, actual) === true;
    case '!~':
      return fullMatch(m.value, actual) === false;
  }
}

export function matchesAll(matchers: readonly Matcher[], labels: Readonly<Record<string, string>>): boolean {
  return matchers.length > 0 && matchers.every((m) => test(m, labels));
}

type Row = { id: number; matchers: unknown; starts_at: Date; ends_at: Date; action: string; comment: string; created_by: string; created_at: Date };

function toSilence(r: Row): Silence {
  return {
    id: Number(r.id),
    matchers: r.matchers as Matcher[],
    startsAt: new Date(r.starts_at),
    endsAt: new Date(r.ends_at),
    action: r.action === 'hold' ? 'hold' : 'drop',
    comment: r.comment,
    createdBy: r.created_by,
    createdAt: new Date(r.created_at),
  };
}

interface NewSilence {
  matchers: Matcher[];
  startsAt: Date;
  endsAt: Date;
  action?: 'drop' | 'hold';
  comment?: string;
  createdBy?: string;
}

export async function addSilence(db: Kysely<Database>, s: NewSilence): Promise<Silence> {
  if (s.matchers.length === 0) throw new RangeError('a silence needs at least one matcher');
  for (const m of s.matchers) checkRegex(m, formatMatcher(m));
  if (s.endsAt <= s.startsAt) throw new RangeError('a silence must end after it starts');
  const row = await db
    .insertInto('alert_silences')
    .values({ matchers: JSON.stringify(s.matchers), starts_at: s.startsAt, ends_at: s.endsAt, action: s.action ?? 'drop', comment: s.comment ?? '', created_by: s.createdBy ?? '' })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toSilence(row);
}

/** Silences in force at `now` or starting later; with `all`, expired ones too. */
export async function listSilences(db: Kysely<Database>, options: { now?: Date; all?: boolean } = {}): Promise<Silence[]> {
  let q = db.selectFrom('alert_silences').selectAll().orderBy('id');
  if (!options.all) q = q.where('ends_at', '>', options.now ?? new Date());
  return (await q.execute()).map(toSilence);
}

export async function activeSilences(db: Kysely<Database>, now: Date): Promise<Silence[]> {
  const rows = await db.selectFrom('alert_silences').selectAll().where('starts_at', '<=', now).where('ends_at', '>', now).orderBy('id').execute();
  return rows.map(toSilence);
}

/**
 * Ends a silence now, and lets what it held go out with the next delivery; false when there
 * is no such silence or it has ended already.
 */
export async function endSilence(db: Kysely<Database>, id: number, now: Date = new Date()): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const res = await trx.updateTable('alert_silences').set({ ends_at: now }).where('id', '=', id).where('ends_at', '>', now).executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) return false;
    await trx.updateTable('alert_outbox').set({ not_before: now, held_by: null }).where('status', '=', 'pending').where('held_by', '=', `silence:${id}`).where('not_before', '>', now).execute();
    return true;
  });
}
