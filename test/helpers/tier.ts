/**
 * `npm run test:unit` runs what needs neither Postgres nor Redis nor processes of its own
 * (KPI_TEST_TIER=unit): vitest.config.ts leaves out the files that need them throughout,
 * warehouse tests run on PGlite alone, and the other files' parts that need them skip
 * themselves with `describe.skipIf(inUnitTier)`. `npm test` runs all of it.
 */
export const inUnitTier = process.env.KPI_TEST_TIER === 'unit';
