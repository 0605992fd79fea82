import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores on CI: more forks than that only adds contention on Postgres and Redis.
    pool: 'forks',
    maxWorkers: 2,
  },
});
