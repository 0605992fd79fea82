import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { isCalendarDate } from '../../src/core/dates.ts';

describe('isCalendarDate', () => {
  it('knows leap years, month lengths and the shape', () => {
    expect(['2024-02-29', '2000-02-29', '2026-12-31', '0001-01-01', '2026-04-30'].map(isCalendarDate)).toEqual([true, true, true, true, true]);
    expect(['2026-02-29', '1900-02-29', '2026-02-30', '2026-04-31', '2026-13-01', '2026-00-10', '2026-01-00', '2026-1-01', '20260101', ' 2026-01-01', '2026-01-01T00'].map(isCalendarDate)).toEqual(
      Array.from({ length: 11 }, () => false),
    );
  });

  it('agrees with a calendar library on any YYYY-MM-DD text', () => {
    const digits = (n: number, max: number) => fc.integer({ min: 0, max }).map((v) => String(v).padStart(n, '0'));
    fc.assert(
      fc.property(digits(4, 9999), digits(2, 99), digits(2, 99), (y, m, d) => {
        const text = `${y}-${m}-${d}`;
        const parsed = DateTime.fromISO(text, { zone: 'UTC' });
        expect(isCalendarDate(text)).toBe(parsed.isValid && parsed.toISODate() === text);
      }),
      { numRuns: 5_000 },
    );
  });
});
