import type { Kysely } from 'kysely';
import type { Database } from '../warehouse/index.ts';

/** name=value, name!=value, name=~regex, name!~regex; a regex must match the whole value. */
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

export function parseMatcher(text: string): Matcher {
  const m = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/.exec(text);
  if (!m) throw new RangeError(`expected a matcher like name=value, name!=value or name=~regex, got "${text}"`);
  const value = m[3]!.replace(/^"(.*)"$/, '$1');
  const op = m[2] as Matcher['op'];
  if (op === '=~' || op === '!~') {
    try {
      new RegExp(`^(?:${value})$`);
    } catch (err) {
      throw new RangeError(`invalid regular expression in "${text}": ${(err as Error).message}`);
    }
  }
  return { name: m[1]!, op, value };
}

export function formatMatcher(m: Matcher): string {
  return `${m.name}${m.op}${m.value}`;
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
      return new RegExp(`^(?:${m.value})$`).test(actual);
    case '!~':
      return !new RegExp(`^(?:${m.value})$`).test(actual);
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

export interface NewSilence {
  matchers: Matcher[];
  startsAt: Date;
  endsAt: Date;
  action?: 'drop' | 'hold';
  comment?: string;
  createdBy?: string;
}

export async function addSilence(db: Kysely<Database>, s: NewSilence): Promise<Silence> {
  if (s.matchers.length === 0) throw new RangeError('a silence needs at least one matcher');
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
