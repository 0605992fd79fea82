import type { Config, ConfigCheck } from '../config/index.ts';
import type { ConfigProblem } from '../core/errors.ts';
import { builtinKpis, checkCatalogue } from './catalogue.ts';
import { closestName } from './formula/index.ts';
import { baseMetricNames } from '../core/vocabulary.ts';
import { checkMetricSources, warnDoubleCounting } from './source-checks.ts';

/** Every name a KPI reference may use, including config KPIs with problems (reported once, on the KPI). */
function kpiNames(config: Config): Set<string> {
  return new Set([...baseMetricNames, ...builtinKpis.map((k) => k.name), ...config.kpis.map((k) => k.name)]);
}

function unknownKpi(name: string, known: Set<string>): string {
  const close = closestName(name, known);
  return `unknown KPI '${name}': not a base metric, a built-in KPI or one in kpis${close ? ` (did you mean '${close}'?)` : ''}`;
}

/** Syntax, unknown names and cycles in every config KPI formula, at `kpis[i].formula`. */
const checkKpiFormulas: ConfigCheck = (config) => checkCatalogue(config.kpis).problems;

const checkNorthStar: ConfigCheck = (config) => {
  if (config.northStar === undefined) return [];
  const known = kpiNames(config);
  return known.has(config.northStar) ? [] : [{ path: 'northStar', message: unknownKpi(config.northStar, known) }];
};

const checkGoals: ConfigCheck = (config) => {
  const known = kpiNames(config);
  const problems: ConfigProblem[] = [];
  const seen = new Map<string, number>();
  config.goals.forEach((goal, i) => {
    const first = seen.get(goal.name);
    if (first !== undefined) problems.push({ path: `goals[${i}].name`, message: `goal '${goal.name}' is defined more than once (also goals[${first}])` });
    else seen.set(goal.name, i);
    if (!known.has(goal.kpi)) problems.push({ path: `goals[${i}].kpi`, message: unknownKpi(goal.kpi, known) });
    if (goal.deadline < goal.start) problems.push({ path: `goals[${i}].deadline`, message: `deadline ${goal.deadline} is before start ${goal.start}` });
  });
  return problems;
};

const checkOkrs: ConfigCheck = (config) => {
  const goals = new Set(config.goals.map((g) => g.name));
  const problems: ConfigProblem[] = [];
  const seen = new Map<string, number>();
  config.okrs.forEach((okr, i) => {
    const first = seen.get(okr.name);
    if (first !== undefined) problems.push({ path: `okrs[${i}].name`, message: `OKR '${okr.name}' is defined more than once (also okrs[${first}])` });
    else seen.set(okr.name, i);
    const listed = new Map<string, number>();
    okr.keyResults.forEach((kr, j) => {
      // One key result per goal: its weight is its share (okr_key_results is keyed by OKR and goal).
      const before = listed.get(kr.goal);
      if (before !== undefined) return void problems.push({ path: `okrs[${i}].keyResults[${j}].goal`, message: `goal '${kr.goal}' is already key result ${before} of this OKR: list each goal once, with a weight for its share` });
      listed.set(kr.goal, j);
      if (goals.has(kr.goal)) return;
      const close = closestName(kr.goal, goals);
      problems.push({ path: `okrs[${i}].keyResults[${j}].goal`, message: `unknown goal '${kr.goal}': key results name a goal from goals${close ? ` (did you mean '${close}'?)` : ''}` });
    });
  });
  return problems;
};

/** A rate for the reporting currency itself can only be 1; anything else is a mistake that would skew every total. */
const checkFxRates: ConfigCheck = (config) => {
  const { currency, fxRates } = config.reporting;
  const own = fxRates[currency];
  return own !== undefined && own !== 1
    ? [{ path: `reporting.fxRates.${currency}`, message: `${currency} is the reporting currency, so its rate is 1 (got ${own}); remove it or set it to 1` }]
    : [];
};

export const metricsChecks: readonly ConfigCheck[] = [checkKpiFormulas, checkNorthStar, checkGoals, checkOkrs, checkFxRates, checkMetricSources];

/** Findings that do not stop a load; `kpi validate` prints them. */
export const metricsWarnings: readonly ConfigCheck[] = [warnDoubleCounting];
