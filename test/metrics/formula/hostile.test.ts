import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkFormulas,
  FormulaError,
  parseFormula,
  printFormula,
  type FormulaNode,
} from '../../../src/metrics/formula/index.ts';
import { stripPositions } from './helpers.ts';

const BASE = new Set(['clicks', 'impressions', 'spend']);

/** Either an AST or a FormulaError; anything else thrown (RangeError, TypeError, ...) fails the test. */
function tryParse(text: string): FormulaNode | FormulaError {
  try {
    return parseFormula(text);
  } catch (err) {
    if (err instanceof FormulaError) return err;
    throw err;
  }
}

const HOSTILE: ReadonlyArray<readonly [string, string]> = [
  ['10000 open parentheses', '('.repeat(10_000)],
  ['deep balanced nesting', `${'('.repeat(900)}clicks${')'.repeat(900)}`],
  ['deep nested calls', `${'abs('.repeat(300)}clicks${')'.repeat(300)}`],
  ['a long run of unary minus', `${'-'.repeat(1999)}clicks`],
  ['very long input', 'a'.repeat(100_000)],
  ['long but under the length limit', Array.from({ length: 600 }, () => 'clicks').join('+').slice(0, 2000)],
  ['many small terms', Array.from({ length: 1000 }, () => '1').join('+')],
  ['a number too large', '1e999'],
  ['a number too large written in full', '9'.repeat(400)],
  ['__proto__', '__proto__'],
  ['constructor', 'constructor'],
  ['prototype', 'prototype'],
  ['__proto__ as a function', '__proto__(clicks)'],
  ['constructor as a function', 'constructor(clicks)'],
  ['member access', 'clicks.constructor'],
  ['SQL statement', 'clicks; DROP TABLE metric_facts'],
  ['SQL quote injection', "clicks' OR '1'='1"],
  ['SQL line comment', 'clicks -- comment'],
  ['C comment', '/* x */ clicks'],
  ['JavaScript call', 'process.exit(1)'],
  ['JavaScript require', 'require("child_process")'],
  ['Function constructor', 'Function("return 1")()'],
  ['eval', 'eval(clicks)'],
  ['template literal', '${clicks}'],
  ['this', 'this'],
  ['NUL byte', 'clicks\u0000'],
  ['zero-width space', 'clicks\u200b'],
  ['fullwidth letters', 'ｃｌｉｃｋｓ'],
  ['emoji', 'clicks + 😀'],
  ['lone surrogate', 'clicks\ud800'],
  ['right-to-left override', '\u202eclicks'],
  ['empty string', ''],
  ['only whitespace', ' \t\n\r '],
  ['dangling operator', 'clicks/'],
  ['reversed parentheses', ')('],
  ['trailing comma', 'min(clicks,)'],
  ['double comma', 'min(clicks,,spend)'],
  ['comma after expression', 'sum(clicks),'],
  ['two names', 'clicks impressions'],
  ['hex literal', '0x10'],
  ['Infinity', 'Infinity'],
  ['NaN', 'NaN'],
  ['huge previous offset', 'previous(clicks, 1e9)'],
  ['negative previous offset', 'previous(clicks, -1)'],
  ['unknown function', 'sqrt(clicks)'],
];

describe('hostile formulas', () => {
  it('has a corpus of at least 25 strings', () => {
    expect(HOSTILE.length).toBeGreaterThanOrEqual(25);
  });

  it.each(HOSTILE)('%s: a FormulaError or a problem, quickly', (_label, text) => {
    const started = performance.now();
    const parsed = tryParse(text);
    const { compiled, problems } = checkFormulas([{ name: 'k', formula: text }], BASE);
    expect(performance.now() - started).toBeLessThan(1000);

    expect(problems.length).toBeGreaterThan(0);
    expect(compiled.size).toBe(0);
    for (const p of problems) {
      expect(p.kpi).toBe('k');
      expect(typeof p.message).toBe('string');
      expect(p.message.length).toBeLessThan(300);
    }
    if (parsed instanceof FormulaError) {
      expect(problems[0]).toEqual({ kpi: 'k', column: parsed.position, message: parsed.message });
      expect(parsed.position).toBeGreaterThanOrEqual(1);
      expect(parsed.position).toBeLessThanOrEqual(Math.min(text.length, 2000) + 1);
    }
  });
});

// ---- property tests ----

const NAMES = ['clicks', 'impressions', 'a', '_x', 'x1', 'sum', 'previous', '__proto__', 'constructor', 'e', 'e1'];

const name = fc.oneof(fc.constantFrom(...NAMES), fc.stringMatching(/^[a-z_][a-z0-9_]{0,8}$/));
const number = fc.oneof(
  fc.nat(1_000_000),
  fc.double({ min: 0, max: Number.MAX_VALUE, noNaN: true, noDefaultInfinity: true }).map((v) => (v === 0 ? 0 : v)),
);
const pos = { offset: 0, column: 1 };

const { node: astArbitrary } = fc.letrec<{ node: FormulaNode }>((tie) => ({
  node: fc.oneof(
    { maxDepth: 5, depthSize: 'small' },
    number.map((value): FormulaNode => ({ kind: 'number', value, ...pos })),
    name.map((n): FormulaNode => ({ kind: 'ref', name: n, ...pos })),
    tie('node').map((operand): FormulaNode => ({ kind: 'unary', op: '-', operand, ...pos })),
    fc
      .tuple(fc.constantFrom('+', '-', '*', '/'), tie('node'), tie('node'))
      .map(([op, left, right]): FormulaNode => ({ kind: 'binary', op, left, right, ...pos })),
    fc
      .tuple(name, fc.array(tie('node'), { maxLength: 3 }))
      .map(([fn, args]): FormulaNode => ({ kind: 'call', fn, args, ...pos })),
  ),
}));

function countNodes(node: FormulaNode): number {
  switch (node.kind) {
    case 'number':
    case 'ref':
      return 1;
    case 'unary':
      return 1 + countNodes(node.operand);
    case 'binary':
      return 1 + countNodes(node.left) + countNodes(node.right);
    case 'call':
      return 1 + node.args.reduce((n, a) => n + countNodes(a), 0);
  }
}

/** Every node's position points at its own token in the text. */
function checkPositions(node: FormulaNode, text: string): void {
  expect(node.column).toBe(node.offset + 1);
  switch (node.kind) {
    case 'number':
      expect(Number(text.slice(node.offset).match(/^[0-9.eE+-]+/)?.[0])).toBe(node.value);
      return;
    case 'ref':
      expect(text.startsWith(node.name, node.offset)).toBe(true);
      return;
    case 'unary':
      expect(text[node.offset]).toBe('-');
      checkPositions(node.operand, text);
      return;
    case 'binary':
      expect(text[node.offset]).toBe(node.op);
      checkPositions(node.left, text);
      checkPositions(node.right, text);
      return;
    case 'call':
      expect(text.startsWith(`${node.fn}(`, node.offset)).toBe(true);
      node.args.forEach((a) => checkPositions(a, text));
  }
}

describe('properties', () => {
  it('printing an AST and parsing it again gives the same AST', () => {
    fc.assert(
      fc.property(astArbitrary, (ast) => {
        fc.pre(countNodes(ast) <= 256);
        const text = printFormula(ast);
        fc.pre(text.length <= 2000);
        const reparsed = parseFormula(text);
        expect(stripPositions(reparsed)).toEqual(stripPositions(ast));
        checkPositions(reparsed, text);
      }),
      { numRuns: 500 },
    );
  });

  // Valid tokens only, so a fair share of the strings parse and exercise the parser's deeper paths.
  const tokens = fc.string({
    unit: fc.constantFrom('a', 'clicks', 'sum', 'previous', '1', '0.5', '1e3', '(', ')', ',', '+', '-', '*', '/', ' '),
    maxLength: 30,
  });
  const fragments = fc.string({
    unit: fc.constantFrom(
      'a', 'clicks', 'sum', 'previous', '1', '0.5', '1e3', '9e999', '.', 'e', '(', ')', ',', '+', '-', '*', '/',
      ' ', '\n', ';', '__proto__', 'é', '😀', '\u0000', '\ud800',
    ),
    maxLength: 40,
  });

  it.each([
    ['any unicode', fc.string({ unit: 'binary', maxLength: 60 })],
    ['valid tokens in any order', tokens],
    ['formula-like fragments', fragments],
  ] as const)('for %s the parser returns an AST or throws FormulaError', (_label, strings) => {
    fc.assert(
      fc.property(strings, (text) => {
        const result = tryParse(text);
        if (result instanceof FormulaError) {
          expect(result.position).toBeGreaterThanOrEqual(1);
          expect(result.position).toBeLessThanOrEqual(Math.min(text.length, 2000) + 1);
        } else {
          // Whatever parsed must print back to something that parses to the same tree.
          expect(stripPositions(parseFormula(printFormula(result)))).toEqual(stripPositions(result));
        }
        // The checker reports instead of throwing, whatever the text.
        const { compiled, problems } = checkFormulas([{ name: 'k', formula: text }], BASE);
        expect(compiled.size + problems.length).toBeGreaterThan(0);
      }),
      { numRuns: 1000 },
    );
  });
});
