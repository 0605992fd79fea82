import type { BinaryOp, FormulaNode } from './ast.ts';
import { FormulaError } from './errors.ts';
import { tokenize, type Token } from './lexer.ts';
import { MAX_FORMULA_LENGTH, MAX_NESTING_DEPTH, MAX_NODES } from './limits.ts';

/**
 * Parses a KPI formula into an AST. Recursive descent:
 *
 *   expr    := term (('+' | '-') term)*        left-associative
 *   term    := unary (('*' | '/') unary)*      left-associative
 *   unary   := '-' unary | primary             so `-x*y` is `(-x)*y`
 *   primary := number | name | name '(' [expr (',' expr)*] ')' | '(' expr ')'
 *
 * Recursion only happens through unary, parentheses and call arguments, and each of
 * those counts against MAX_NESTING_DEPTH, so the parser's own stack is bounded.
 * Throws FormulaError and nothing else for any input.
 */
export function parseFormula(text: string): FormulaNode {
  // YAML turns `formula: 5` into a number; say so rather than fail inside the lexer.
  if (typeof text !== 'string') throw new FormulaError(`formula must be text, not ${typeof text}`, 1);
  if (text.length > MAX_FORMULA_LENGTH) {
    throw new FormulaError(
      `formula is too long (${text.length} characters, at most ${MAX_FORMULA_LENGTH})`,
      MAX_FORMULA_LENGTH + 1,
    );
  }
  const tokens = tokenize(text);
  if (tokens.length === 1) throw new FormulaError('formula is empty', 1);
  return new Parser(tokens).parse();
}

class Parser {
  private index = 0;
  private depth = 0;
  private nodes = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  parse(): FormulaNode {
    const node = this.expr();
    const next = this.peek();
    if (next.kind !== 'end') throw unexpected(next);
    return node;
  }

  private expr(): FormulaNode {
    let left = this.term();
    for (let t = this.peek(); t.kind === '+' || t.kind === '-'; t = this.peek()) {
      this.index++;
      left = this.binary(t, left, this.term());
    }
    return left;
  }

  private term(): FormulaNode {
    let left = this.unary();
    for (let t = this.peek(); t.kind === '*' || t.kind === '/'; t = this.peek()) {
      this.index++;
      left = this.binary(t, left, this.unary());
    }
    return left;
  }

  private unary(): FormulaNode {
    const t = this.peek();
    if (t.kind !== '-') return this.primary();
    this.index++;
    this.enter(t);
    const operand = this.unary();
    this.depth--;
    this.count(t);
    return { kind: 'unary', op: '-', operand, offset: t.offset, column: t.offset + 1 };
  }

  private primary(): FormulaNode {
    const t = this.next();
    switch (t.kind) {
      case 'number':
        this.count(t);
        return { kind: 'number', value: t.value!, offset: t.offset, column: t.offset + 1 };
      case 'name':
        if (this.peek().kind === '(') return this.call(t);
        this.count(t);
        return { kind: 'ref', name: t.text, offset: t.offset, column: t.offset + 1 };
      case '(': {
        this.enter(t);
        const inner = this.expr();
        this.close(t);
        this.depth--;
        // Parentheses only group; they leave no node, so printing and re-parsing round-trips.
        return inner;
      }
      default:
        throw unexpected(t);
    }
  }

  private call(name: Token): FormulaNode {
    const open = this.next();
    this.enter(open);
    const args: FormulaNode[] = [];
    if (this.peek().kind !== ')') {
      args.push(this.expr());
      while (this.peek().kind === ',') {
        this.index++;
        args.push(this.expr());
      }
    }
    this.close(open);
    this.depth--;
    this.count(name);
    return { kind: 'call', fn: name.text, args, offset: name.offset, column: name.offset + 1 };
  }

  private binary(op: Token, left: FormulaNode, right: FormulaNode): FormulaNode {
    this.count(op);
    return { kind: 'binary', op: op.kind as BinaryOp, left, right, offset: op.offset, column: op.offset + 1 };
  }

  private close(open: Token): void {
    const t = this.next();
    if (t.kind === ')') return;
    const opened = `expected ')' to close '(' opened at column ${open.offset + 1}`;
    if (t.kind === 'end') throw new FormulaError(opened, t.offset + 1);
    throw new FormulaError(`unexpected ${describe(t)} at column ${t.offset + 1}: ${opened}`, t.offset + 1);
  }

  private enter(t: Token): void {
    if (++this.depth > MAX_NESTING_DEPTH) {
      throw new FormulaError(
        `formula is nested too deeply (more than ${MAX_NESTING_DEPTH} levels) at column ${t.offset + 1}`,
        t.offset + 1,
      );
    }
  }

  private count(t: Token): void {
    if (++this.nodes > MAX_NODES) {
      throw new FormulaError(
        `formula is too complex (more than ${MAX_NODES} parts) at column ${t.offset + 1}`,
        t.offset + 1,
      );
    }
  }

  private peek(): Token {
    // The token list always ends with 'end', and nothing consumes past it.
    return this.tokens[this.index]!;
  }

  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'end') this.index++;
    return t;
  }
}

function unexpected(t: Token): FormulaError {
  return new FormulaError(`unexpected ${describe(t)} at column ${t.offset + 1}`, t.offset + 1);
}

function describe(t: Token): string {
  if (t.kind === 'end') return 'end of formula';
  const text = t.text.length > 24 ? `${t.text.slice(0, 24)}...` : t.text;
  return `'${text}'`;
}
