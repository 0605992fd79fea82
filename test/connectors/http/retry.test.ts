import { describe, expect, it } from 'vitest';
import { classifyStatus, networkErrorOutcome } from '../../../src/core/http/index.ts';
import { backoffDelay, parseRetryAfter, withRetry } from '../../../src/core/resilience/index.ts';
import { loggablePath } from '../../../src/core/http/redact.ts';
import { ConfigError, TransientError } from '../../../src/core/errors.ts';

describe('retry policy', () => {
  it('parses Retry-After in both forms', () => {
    const now = Date.UTC(2025, 5, 1, 0, 0, 0);
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 1.5 ', now)).toBe(1_500);
    expect(parseRetryAfter(new Date(now + 30_000).toUTCString(), now)).toBe(30_000);
    expect(parseRetryAfter(new Date(now - 30_000).toUTCString(), now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('backs off exponentially with full jitter', () => {
    const policy = { baseDelayMs: 100, maxDelayMs: 1_000 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, policy, () => 0.999999))).toEqual([99, 199, 399, 799, 999]);
    expect(backoffDelay(3, policy, () => 0)).toBe(0);
  });

  it('classifies statuses', () => {
    expect([200, 204, 408, 429, 500, 503, 401, 403, 400, 404, 422].map(classifyStatus)).toEqual([
      'ok', 'ok', 'retry', 'retry', 'retry', 'retry', 'unauthorized', 'config', 'config', 'config', 'config',
    ]);
  });

  it('classifies network errors', () => {
    const withCode = (code: string, message = code) => Object.assign(new Error(message), { code });
    expect(networkErrorOutcome(withCode('ECONNRESET'))).toBe('retry');
    expect(networkErrorOutcome(new Error('socket hang up'))).toBe('retry');
    expect(networkErrorOutcome(withCode('ENOTFOUND'))).toBe('config');
    expect(networkErrorOutcome(withCode('CERT_HAS_EXPIRED'))).toBe('config');
  });

  it('withRetry retries TransientErrors only, for the Google connectors', async () => {
    const delays: number[] = [];
    let calls = 0;
    const value = await withRetry(
      async () => {
        calls++;
        if (calls === 1) throw new TransientError('quota', { retryAfterMs: 5_000 });
        if (calls === 2) throw new TransientError('503');
        return 'done';
      },
      { sleep: async (ms) => void delays.push(ms), random: () => 0.5, baseDelayMs: 1_000 },
    );
    expect(value).toBe('done');
    expect(delays).toEqual([5_000, 1_000]);

    let configCalls = 0;
    await expect(
      withRetry(async () => {
        configCalls++;
        throw new ConfigError('bad property id');
      }),
    ).rejects.toThrow('bad property id');
    expect(configCalls).toBe(1);
  });

  it('redacts credential query values for logs', () => {
    const url = new URL('https://graph.facebook.com/v19.0/act_1/insights?fields=clicks&access_token=EAAB123&key=AIza&api_key=x&since=2025-01-01');
    expect(loggablePath(url)).toBe('/v19.0/act_1/insights?fields=clicks&access_token=[redacted]&key=[redacted]&api_key=[redacted]&since=2025-01-01');
  });
});
