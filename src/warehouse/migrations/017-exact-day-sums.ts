import { sql, type Kysely } from 'kysely';

/**
 * kpi_days.exact_sums: whether every total (dimension 'all') base sum recompute stored for the
 * day has at most 15 significant digits, so that the stored double gives back the exact decimal
 * the facts summed to (see src/metrics/stored-series.ts). A sum with more digits (money
 * converted at a rate with many decimals, a fact with many digits) can round to a double whose
 * shortest form is a shorter, different decimal, and a period added from it would differ from
 * the facts' sum. A sum that is not a number (numeric's NaN, written by hand) or is past the
 * largest double is not stored at all, so the period's total would leave it out. Null where not known: written before this
 * column, or never computed; such a day's totals are read from the facts until recompute
 * records it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table kpi_days add column exact_sums boolean`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table kpi_days drop column if exists exact_sums`.execute(db);
}
