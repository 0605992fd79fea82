/** The KPI formula language: parsed and interpreted, never run as JavaScript. */
export type { FormulaNode } from './ast.ts';
export type { CompiledKpi } from './checker.ts';
export type { FormulaEnv } from './evaluator.ts';
export { checkFormulas } from './checker.ts';
export { compileFormulas } from './compile.ts';
export { FormulaError } from './errors.ts';
export { evaluate } from './evaluator.ts';
export { parseFormula } from './parser.ts';
export { printFormula } from './printer.ts';
export { collectRefs } from './refs.ts';
export { closestName } from './suggest.ts';
