import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/core/errors.ts';
import { checkFormulas, collectRefs, compileFormulas, parseFormula } from '../../../src/metrics/formula/index.ts';

const BASE = new Set(['clicks', 'impressions', 'spend', 'conversions', 'revenue', 'sessions']);

const check = (defs: Record<string, string>, base: ReadonlySet<string> = BASE) =>
  checkFormulas(
    Object.entries(defs).map(([name, formula]) => ({ name, formula })),
    base,
  );

describe('collectRefs', () => {
  it('collects every referenced name once, not function names', () => {
    expect(collectRefs(parseFormula('sum(clicks) / impressions + previous(clicks, 2) - max(a, 1)'))).toEqual(
      new Set(['clicks', 'impressions', 'a']),
    );
    expect(collectRefs(parseFormula('42'))).toEqual(new Set());
  });
});

describe('checkFormulas', () => {
  it('compiles a valid catalogue in dependency order', () => {
    const { compiled, problems } = check({
      roas: 'revenue / cost',
      cost: 'spend',
      ctr: 'clicks / impressions',
      cpc: 'cost / clicks',
      cpc_change: 'cpc - previous(cpc)',
    });
    expect(problems).toEqual([]);
    const order = [...compiled.keys()];
    expect(order.indexOf('cost')).toBeLessThan(order.indexOf('roas'));
    expect(order.indexOf('cpc')).toBeLessThan(order.indexOf('cpc_change'));
    expect(new Set(order)).toEqual(new Set(['roas', 'cost', 'ctr', 'cpc', 'cpc_change']));

    expect(compiled.get('roas')).toMatchObject({ name: 'roas', baseMetrics: ['revenue', 'spend'], kpiDeps: ['cost'], usesPrevious: 0 });
    expect(compiled.get('ctr')).toMatchObject({ baseMetrics: ['clicks', 'impressions'], kpiDeps: [] });
    expect(compiled.get('cpc_change')).toMatchObject({ baseMetrics: ['clicks', 'spend'], kpiDeps: ['cpc'], usesPrevious: 1 });
  });

  it('adds up previous() offsets when nested and through referenced KPIs', () => {
    const { compiled, problems } = check({
      a: 'previous(clicks, 7)',
      b: 'previous(previous(a, 2)) + clicks',
      c: 'previous(b, 3) + previous(spend, 20)',
      d: '1 + previous(2)',
    });
    expect(problems).toEqual([]);
    expect(compiled.get('a')!.usesPrevious).toBe(7);
    expect(compiled.get('b')!.usesPrevious).toBe(10);
    expect(compiled.get('c')!.usesPrevious).toBe(20);
    expect(compiled.get('d')!.usesPrevious).toBe(0);
  });

  it('reports unknown names with the closest known name', () => {
    const { compiled, problems } = check({ ctr: 'clikcs / impresions', cpc: 'spend / clicks', cpl: 'cpc * foo + cpcc' });
    expect(problems).toEqual([
      { kpi: 'ctr', column: 1, message: "unknown name 'clikcs' at column 1 (did you mean 'clicks'?)" },
      { kpi: 'ctr', column: 10, message: "unknown name 'impresions' at column 10 (did you mean 'impressions'?)" },
      { kpi: 'cpl', column: 7, message: "unknown name 'foo' at column 7" },
      { kpi: 'cpl', column: 13, message: "unknown name 'cpcc' at column 13 (did you mean 'cpc'?)" },
    ]);
    expect([...compiled.keys()]).toEqual(['cpc']);
  });

  it('reports an unknown name once per KPI', () => {
    const { problems } = check({ x: 'nope + nope' });
    expect(problems).toHaveLength(1);
  });

  it('resolves __proto__, constructor and prototype as unknown names, not object members', () => {
    const { compiled, problems } = check({ x: '__proto__ + constructor + prototype + tostring' });
    expect(problems.map((p) => p.message)).toEqual([
      "unknown name '__proto__' at column 1",
      "unknown name 'constructor' at column 13",
      "unknown name 'prototype' at column 27",
      "unknown name 'tostring' at column 39",
    ]);
    expect(compiled.size).toBe(0);
  });

  it('reports unknown functions and wrong arity', () => {
    const { problems } = check({
      a: 'sum(clicks, spend)',
      b: 'avg()',
      c: 'min(clicks)',
      d: 'previous(clicks, 1, 2)',
      e: 'sqrt(clicks)',
      f: 'coalesc(clicks, 0)',
      g: 'constructor(clicks)',
      h: 'abs(clicks, 1)',
    });
    expect(problems).toEqual([
      { kpi: 'a', column: 1, message: 'sum() takes exactly 1 argument, got 2 at column 1' },
      { kpi: 'b', column: 1, message: 'avg() takes exactly 1 argument, got 0 at column 1' },
      { kpi: 'c', column: 1, message: 'min() takes at least 2 arguments, got 1 at column 1' },
      { kpi: 'd', column: 1, message: 'previous() takes 1 or 2 arguments, got 3 at column 1' },
      { kpi: 'e', column: 1, message: "unknown function 'sqrt' at column 1" },
      { kpi: 'f', column: 1, message: "unknown function 'coalesc' at column 1 (did you mean 'coalesce'?)" },
      { kpi: 'g', column: 1, message: "unknown function 'constructor' at column 1" },
      { kpi: 'h', column: 1, message: 'abs() takes exactly 1 argument, got 2 at column 1' },
    ]);
  });

  it('requires previous() offsets to be literal whole numbers in range', () => {
    const { problems, compiled } = check({
      a: 'previous(clicks, 0)',
      b: 'previous(clicks, 1.5)',
      c: 'previous(clicks, -1)',
      d: 'previous(clicks, spend)',
      e: 'previous(clicks, 367)',
      f: 'previous(clicks, 366)',
      g: 'previous(previous(clicks, 200), 200)',
    });
    const msg = (col: number) => `previous() needs a whole number of periods from 1 to 366 as its second argument at column ${col}`;
    expect(problems).toEqual([
      { kpi: 'a', column: 18, message: msg(18) },
      { kpi: 'b', column: 18, message: msg(18) },
      { kpi: 'c', column: 18, message: msg(18) },
      { kpi: 'd', column: 18, message: msg(18) },
      { kpi: 'e', column: 18, message: msg(18) },
      { kpi: 'g', message: 'looks back 400 periods through previous(), at most 366' },
    ]);
    expect([...compiled.keys()]).toEqual(['f']);
  });

  it('reports syntax errors with their column', () => {
    const { problems, compiled } = check({ ctr: 'clicks / (impressions', ok: 'clicks' });
    expect(problems).toEqual([{ kpi: 'ctr', column: 22, message: "expected ')' to close '(' opened at column 10" }]);
    expect([...compiled.keys()]).toEqual(['ok']);
  });

  it('names each cycle once', () => {
    const { compiled, problems } = check({
      a: 'b + 1',
      b: 'c * 2',
      c: 'a - clicks',
      self: 'self + 1',
      x: 'y',
      y: 'x',
      fine: 'clicks',
    });
    expect(problems).toEqual([
      { kpi: 'a', message: 'KPIs reference each other in a cycle: a -> b -> c -> a' },
      { kpi: 'self', message: 'KPIs reference each other in a cycle: self -> self' },
      { kpi: 'x', message: 'KPIs reference each other in a cycle: x -> y -> x' },
    ]);
    expect([...compiled.keys()]).toEqual(['fine']);
  });

  it('reports the shortest loop through the first KPI of a tangled cycle', () => {
    const { problems } = check({ a: 'b + c', b: 'c', c: 'a' });
    expect(problems.map((p) => p.message)).toEqual(['KPIs reference each other in a cycle: a -> c -> a']);
  });

  it('marks KPIs that depend on a broken KPI, without repeating the root cause', () => {
    const { compiled, problems } = check({ top: 'mid * 2', mid: 'bad + loop', bad: 'clicks +', loop: 'loop', other: 'top' });
    expect(problems).toEqual([
      { kpi: 'bad', column: 9, message: 'unexpected end of formula at column 9' },
      { kpi: 'loop', message: 'KPIs reference each other in a cycle: loop -> loop' },
      { kpi: 'mid', message: "depends on KPIs 'bad', 'loop', which have problems" },
      { kpi: 'top', message: "depends on KPI 'mid', which has problems" },
      { kpi: 'other', message: "depends on KPI 'top', which has problems" },
    ]);
    expect(compiled.size).toBe(0);
  });

  it('rejects a KPI named like a base metric, duplicates and invalid names', () => {
    const { compiled, problems } = checkFormulas(
      [
        { name: 'clicks', formula: 'clicks * 2' },
        { name: 'ctr', formula: 'clicks / impressions' },
        { name: 'ctr', formula: 'clicks' },
        { name: 'Bad-Name', formula: 'clicks' },
        { name: 'uses_ctr', formula: 'ctr * 100' },
      ],
      BASE,
    );
    expect(problems).toEqual([
      { kpi: 'clicks', message: "KPI 'clicks' has the same name as a base metric; rename one of them" },
      { kpi: 'ctr', message: "KPI 'ctr' is defined more than once" },
      {
        kpi: 'Bad-Name',
        message: "'Bad-Name' is not a valid KPI name: use lowercase letters, digits and _, not starting with a digit",
      },
      { kpi: 'uses_ctr', message: "depends on KPI 'ctr', which has problems" },
    ]);
    expect(compiled.size).toBe(0);
  });

  it('handles a long chain of KPIs without deep recursion', () => {
    const defs = [{ name: 'k0', formula: 'clicks' }];
    for (let i = 1; i < 20_000; i++) defs.push({ name: `k${i}`, formula: `k${i - 1} + 1` });
    const { compiled, problems } = checkFormulas(defs.reverse(), BASE);
    expect(problems).toEqual([]);
    expect([...compiled.keys()][0]).toBe('k0');
    expect(compiled.get('k19999')!.baseMetrics).toEqual(['clicks']);

    defs[defs.length - 1] = { name: 'k0', formula: 'k19999' };
    const cyclic = checkFormulas(defs, BASE);
    expect(cyclic.problems).toHaveLength(1);
    expect(cyclic.problems[0]!.message).toBe(
      'KPIs reference each other in a cycle: k19999 -> k19998 -> k19997 -> k19996 -> k19995 -> ... (19991 more)' +
        ' -> k3 -> k2 -> k1 -> k0 -> k19999',
    );
  });
});

describe('compileFormulas', () => {
  it('returns the catalogue when there is nothing wrong', () => {
    expect([...compileFormulas([{ name: 'ctr', formula: 'clicks / impressions' }], BASE).keys()]).toEqual(['ctr']);
  });

  it('throws one ConfigError naming every KPI and problem', () => {
    const run = () =>
      compileFormulas(
        [
          { name: 'ctr', formula: 'clikcs / impressions' },
          { name: 'cpc', formula: 'spend /' },
        ],
        BASE,
      );
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(
      "kpis.ctr.formula: unknown name 'clikcs' at column 1 (did you mean 'clicks'?)\n" +
        'kpis.cpc.formula: unexpected end of formula at column 8',
    );
  });
});
