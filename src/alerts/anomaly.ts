/**
 * Robust bands: the median and the median absolute deviation (MAD) of the history, so one
 * earlier outlier (a launch day, a tracking outage) neither moves the centre nor widens the
 * band the way a mean and a standard deviation would.
 */

/** Scales a MAD to a standard deviation for normally distributed data. */
const MAD_TO_SIGMA = 1.4826;

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  // A typed array sorts numerically in place without a comparator call per step.
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function mad(values: readonly number[], centre = median(values)): number {
  return median(values.map((v) => Math.abs(v - centre)));
}

interface Band {
  median: number;
  /** Robust standard deviation: MAD × 1.4826. */
  sigma: number;
  lower: number;
  upper: number;
}

export function band(history: readonly number[], sensitivity: number): Band {
  const m = median(history);
  const sigma = MAD_TO_SIGMA * mad(history, m);
  return { median: m, sigma, lower: m - sensitivity * sigma, upper: m + sensitivity * sigma };
}

interface AnomalyRules {
  sensitivity: number;
  minHistory: number;
  direction: 'both' | 'up' | 'down';
  minDelta: number;
  /** Percent of the median. */
  minDeltaPct: number;
}

type AnomalyVerdict =
  | { kind: 'insufficient'; have: number; need: number }
  | { kind: 'normal' | 'small' | 'anomaly'; band: Band; side: 'above' | 'below' | 'inside'; delta: number; deltaPct: number | null };

/**
 * Outside the band on a watched side, and far enough from the median in both absolute and
 * relative terms: with a flat history the band has no width, so the minimum deltas are
 * what keep a 100 → 101 from firing.
 */
export function judge(value: number, history: readonly number[], rules: AnomalyRules): AnomalyVerdict {
  if (history.length < rules.minHistory) return { kind: 'insufficient', have: history.length, need: rules.minHistory };
  const b = band(history, rules.sensitivity);
  const delta = value - b.median;
  const deltaPct = b.median === 0 ? (delta === 0 ? 0 : null) : (delta / Math.abs(b.median)) * 100;
  const side = value > b.upper ? 'above' : value < b.lower ? 'below' : 'inside';
  const watched = side !== 'inside' && (rules.direction === 'both' || (rules.direction === 'up') === (side === 'above'));
  if (!watched) return { kind: 'normal', band: b, side, delta, deltaPct };
  // A zero median makes any change infinitely large in percent.
  const bigEnough = Math.abs(delta) >= rules.minDelta && (deltaPct === null || Math.abs(deltaPct) >= rules.minDeltaPct);
  return { kind: bigEnough ? 'anomaly' : 'small', band: b, side, delta, deltaPct };
}
