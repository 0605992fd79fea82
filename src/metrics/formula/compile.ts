import { ConfigError } from '../../core/errors.ts';
import { checkFormulas, type CompiledKpi, type KpiDef } from './checker.ts';

/**
 * checkFormulas for start-up: returns the compiled catalogue, or throws one ConfigError
 * listing every problem, each naming its KPI. `pathOf` maps a KPI name to where it sits
 * in the configuration, so the message says where to fix it.
 */
export function compileFormulas(
  defs: ReadonlyArray<KpiDef>,
  baseMetrics: ReadonlySet<string>,
  pathOf: (kpi: string) => string = (kpi) => `kpis.${kpi}.formula`,
): Map<string, CompiledKpi> {
  const { compiled, problems } = checkFormulas(defs, baseMetrics);
  if (problems.length > 0) {
    throw new ConfigError(problems.map((p) => ({ path: pathOf(p.kpi), message: p.message })));
  }
  return compiled;
}
