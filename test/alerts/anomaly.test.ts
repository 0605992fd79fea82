import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { band, judge, mad, median } from '../../src/alerts/index.ts';

const rules = { sensitivity: 3, minHistory: 4, direction: 'both' as const, minDelta: 0, minDeltaPct: 0 };

describe('anomaly maths', () => {
  it('median and MAD, by hand', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    // |x - 2.5| = 1.5 0.5 0.5 1.5 → 1.
    expect(mad([4, 1, 3, 2])).toBe(1);
    expect(band([10, 10, 10, 10, 50], 3)).toEqual({ median: 10, sigma: 0, lower: 10, upper: 10 });
  });

  it('one outlier in the history moves neither the centre nor the width much', () => {
    const calm = band([100, 102, 98, 101, 99, 100, 103, 97], 3);
    const spiked = band([100, 102, 98, 101, 99, 100, 103, 5000], 3);
    expect(spiked.median - calm.median).toBeLessThanOrEqual(0.5);
    expect(spiked.sigma / calm.sigma).toBeLessThan(1.5);
  });

  it('judges outside the band, on the watched side, with both minimum deltas', () => {
    const history = [100, 102, 98, 101, 99, 100, 103, 97];
    expect(judge(80, history, rules)).toMatchObject({ kind: 'anomaly', side: 'below' });
    expect(judge(101, history, rules)).toMatchObject({ kind: 'normal', side: 'inside' });
    expect(judge(80, history, { ...rules, direction: 'up' })).toMatchObject({ kind: 'normal', side: 'below' });
    expect(judge(80, history, { ...rules, minDelta: 25 })).toMatchObject({ kind: 'small' });
    expect(judge(80, history, { ...rules, minDeltaPct: 25 })).toMatchObject({ kind: 'small' });
    expect(judge(80, history.slice(0, 3), rules)).toEqual({ kind: 'insufficient', have: 3, need: 4 });
  });

  it('a flat history has a band of no width: only the minimum deltas keep a tiny change quiet', () => {
    const flat = [100, 100, 100, 100];
    expect(judge(101, flat, rules)).toMatchObject({ kind: 'anomaly', deltaPct: 1 });
    expect(judge(101, flat, { ...rules, minDeltaPct: 5 })).toMatchObject({ kind: 'small' });
    // A zero median makes any change infinite in percent: the absolute minimum decides.
    expect(judge(3, [0, 0, 0, 0], { ...rules, minDeltaPct: 50, minDelta: 5 })).toMatchObject({ kind: 'small', deltaPct: null });
    expect(judge(9, [0, 0, 0, 0], { ...rules, minDeltaPct: 50, minDelta: 5 })).toMatchObject({ kind: 'anomaly' });
  });

  it('never calls the median itself unusual, whatever the history', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 4, maxLength: 30 }), (history) => {
        expect(judge(median(history), history, rules).kind).toBe('normal');
      }),
    );
  });
});
