import type { BinaryOp, CallNode, FormulaNode } from './ast.ts';
import type { CompiledKpi } from './checker.ts';
import { FormulaError } from './errors.ts';

/** What the engine supplies for one series (grain × dimension) at one current period. */
export interface FormulaEnv {
  /** The base metric summed over the period `offset` periods back (0 = current); null = no data. */
  metric(name: string, offset: number): number | null;
  /** Another KPI's value for the period `offset` periods back; null = no value. */
  kpi(name: string, offset: number): number | null;
}

/**
 * Evaluates a compiled KPI for the period `offset` periods back (0 = the current one;
 * the engine's `kpi` callback can pass its own offset through). Returns null rather
 * than a number that would mislead: any null operand gives null (except in
 * coalesce), division by zero gives null, and so does anything not finite.
 */
export function evaluate(kpi: CompiledKpi, env: FormulaEnv, offset = 0): number | null {
  const value = evalNode(kpi.ast, kpi, env, offset);
  // -0 prints as "0" everywhere except in a few places that would surprise a reader.
  return value === 0 ? 0 : value;
}

function evalNode(node: FormulaNode, kpi: CompiledKpi, env: FormulaEnv, offset: number): number | null {
  switch (node.kind) {
    case 'number':
      return node.value;
    case 'ref':
      return finite(kpi.kpiDeps.includes(node.name) ? env.kpi(node.name, offset) : env.metric(node.name, offset));
    case 'unary': {
      const v = evalNode(node.operand, kpi, env, offset);
      return v === null ? null : -v;
    }
    case 'binary': {
      const l = evalNode(node.left, kpi, env, offset);
      if (l === null) return null;
      const r = evalNode(node.right, kpi, env, offset);
      if (r === null) return null;
      return arithmetic(node.op, l, r);
    }
    case 'call':
      return evalCall(node, kpi, env, offset);
  }
}

function evalCall(node: CallNode, kpi: CompiledKpi, env: FormulaEnv, offset: number): number | null {
  const arg = (i: number, at = offset): number | null => {
    const a = node.args[i];
    if (a === undefined) throw notCompiled(node);
    return evalNode(a, kpi, env, at);
  };
  const all = (): number[] | null => {
    const values: number[] = [];
    for (let i = 0; i < node.args.length; i++) {
      const v = arg(i);
      if (v === null) return null;
      values.push(v);
    }
    return values;
  };
  switch (node.fn) {
    // The engine has already summed each base metric over the period, so within one
    // period sum(x) and avg(x) are x itself; they exist so a formula can say what it means.
    case 'sum':
    case 'avg':
      return arg(0);
    case 'abs': {
      const v = arg(0);
      return v === null ? null : Math.abs(v);
    }
    case 'min': {
      const values = all();
      return values === null ? null : Math.min(...values);
    }
    case 'max': {
      const values = all();
      return values === null ? null : Math.max(...values);
    }
    case 'coalesce':
      for (let i = 0; i < node.args.length; i++) {
        const v = arg(i);
        if (v !== null) return v;
      }
      return null;
    case 'previous': {
      const n = node.args[1];
      if (n !== undefined && n.kind !== 'number') throw notCompiled(node);
      return arg(0, offset + (n?.value ?? 1));
    }
    default:
      throw notCompiled(node);
  }
}

function arithmetic(op: BinaryOp, l: number, r: number): number | null {
  switch (op) {
    case '+':
      return finite(l + r);
    case '-':
      return finite(l - r);
    case '*':
      return finite(l * r);
    case '/':
      return r === 0 ? null : finite(l / r);
  }
}

function finite(v: number | null): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Only reachable with a hand-built AST that skipped checkFormulas. */
function notCompiled(node: CallNode): FormulaError {
  return new FormulaError(`cannot evaluate ${node.fn}() at column ${node.column}: the formula was not checked`, node.column);
}
