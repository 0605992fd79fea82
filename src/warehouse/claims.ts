import { sql } from 'kysely';

/*
 * Claims (outbox rows, digest sends) are measured on the database's clock, never on the
 * claiming process's: a replica whose clock runs hours ahead would otherwise see every other
 * replica's claim as long run out, take it over, and send the same message a second time.
 */

/** The end of a claim taken now and held for `ms`. */
export const claimEnd = (ms: number) => sql<Date>`clock_timestamp() + ${ms}::float8 * interval '1 millisecond'`;

/** Whether the claim in `column` is free: never taken, or run out. */
export const claimFree = (column: string) => sql<boolean>`(${sql.ref(column)} is null or ${sql.ref(column)} < clock_timestamp())`;
