import type { FormulaNode } from './ast.ts';

/** Every name the formula references (base metrics and KPIs alike; not function names). */
export function collectRefs(node: FormulaNode): Set<string> {
  const names = new Set<string>();
  visit(node, names);
  return names;
}

function visit(node: FormulaNode, names: Set<string>): void {
  switch (node.kind) {
    case 'number':
      return;
    case 'ref':
      names.add(node.name);
      return;
    case 'unary':
      visit(node.operand, names);
      return;
    case 'binary':
      visit(node.left, names);
      visit(node.right, names);
      return;
    case 'call':
      for (const arg of node.args) visit(arg, names);
  }
}
