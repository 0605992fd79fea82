import { sql } from 'kysely';
import type { DateString, Executor } from './tables.ts';

export interface HeldDay {
  connector: string;
  account: string;
  date: DateString;
  fingerprint: string;
  storedRows: number;
  answerRows: number;
  syncRunId: number | null;
}

/** The held days of (connector, account) among `dates`, by date. */
export async function heldDaysOf(db: Executor, connector: string, account: string, dates: readonly DateString[]): Promise<Map<DateString, HeldDay>> {
  if (dates.length === 0) return new Map();
  const rows = await db
    .selectFrom('held_days')
    .select(['date', 'fingerprint', 'stored_rows', 'answer_rows', 'sync_run_id'])
    .where('connector', '=', connector)
    .where('account', '=', account)
    .where('date', 'in', [...dates])
    .execute();
  return new Map(
    rows.map((r) => [
      String(r.date),
      { connector, account, date: String(r.date), fingerprint: r.fingerprint, storedRows: Number(r.stored_rows), answerRows: Number(r.answer_rows), syncRunId: r.sync_run_id === null ? null : Number(r.sync_run_id) },
    ]),
  );
}

/** Records (or replaces) the answers held back for these days. */
export async function holdDays(db: Executor, days: readonly HeldDay[]): Promise<void> {
  if (days.length === 0) return;
  await db
    .insertInto('held_days')
    .values(days.map((d) => ({ connector: d.connector, account: d.account, date: d.date, fingerprint: d.fingerprint, stored_rows: d.storedRows, answer_rows: d.answerRows, sync_run_id: d.syncRunId, held_at: sql<Date>`now()` })))
    .onConflict((oc) =>
      oc.columns(['connector', 'account', 'date']).doUpdateSet((eb) => ({
        fingerprint: eb.ref('excluded.fingerprint'),
        stored_rows: eb.ref('excluded.stored_rows'),
        answer_rows: eb.ref('excluded.answer_rows'),
        sync_run_id: eb.ref('excluded.sync_run_id'),
        held_at: eb.ref('excluded.held_at'),
      })),
    )
    .execute();
}

/** Forgets the held answers of these days (applied, or answered differently since). */
export async function releaseHeldDays(db: Executor, connector: string, account: string, dates: readonly DateString[]): Promise<void> {
  if (dates.length === 0) return;
  await db.deleteFrom('held_days').where('connector', '=', connector).where('account', '=', account).where('date', 'in', [...dates]).execute();
}
