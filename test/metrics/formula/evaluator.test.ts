import { describe, expect, it } from 'vitest';
import { checkFormulas, evaluate, type CompiledKpi, type FormulaEnv } from '../../../src/metrics/formula/index.ts';

const BASE = new Set(['clicks', 'impressions', 'spend', 'revenue', 'leads']);

/** Compiles a catalogue and evaluates one KPI; each KPI reference is evaluated recursively at its offset. */
function run(
  defs: Record<string, string>,
  kpi: string,
  series: Record<string, ReadonlyArray<number | null>>,
): number | null {
  const { compiled, problems } = checkFormulas(
    Object.entries(defs).map(([name, formula]) => ({ name, formula })),
    BASE,
  );
  expect(problems).toEqual([]);
  const env: FormulaEnv = {
    // series[name][offset]: index 0 is the current period, 1 the one before, and so on.
    metric: (name, offset) => series[name]?.[offset] ?? null,
    kpi: (name, offset) => evaluate(compiled.get(name)!, env, offset),
  };
  return evaluate(compiled.get(kpi)!, env);
}

const value = (formula: string, series: Record<string, ReadonlyArray<number | null>> = {}) =>
  run({ k: formula }, 'k', series);

describe('evaluate: arithmetic', () => {
  it('follows precedence and associativity', () => {
    expect(value('1-2-3')).toBe(-4);
    expect(value('2*3+4')).toBe(10);
    expect(value('8/4/2')).toBe(1);
    expect(value('-clicks*impressions', { clicks: [2], impressions: [3] })).toBe(-6);
    expect(value('-(1 - 3)')).toBe(2);
  });

  it('computes a ratio of period sums', () => {
    expect(value('clicks / impressions', { clicks: [25], impressions: [1000] })).toBe(0.025);
  });

  it('gives null for division by zero, never Infinity or NaN', () => {
    expect(value('clicks / impressions', { clicks: [5], impressions: [0] })).toBeNull();
    expect(value('0 / 0')).toBeNull();
    expect(value('1 / (clicks - clicks)', { clicks: [3] })).toBeNull();
  });

  it('gives null for results that are not finite', () => {
    expect(value('1e308 * 10')).toBeNull();
    expect(value('-1e308 - 1e308')).toBeNull();
    expect(value('1 / 1e-320')).toBeNull();
  });

  it('treats a non-finite value from the engine as no data', () => {
    expect(value('clicks + 1', { clicks: [Number.NaN] })).toBeNull();
    expect(value('coalesce(clicks, 7)', { clicks: [Infinity] })).toBe(7);
  });

  it('never returns -0', () => {
    expect(Object.is(value('0 * -1'), 0)).toBe(true);
  });
});

describe('evaluate: null and functions', () => {
  it('propagates null through arithmetic and functions', () => {
    const s = { clicks: [null], impressions: [100] };
    for (const f of ['clicks + 1', '1 - clicks', 'clicks * 0', '0 / clicks', '-clicks', 'abs(clicks)', 'min(clicks, 1)', 'max(1, clicks)', 'sum(clicks)', 'avg(clicks)']) {
      expect(value(f, s), f).toBeNull();
    }
  });

  it('coalesce returns the first non-null argument', () => {
    expect(value('coalesce(clicks, impressions, 3)', { clicks: [null], impressions: [null] })).toBe(3);
    expect(value('coalesce(clicks, impressions, 3)', { clicks: [null], impressions: [0] })).toBe(0);
    expect(value('coalesce(clicks, impressions)', { clicks: [null], impressions: [null] })).toBeNull();
    expect(value('coalesce(clicks / impressions, 0)', { clicks: [1], impressions: [0] })).toBe(0);
  });

  it('computes min, max, abs; sum and avg of a period value are the value', () => {
    expect(value('min(3, clicks, 2)', { clicks: [5] })).toBe(2);
    expect(value('max(3, clicks, 2)', { clicks: [5] })).toBe(5);
    expect(value('abs(1 - clicks)', { clicks: [5] })).toBe(4);
    expect(value('sum(clicks) / avg(impressions)', { clicks: [5], impressions: [10] })).toBe(0.5);
  });
});

describe('evaluate: previous()', () => {
  const clicks = [100, 80, 50, 40, null];

  it('reads the period n back, 1 by default', () => {
    expect(value('previous(clicks)', { clicks })).toBe(80);
    expect(value('previous(clicks, 1)', { clicks })).toBe(80);
    expect(value('previous(clicks, 3)', { clicks })).toBe(40);
    expect(value('clicks - previous(clicks)', { clicks })).toBe(20);
    expect(value('previous(clicks, 4)', { clicks })).toBeNull();
  });

  it('shifts every reference inside the expression, and nests additively', () => {
    expect(value('previous(clicks / impressions, 2)', { clicks, impressions: [1, 1, 10, 1] })).toBe(5);
    expect(value('previous(previous(clicks), 2)', { clicks })).toBe(40);
    expect(value('previous(clicks + previous(clicks))', { clicks })).toBe(130);
  });

  it('passes the offset to referenced KPIs', () => {
    const defs = { ctr: 'clicks / impressions', growth: '(ctr - previous(ctr, 2)) / previous(ctr, 2)' };
    const series = { clicks: [30, 99, 10], impressions: [100, 1, 100] };
    expect(run(defs, 'growth', series)).toBeCloseTo(2);
  });

  it('a KPI offset and the caller offset add up', () => {
    const defs = { last: 'previous(clicks)', before_last: 'previous(last)' };
    expect(run(defs, 'before_last', { clicks })).toBe(50);
  });
});

describe('evaluate: env lookups', () => {
  it('asks the engine for KPIs through kpi() and base metrics through metric()', () => {
    const { compiled } = checkFormulas(
      [
        { name: 'cost', formula: 'spend' },
        { name: 'cpl', formula: 'previous(cost, 2) / leads' },
      ],
      BASE,
    );
    const calls: string[] = [];
    const env: FormulaEnv = {
      metric: (name, offset) => (calls.push(`metric ${name} ${offset}`), 4),
      kpi: (name, offset) => (calls.push(`kpi ${name} ${offset}`), 12),
    };
    const cpl: CompiledKpi = compiled.get('cpl')!;
    expect(evaluate(cpl, env)).toBe(3);
    expect(evaluate(cpl, env, 5)).toBe(3);
    expect(calls).toEqual(['kpi cost 2', 'metric leads 0', 'kpi cost 7', 'metric leads 5']);
  });
});
