import { describe, expect, it } from 'vitest';
import { periodOf, periodsBetween, shiftPeriod, toDateWindows } from '../../src/metrics/index.ts';

describe('periods', () => {
  it('starts weeks on Monday or Sunday', () => {
    // 2026-03-07 is a Saturday, 2026-03-08 a Sunday, 2026-03-09 a Monday.
    expect(periodOf('2026-03-07', 'week', 'monday')).toEqual({ start: '2026-03-02', end: '2026-03-08' });
    expect(periodOf('2026-03-08', 'week', 'monday')).toEqual({ start: '2026-03-02', end: '2026-03-08' });
    expect(periodOf('2026-03-09', 'week', 'monday')).toEqual({ start: '2026-03-09', end: '2026-03-15' });
    expect(periodOf('2026-03-07', 'week', 'sunday')).toEqual({ start: '2026-03-01', end: '2026-03-07' });
    expect(periodOf('2026-03-08', 'week', 'sunday')).toEqual({ start: '2026-03-08', end: '2026-03-14' });
    // A week across a year end.
    expect(periodOf('2027-01-01', 'week', 'monday')).toEqual({ start: '2026-12-28', end: '2027-01-03' });
  });

  it('knows month and quarter boundaries, leap years included', () => {
    expect(periodOf('2028-02-15', 'month')).toEqual({ start: '2028-02-01', end: '2028-02-29' });
    expect(periodOf('2026-03-31', 'quarter')).toEqual({ start: '2026-01-01', end: '2026-03-31' });
    expect(periodOf('2026-04-01', 'quarter')).toEqual({ start: '2026-04-01', end: '2026-06-30' });
    expect(periodOf('2026-12-31', 'quarter')).toEqual({ start: '2026-10-01', end: '2026-12-31' });
    expect(shiftPeriod('2026-01-01', 'quarter', -1)).toBe('2025-10-01');
    expect(shiftPeriod('2026-01-01', 'month', -13)).toBe('2024-12-01');
    expect(periodsBetween('2026-03-30', '2026-04-02', 'quarter').map((p) => p.start)).toEqual(['2026-01-01', '2026-04-01']);
    expect(periodsBetween('2026-03-03', '2026-03-05', 'day').map((p) => p.start)).toEqual(['2026-03-03', '2026-03-04', '2026-03-05']);
  });

  it('compares to date with the same number of days, stopping at the end of a shorter period', () => {
    expect(toDateWindows('2026-03-10', 'month')).toEqual({ current: { start: '2026-03-01', end: '2026-03-10' }, previous: { start: '2026-02-01', end: '2026-02-10' } });
    expect(toDateWindows('2026-03-31', 'month')).toEqual({ current: { start: '2026-03-01', end: '2026-03-31' }, previous: { start: '2026-02-01', end: '2026-02-28' } });
    expect(toDateWindows('2026-03-04', 'week', 'monday')).toEqual({ current: { start: '2026-03-02', end: '2026-03-04' }, previous: { start: '2026-02-23', end: '2026-02-25' } });
    expect(toDateWindows('2026-05-15', 'quarter')).toEqual({ current: { start: '2026-04-01', end: '2026-05-15' }, previous: { start: '2026-01-01', end: '2026-02-14' } });
  });
});
