import { describe, expect, it } from 'vitest';
import { tuningOf } from '../../src/app.ts';
import { parseConfig } from '../../src/config/index.ts';
import { ConfigError } from '../../src/core/errors.ts';

describe('jobs and retention settings', () => {
  it('default to the documented values', () => {
    const config = parseConfig('{}', 'kpi.yaml', { env: {} });
    expect(config.jobs).toEqual({ syncConcurrency: 4, attempts: 5, backoff: 10_000, sourceLimits: {} });
    expect(config.retention).toEqual({ syncRuns: 180 * 86_400_000, quarantine: 90 * 86_400_000, alertHistory: 90 * 86_400_000, schedule: '17 3 * * *' });
  });

  it('become the queue tuning, durations in milliseconds', () => {
    const config = parseConfig('jobs: { syncConcurrency: 2, attempts: 8, backoff: 30s, sourceLimits: { google_ads: 1, ga4: 3 } }\n', 'kpi.yaml', { env: {} });
    expect(tuningOf(config)).toEqual({ syncConcurrency: 2, attempts: 8, backoffMs: 30_000, sourceLimits: { google_ads: 1, ga4: 3 } });
  });

  it('name the path and what is expected when wrong, every problem at once', () => {
    const text = ['jobs:', '  syncConcurrency: 0', '  sourceLimits: { adwords: 2 }', 'retention:', '  schedule: "every night"', ''].join('\n');
    let error: unknown;
    try {
      parseConfig(text, 'kpi.yaml', { env: {} });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/kpi\.yaml:2.*jobs\.syncConcurrency/);
    expect(message).toMatch(/jobs\.sourceLimits\.adwords/);
    expect(message).toMatch(/retention\.schedule/);
  });
});
