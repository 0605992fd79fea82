/** The KPI formula language: parsed and interpreted, never run as JavaScript. */
export type { BinaryOp, BinaryNode, CallNode, FormulaNode, NumberNode, RefNode, SourcePosition, UnaryNode } from './ast.ts';
export type { CheckResult, CompiledKpi, FormulaProblem, KpiDef } from './checker.ts';
export type { FormulaEnv } from './evaluator.ts';
export { checkFormulas } from './checker.ts';
export { compileFormulas } from './compile.ts';
export { FormulaError } from './errors.ts';
export { evaluate } from './evaluator.ts';
export { MAX_FORMULA_LENGTH, MAX_LOOKBACK, MAX_NESTING_DEPTH, MAX_NODES } from './limits.ts';
export { parseFormula } from './parser.ts';
export { printFormula } from './printer.ts';
export { collectRefs } from './refs.ts';
export { closestName } from './suggest.ts';
