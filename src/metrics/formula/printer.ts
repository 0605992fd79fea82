import type { FormulaNode } from './ast.ts';

const PRECEDENCE = { '+': 1, '-': 1, '*': 2, '/': 2 } as const;

/**
 * Prints an AST back as formula text with the fewest parentheses that keep its shape,
 * so parseFormula(printFormula(ast)) gives the same tree (positions aside).
 */
export function printFormula(node: FormulaNode): string {
  switch (node.kind) {
    case 'number':
      // String() gives forms the lexer reads back exactly (`0.5`, `1e+21`, `5e-7`).
      return String(node.value);
    case 'ref':
      return node.name;
    case 'unary':
      return `-${wrapIf(node.operand, node.operand.kind === 'binary')}`;
    case 'binary': {
      const p = PRECEDENCE[node.op];
      const left = wrapIf(node.left, node.left.kind === 'binary' && PRECEDENCE[node.left.op] < p);
      // Operators are left-associative, so an equal-precedence right operand needs parentheses: a - (b - c).
      const right = wrapIf(node.right, node.right.kind === 'binary' && PRECEDENCE[node.right.op] <= p);
      return `${left} ${node.op} ${right}`;
    }
    case 'call':
      return `${node.fn}(${node.args.map(printFormula).join(', ')})`;
  }
}

function wrapIf(node: FormulaNode, wrap: boolean): string {
  const text = printFormula(node);
  return wrap ? `(${text})` : text;
}
