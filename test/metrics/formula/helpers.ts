import type { FormulaNode } from '../../../src/metrics/formula/index.ts';

/** The tree without positions, written compactly so expectations stay readable. */
export type Shape = number | string | ['-', Shape] | [string, Shape, Shape] | { call: string; args: Shape[] };

export function shape(node: FormulaNode): Shape {
  switch (node.kind) {
    case 'number':
      return node.value;
    case 'ref':
      return node.name;
    case 'unary':
      return ['-', shape(node.operand)];
    case 'binary':
      return [node.op, shape(node.left), shape(node.right)];
    case 'call':
      return { call: node.fn, args: node.args.map(shape) };
  }
}

/** Structural copy without positions, for comparing two parses of different text. */
export function stripPositions(node: FormulaNode): unknown {
  switch (node.kind) {
    case 'number':
      return { kind: 'number', value: node.value };
    case 'ref':
      return { kind: 'ref', name: node.name };
    case 'unary':
      return { kind: 'unary', op: node.op, operand: stripPositions(node.operand) };
    case 'binary':
      return { kind: 'binary', op: node.op, left: stripPositions(node.left), right: stripPositions(node.right) };
    case 'call':
      return { kind: 'call', fn: node.fn, args: node.args.map(stripPositions) };
  }
}
