import { describe, expect, it } from 'vitest';
import { configChecks } from '../../src/config-checks.ts';
import { parseConfig } from '../../src/config/index.ts';
import { ConfigError } from '../../src/core/errors.ts';

function problemsOf(yaml: string): Array<{ path: string; message: string; line?: number }> {
  try {
    parseConfig(yaml, 'kpi.yaml', { env: {}, checks: configChecks });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.map((p) => ({ path: p.path, message: p.message, ...(p.line ? { line: p.line } : {}) }));
  }
  return [];
}

const goal = (name: string, kpi: string, extra = '') => `  - name: ${name}\n    kpi: ${kpi}\n    target: 1\n    start: "2026-03-01"\n    deadline: "2026-03-31"\n${extra}`;

describe('metrics config checks', () => {
  it('accepts config KPIs that use base metrics, built-ins and each other, and override a built-in', () => {
    const yaml = `
northStar: blended_roas
kpis:
  - name: ctr
    formula: clicks / impressions * 100
    unit: percent
  - name: paid_spend
    formula: spend
    filter: { channel: [paid_search, paid_social] }
  - name: blended_roas
    formula: revenue / paid_spend
  - name: cpc_trend
    formula: cpc - previous(cpc)
goals:
${goal('roas_q1', 'blended_roas')}${goal('clicks_q1', 'clicks')}
okrs:
  - name: growth
    objective: Grow
    keyResults: [{ goal: roas_q1 }, { goal: clicks_q1, weight: 2 }]
`;
    expect(problemsOf(yaml)).toEqual([]);
  });

  it('points at kpis[i].formula for an unknown name, with the column and a suggestion', () => {
    expect(problemsOf('kpis:\n  - name: cpl\n    formula: spend / leadz\n')).toEqual([
      { path: 'kpis[0].formula', message: "KPI 'cpl': unknown name 'leadz' at column 9 (did you mean 'leads'?)", line: 3 },
    ]);
  });

  it('reports a syntax error with its column', () => {
    expect(problemsOf('kpis:\n  - name: ok\n    formula: clicks\n  - name: broken\n    formula: "(clicks / "\n')).toEqual([
      { path: 'kpis[1].formula', message: "KPI 'broken': unexpected end of formula at column 11", line: 5 },
    ]);
  });

  it('reports a cycle once, naming the loop', () => {
    expect(problemsOf('kpis:\n  - name: a\n    formula: b + 1\n  - name: b\n    formula: a * 2\n')).toEqual([
      { path: 'kpis[0].formula', message: "KPI 'a': KPIs reference each other in a cycle: a -> b -> a", line: 3 },
    ]);
  });

  it('reports a cycle through a built-in on the config KPI that made it', () => {
    expect(problemsOf('kpis:\n  - name: cpc\n    formula: cpc_x / 2\n  - name: cpc_x\n    formula: cpc * 2\n')).toEqual([
      { path: 'kpis[0].formula', message: "KPI 'cpc': KPIs reference each other in a cycle: cpc -> cpc_x -> cpc", line: 3 },
    ]);
  });

  it('says a KPI that uses a broken one depends on it', () => {
    expect(problemsOf('kpis:\n  - name: a\n    formula: nope\n  - name: b\n    formula: a * 2\n')).toEqual([
      { path: 'kpis[0].formula', message: "KPI 'a': unknown name 'nope' at column 1", line: 3 },
      { path: 'kpis[1].formula', message: "KPI 'b': depends on KPI 'a', which has problems", line: 5 },
    ]);
  });

  it('refuses a KPI named like a base metric, and a KPI defined twice, at kpis[i].name', () => {
    expect(problemsOf('kpis:\n  - name: clicks\n    formula: impressions\n  - name: x\n    formula: clicks\n  - name: x\n    formula: spend\n')).toEqual([
      { path: 'kpis[0].name', message: "KPI 'clicks' has the same name as a base metric; rename one of them", line: 2 },
      { path: 'kpis[2].name', message: "KPI 'x' is defined more than once (also kpis[1])", line: 6 },
    ]);
  });

  it('checks that the North Star exists', () => {
    expect(problemsOf('northStar: revenu\n')).toEqual([
      { path: 'northStar', message: "unknown KPI 'revenu': not a base metric, a built-in KPI or one in kpis (did you mean 'revenue'?)", line: 1 },
    ]);
  });

  it('checks goals: the KPI exists, names are unique, the deadline is not before the start', () => {
    const yaml = `goals:\n${goal('g', 'ctrr')}${goal('g', 'ctr')}  - name: h\n    kpi: ctr\n    target: 1\n    start: "2026-03-01"\n    deadline: "2026-02-01"\n`;
    expect(problemsOf(yaml)).toEqual([
      { path: 'goals[0].kpi', message: "unknown KPI 'ctrr': not a base metric, a built-in KPI or one in kpis (did you mean 'ctr'?)", line: 3 },
      { path: 'goals[1].name', message: "goal 'g' is defined more than once (also goals[0])", line: 7 },
      { path: 'goals[2].deadline', message: 'deadline 2026-02-01 is before start 2026-03-01', line: 16 },
    ]);
  });

  it('checks that every key result names a goal', () => {
    const yaml = `goals:\n${goal('signups', 'leads')}okrs:\n  - name: o\n    objective: x\n    keyResults:\n      - goal: signups\n      - goal: signup\n  - name: o\n    objective: y\n    keyResults: [{ goal: signups }]\n`;
    expect(problemsOf(yaml)).toEqual([
      { path: 'okrs[0].keyResults[1].goal', message: "unknown goal 'signup': key results name a goal from goals (did you mean 'signups'?)", line: 12 },
      { path: 'okrs[1].name', message: "OKR 'o' is defined more than once (also okrs[0])", line: 13 },
    ]);
  });

  it('refuses a goal listed twice in one OKR (kpi recompute and every evaluate step failed on it with a duplicate key), not in two OKRs', () => {
    const yaml = `goals:\n${goal('signups', 'leads')}okrs:\n  - name: o\n    objective: x\n    keyResults:\n      - goal: signups\n      - { goal: signups, weight: 2 }\n  - name: p\n    objective: y\n    keyResults: [{ goal: signups }]\n`;
    expect(problemsOf(yaml)).toEqual([{ path: 'okrs[0].keyResults[1].goal', message: "goal 'signups' is already key result 0 of this OKR: list each goal once, with a weight for its share", line: 12 }]);
  });

  it('refuses a rate other than 1 for the reporting currency', () => {
    expect(problemsOf('reporting:\n  currency: EUR\n  fxRates: { EUR: 1.1, USD: 0.9 }\n')).toEqual([
      { path: 'reporting.fxRates.EUR', message: 'EUR is the reporting currency, so its rate is 1 (got 1.1); remove it or set it to 1', line: 3 },
    ]);
  });
});
