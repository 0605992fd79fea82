import { configDefaults, defineConfig } from 'vitest/config';
import { inUnitTier } from './test/helpers/tier.ts';

/**
 * Test files left out of `npm run test:unit` (KPI_TEST_TIER=unit; see test/helpers/tier.ts):
 * those that need Postgres or Redis throughout, and those that start processes of their own.
 * A file that runs on both warehouses (warehouseKinds) stays in the unit tier and runs there
 * on PGlite alone.
 */
const notInUnitTier = [
  'test/alerts/cli.test.ts',
  'test/alerts/clock-skew.test.ts',
  'test/alerts/crash.test.ts',
  'test/alerts/delivery-budget.test.ts',
  'test/alerts/delivery.test.ts',
  'test/alerts/email-digest.test.ts',
  'test/alerts/history.test.ts',
  'test/alerts/hostile-names.test.ts',
  'test/alerts/notify-at.test.ts',
  'test/alerts/replicas.test.ts',
  'test/alerts/reports.test.ts',
  'test/alerts/retry-after.test.ts',
  'test/alerts/secret-cuts.test.ts',
  'test/alerts/silences.test.ts',
  'test/alerts/state.test.ts',
  'test/alerts/waiting-report.test.ts',
  'test/bench/quick.test.ts',
  'test/cli/arguments.test.ts',
  'test/cli/output.test.ts',
  'test/console/console.test.ts',
  'test/connectors/email.test.ts',
  'test/connectors/http-json.test.ts',
  'test/connectors/http/redirects.test.ts',
  'test/connectors/http/response-size.test.ts',
  'test/connectors/http/scrub-then-cut.test.ts',
  'test/connectors/http/secret-forms.test.ts',
  'test/deploy/processes.test.ts',
  'test/jobs/cli.test.ts',
  'test/jobs/clock-changes.test.ts',
  'test/jobs/embedded.test.ts',
  'test/jobs/gate.test.ts',
  'test/jobs/live-config.test.ts',
  'test/jobs/notify-timing.test.ts',
  'test/jobs/queue.test.ts',
  'test/jobs/replicas.test.ts',
  'test/reliability/bad-input.test.ts',
  'test/reliability/crash.test.ts',
  'test/reliability/duplicates.test.ts',
  'test/reliability/embedded-writers.test.ts',
  'test/reliability/first-start.test.ts',
  'test/reliability/load.test.ts',
  'test/reliability/postgres-outage.test.ts',
  'test/reliability/redis-restart.test.ts',
  'test/reliability/secret-hygiene.test.ts',
  'test/reliability/source-faults.test.ts',
  'test/server/server.test.ts',
  'test/warehouse/copy.test.ts',
];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, ...(inUnitTier ? notInUnitTier : [])],
    // The unit tier gets addresses that cannot be reached rather than a run database: a test
    // that reaches for Postgres or Redis there fails, naming what it lacks.
    globalSetup: [inUnitTier ? 'test/unit-setup.ts' : 'test/global-setup.ts'],
    // Generous: a timeout is a hang detector, not a speed check (a loaded CI host is slow, not wrong).
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Two cores on CI: more forks than that only adds contention on Postgres and Redis.
    pool: 'forks',
    maxWorkers: 2,
    // Each test file is a process of its own, too short-lived to gain from V8's optimising
    // WebAssembly compiler: PGlite starts in about half the CPU on the baseline compiler.
    execArgv: ['--liftoff-only'],
  },
});
