import type { CallNode, FormulaNode } from './ast.ts';
import { FormulaError } from './errors.ts';
import { describeArity, FUNCTIONS } from './functions.ts';
import { MAX_LOOKBACK } from './limits.ts';
import { parseFormula } from './parser.ts';
import { closestName } from './suggest.ts';

export interface KpiDef {
  name: string;
  formula: string;
}

interface FormulaProblem {
  kpi: string;
  /** Column in that KPI's formula, when the problem is at one place in it. */
  column?: number;
  message: string;
}

export interface CompiledKpi {
  readonly name: string;
  readonly ast: FormulaNode;
  /** Base metrics needed, including those reached through referenced KPIs; sorted. */
  readonly baseMetrics: readonly string[];
  /** KPIs the formula references directly; sorted. */
  readonly kpiDeps: readonly string[];
  /**
   * How many periods before the current one must be loaded to evaluate this KPI:
   * previous() offsets add up when nested and through referenced KPIs. 0 = none.
   */
  readonly usesPrevious: number;
}

interface CheckResult {
  /** Only KPIs without problems, in dependency order (a KPI after everything it references). */
  compiled: Map<string, CompiledKpi>;
  problems: FormulaProblem[];
}

const NAME = /^[a-z_][a-z0-9_]*$/;

interface Parsed {
  readonly ast: FormulaNode;
  readonly kpiDeps: readonly string[];
  readonly baseRefs: readonly string[];
}

/**
 * Checks a whole KPI catalogue at config load time and reports every problem at once,
 * so a person fixes them in one go rather than one start-up at a time. A KPI with a
 * problem, or that depends on one, is left out of `compiled`; every KPI left out is
 * named in at least one problem.
 */
export function checkFormulas(defs: ReadonlyArray<KpiDef>, baseMetrics: ReadonlySet<string>): CheckResult {
  const problems: FormulaProblem[] = [];
  const kpiNames = new Set<string>();
  const duplicates = new Set<string>();
  for (const def of defs) {
    if (kpiNames.has(def.name)) duplicates.add(def.name);
    kpiNames.add(def.name);
  }

  // A KPI whose own definition is wrong; it can still take part in cycle detection if it parsed.
  const broken = new Set<string>();
  const parsed = new Map<string, Parsed>();
  const seen = new Set<string>();
  for (const def of defs) {
    if (seen.has(def.name)) continue;
    seen.add(def.name);
    const report = (message: string, column?: number): void => {
      broken.add(def.name);
      problems.push(column === undefined ? { kpi: def.name, message } : { kpi: def.name, column, message });
    };
    if (duplicates.has(def.name)) report(`KPI '${def.name}' is defined more than once`);
    if (!NAME.test(def.name)) {
      report(`'${def.name}' is not a valid KPI name: use lowercase letters, digits and _, not starting with a digit`);
    }
    if (baseMetrics.has(def.name)) report(`KPI '${def.name}' has the same name as a base metric; rename one of them`);

    let ast: FormulaNode;
    try {
      ast = parseFormula(def.formula);
    } catch (err) {
      if (!(err instanceof FormulaError)) throw err;
      report(err.message, err.position);
      continue;
    }
    // Not the KPI's own name: suggesting it would only turn a typo into a cycle.
    const known = (): string[] => [...baseMetrics, ...[...kpiNames].filter((n) => n !== def.name)];
    const kpiDeps = new Set<string>();
    const baseRefs = new Set<string>();
    const unknown = new Set<string>();
    walk(ast, (node) => {
      if (node.kind === 'ref') {
        // A base metric wins over a KPI of the same name; that clash is reported on the KPI.
        if (baseMetrics.has(node.name)) baseRefs.add(node.name);
        else if (kpiNames.has(node.name)) kpiDeps.add(node.name);
        else if (!unknown.has(node.name)) {
          unknown.add(node.name);
          report(`unknown name '${node.name}' at column ${node.column}${hint(closestName(node.name, known()))}`, node.column);
        }
      } else if (node.kind === 'call') {
        checkCall(node, report);
      }
    });
    parsed.set(def.name, { ast, kpiDeps: [...kpiDeps].sort(), baseRefs: [...baseRefs] });
  }

  const inCycle = findCycles(defs, parsed, problems);

  // Resolve in dependency order. Cycles are excluded first, so what is left is acyclic;
  // the walk uses an explicit stack because a catalogue can chain many KPIs.
  const compiled = new Map<string, CompiledKpi>();
  const bad = new Set<string>([...broken, ...inCycle]);
  for (const name of kpiNames) if (!parsed.has(name)) bad.add(name);
  for (const root of parsed.keys()) {
    if (bad.has(root) || compiled.has(root)) continue;
    const stack: Array<{ name: string; next: number }> = [{ name: root, next: 0 }];
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      const info = parsed.get(frame.name)!;
      if (frame.next < info.kpiDeps.length) {
        const dep = info.kpiDeps[frame.next++]!;
        if (!bad.has(dep) && !compiled.has(dep)) stack.push({ name: dep, next: 0 });
        continue;
      }
      stack.pop();
      const failedDeps = info.kpiDeps.filter((d) => bad.has(d));
      if (failedDeps.length > 0) {
        bad.add(frame.name);
        const list = failedDeps.map((d) => `'${d}'`).join(', ');
        problems.push({
          kpi: frame.name,
          message: `depends on KPI${failedDeps.length > 1 ? 's' : ''} ${list}, which ${failedDeps.length > 1 ? 'have' : 'has'} problems`,
        });
        continue;
      }
      const kpi = compile(frame.name, info, compiled);
      if (kpi.usesPrevious > MAX_LOOKBACK) {
        bad.add(frame.name);
        problems.push({
          kpi: frame.name,
          message: `looks back ${kpi.usesPrevious} periods through previous(), at most ${MAX_LOOKBACK}`,
        });
        continue;
      }
      compiled.set(frame.name, kpi);
    }
  }
  return { compiled, problems };
}

function hint(suggestion: string | undefined): string {
  return suggestion === undefined ? '' : ` (did you mean '${suggestion}'?)`;
}

function checkCall(node: CallNode, report: (message: string, column?: number) => void): void {
  const spec = FUNCTIONS.get(node.fn);
  if (spec === undefined) {
    report(`unknown function '${node.fn}' at column ${node.column}${hint(closestName(node.fn, FUNCTIONS.keys()))}`, node.column);
    return;
  }
  const n = node.args.length;
  if (n < spec.minArgs || n > spec.maxArgs) {
    report(`${node.fn}() takes ${describeArity(spec)}, got ${n} at column ${node.column}`, node.column);
    return;
  }
  if (node.fn === 'previous' && node.args[1] !== undefined) {
    const arg = node.args[1];
    // A literal only: the engine must know how many periods to load before evaluating anything.
    if (arg.kind !== 'number' || !Number.isInteger(arg.value) || arg.value < 1 || arg.value > MAX_LOOKBACK) {
      report(
        `previous() needs a whole number of periods from 1 to ${MAX_LOOKBACK} as its second argument at column ${arg.column}`,
        arg.column,
      );
    }
  }
}

/** Reports each cycle once, on its first member in definition order, naming the whole loop. */
function findCycles(defs: ReadonlyArray<KpiDef>, parsed: ReadonlyMap<string, Parsed>, problems: FormulaProblem[]): Set<string> {
  const order = new Map<string, number>();
  defs.forEach((d, i) => order.has(d.name) || order.set(d.name, i));
  const edges = (name: string): readonly string[] => (parsed.get(name)?.kpiDeps ?? []).filter((d) => parsed.has(d));

  const inCycle = new Set<string>();
  for (const component of stronglyConnected([...parsed.keys()], edges)) {
    const first = component.reduce((a, b) => (order.get(a)! <= order.get(b)! ? a : b));
    if (component.length === 1 && !edges(first).includes(first)) continue;
    const members = new Set(component);
    for (const m of members) inCycle.add(m);
    const loop = shortestLoop(first, (n) => edges(n).filter((d) => members.has(d)));
    problems.push({ kpi: first, message: `KPIs reference each other in a cycle: ${describeLoop(loop)}` });
  }
  return inCycle;
}

/** Long loops (a generated catalogue gone wrong) are shortened so the message stays readable. */
function describeLoop(loop: readonly string[]): string {
  if (loop.length <= 12) return loop.join(' -> ');
  const hidden = loop.length - 10;
  return [...loop.slice(0, 5), `... (${hidden} more)`, ...loop.slice(-5)].join(' -> ');
}

/** Breadth-first, so the reported loop is the shortest one through `start` (the easiest to read). */
function shortestLoop(start: string, edges: (n: string) => readonly string[]): string[] {
  const parent = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i]!;
    for (const next of edges(node)) {
      if (next === start) {
        const path = [node];
        for (let p = node; p !== start; ) {
          p = parent.get(p)!;
          path.push(p);
        }
        return [...path.reverse(), start];
      }
      if (!parent.has(next)) {
        parent.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start, start]; // not reached: start is in a cycle
}

/** Tarjan's algorithm with an explicit stack, so a long chain of KPIs cannot overflow the call stack. */
function stronglyConnected(nodes: readonly string[], edges: (n: string) => readonly string[]): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const result: string[][] = [];
  let counter = 0;
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: Array<{ node: string; next: number }> = [{ node: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const out = edges(frame.node);
      if (frame.next < out.length) {
        const next = out[frame.next++]!;
        if (!index.has(next)) {
          index.set(next, counter);
          low.set(next, counter++);
          stack.push(next);
          onStack.add(next);
          work.push({ node: next, next: 0 });
        } else if (onStack.has(next)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(next)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        result.push(component);
      }
    }
  }
  return result;
}

function compile(name: string, info: Parsed, compiled: ReadonlyMap<string, CompiledKpi>): CompiledKpi {
  const base = new Set(info.baseRefs);
  for (const dep of info.kpiDeps) for (const m of compiled.get(dep)!.baseMetrics) base.add(m);
  return {
    name,
    ast: info.ast,
    baseMetrics: [...base].sort(),
    kpiDeps: info.kpiDeps,
    usesPrevious: lookback(info.ast, 0, compiled),
  };
}

function lookback(node: FormulaNode, offset: number, compiled: ReadonlyMap<string, CompiledKpi>): number {
  switch (node.kind) {
    case 'number':
      return 0;
    case 'ref':
      return offset + (compiled.get(node.name)?.usesPrevious ?? 0);
    case 'unary':
      return lookback(node.operand, offset, compiled);
    case 'binary':
      return Math.max(lookback(node.left, offset, compiled), lookback(node.right, offset, compiled));
    case 'call': {
      if (node.fn === 'previous') {
        const n = node.args[1];
        const step = n?.kind === 'number' ? n.value : 1;
        return node.args[0] === undefined ? 0 : lookback(node.args[0], offset + step, compiled);
      }
      return Math.max(0, ...node.args.map((a) => lookback(a, offset, compiled)));
    }
  }
}

function walk(node: FormulaNode, visit: (node: FormulaNode) => void): void {
  visit(node);
  switch (node.kind) {
    case 'unary':
      walk(node.operand, visit);
      break;
    case 'binary':
      walk(node.left, visit);
      walk(node.right, visit);
      break;
    case 'call':
      for (const arg of node.args) walk(arg, visit);
      break;
    default:
      break;
  }
}
