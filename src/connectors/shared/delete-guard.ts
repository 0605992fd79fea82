import { createHash } from 'node:crypto';
import { heldDaysOf, holdDays, storedRowsByDate, type DateString, type Executor, type HeldDay, type FactRow } from '../../warehouse/index.ts';

/**
 * A source that answers 200 with nothing (an outage page, a permission change, an API half
 * migrated) must not wipe what is stored. Before a sync applies an answer to days that hold
 * facts, the answer is judged against what is stored: it is held when a day that had facts
 * comes back empty, or when it would drop more than `maxShare` of the stored rows of the days
 * it covers. Nothing of a held answer is applied; the sync ends `held`, and the answer's
 * fingerprint is kept per day. The same answer on a later read (the next sync) is taken as
 * the source's real state and applied; so is any answer when the user allows deletes.
 * Restated values and renamed rows do not shrink a day and pass.
 */

export const DEFAULT_MAX_DELETE_SHARE = 0.5;

export class HeldAnswerError extends Error {
  override readonly name = 'HeldAnswerError';
  readonly kind = 'held' as const;
  constructor(
    message: string,
    readonly days: HeldDay[],
  ) {
    super(message);
  }
}

export function isHeldAnswer(err: unknown): err is HeldAnswerError {
  return err instanceof Error && (err as { kind?: string }).kind === 'held';
}

export interface AnswerScope {
  connector: string;
  account: string;
  /** Most of the stored rows an answer may drop; 1 applies every answer. */
  maxShare: number;
  /** The user said deletes are intended (`kpi sync --allow-deletes`). */
  allowDeletes: boolean;
  runId: number;
}

/** One day of an answer: its rows, combined (each key once); none for a day the source left empty. */
export interface AnswerDay {
  date: DateString;
  rows: readonly FactRow[];
}

/** A digest of one day's answer, the same whatever order the rows came in. */
function fingerprint(rows: readonly FactRow[]): string {
  const lines = rows.map((r) => `${r.campaignId ?? ''}\u0000${r.campaign ?? ''}\u0000${r.channel ?? ''}\u0000${r.metric}\u0000${r.value}\u0000${r.currency ?? ''}`).sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function explain(scope: AnswerScope, days: readonly AnswerDay[], stored: number, answered: number, lost: readonly HeldDay[]): string {
  const first = days[0]!.date;
  const last = days.at(-1)!.date;
  const span = first === last ? first : `${first}..${last}`;
  const empty = lost.filter((d) => d.answerRows === 0);
  const shown = (empty.length > 0 ? empty : lost).slice(0, 3).map((d) => `${d.date} had ${d.storedRows} stored rows and the source returned ${d.answerRows === 0 ? 'none' : d.answerRows}`);
  const more = (empty.length > 0 ? empty : lost).length - shown.length;
  return [
    `held: account ${scope.account}: the answer for ${span} has ${plural(answered, 'row')} where ${stored} are stored`,
    `${shown.join('; ')}${more > 0 ? `; and ${plural(more, 'more day')}` : ''}.`,
    `Not applied: ${empty.length > 0 ? `a day that had facts came back empty` : `it would delete more than ${Math.round(scope.maxShare * 100)}% of the stored rows`}.`,
    `If the source really has less data now, the next sync that gets the same answer applies it; to apply it now, run \`kpi sync ${scope.connector} --allow-deletes\` (or raise the connector's maxDeleteShare).`,
  ].join(' ');
}

/**
 * Judges an answer for consecutive days before any of it is written. Returns the days whose
 * earlier held answers are settled now (to forget once the answer is applied); throws
 * HeldAnswerError, after recording the held days, when the answer must not be applied.
 */
export async function judgeAnswer(db: Executor, scope: AnswerScope, days: readonly AnswerDay[]): Promise<DateString[]> {
  const dates = days.map((d) => d.date);
  const [stored, earlier] = await Promise.all([storedRowsByDate(db, scope.connector, scope.account, dates), heldDaysOf(db, scope.connector, scope.account, dates)]);
  const settled = [...earlier.keys()];
  let storedTotal = 0;
  let answered = 0;
  let dropped = 0;
  let emptied = false;
  const lost: HeldDay[] = [];
  for (const day of days) {
    const had = stored.get(day.date) ?? 0;
    storedTotal += had;
    answered += day.rows.length;
    if (had <= day.rows.length) continue;
    dropped += had - day.rows.length;
    if (day.rows.length === 0) emptied = true;
    lost.push({ connector: scope.connector, account: scope.account, date: day.date, fingerprint: fingerprint(day.rows), storedRows: had, answerRows: day.rows.length, syncRunId: scope.runId });
  }
  const suspicious = scope.maxShare < 1 && (emptied || dropped > scope.maxShare * storedTotal);
  if (!suspicious || scope.allowDeletes) return settled;
  // Seen before, word for word, on every day it shrinks: the source means it.
  if (lost.every((d) => earlier.get(d.date)?.fingerprint === d.fingerprint)) return settled;
  await holdDays(db, lost);
  throw new HeldAnswerError(explain(scope, days, storedTotal, answered, lost), lost);
}
