/**
 * The formula AST. Nodes are plain, immutable data so a compiled KPI can be shared
 * between evaluations and compared structurally in tests.
 */

export type BinaryOp = '+' | '-' | '*' | '/';

interface SourcePosition {
  /** 0-based offset into the formula text. */
  readonly offset: number;
  /**
   * 1-based column, what messages show. A formula is one logical line (a newline is
   * just whitespace and counts as one column), so this is always offset + 1.
   */
  readonly column: number;
}

export interface NumberNode extends SourcePosition {
  readonly kind: 'number';
  /** Always finite and not negative: a leading minus is a unary node. */
  readonly value: number;
}

export interface RefNode extends SourcePosition {
  readonly kind: 'ref';
  /** A base metric or another KPI; which one is decided by the checker, not the parser. */
  readonly name: string;
}

export interface UnaryNode extends SourcePosition {
  readonly kind: 'unary';
  readonly op: '-';
  readonly operand: FormulaNode;
}

/** Positioned at its operator, which is the part a reader looks for. */
export interface BinaryNode extends SourcePosition {
  readonly kind: 'binary';
  readonly op: BinaryOp;
  readonly left: FormulaNode;
  readonly right: FormulaNode;
}

export interface CallNode extends SourcePosition {
  readonly kind: 'call';
  /** Any name parses as a call; the checker decides whether the function exists. */
  readonly fn: string;
  readonly args: readonly FormulaNode[];
}

export type FormulaNode = NumberNode | RefNode | UnaryNode | BinaryNode | CallNode;
