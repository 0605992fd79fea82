import { describe, expect, it } from 'vitest';
import { FormulaError, parseFormula, printFormula } from '../../../src/metrics/formula/index.ts';
import { shape } from './helpers.ts';

const parse = (text: string) => shape(parseFormula(text));

function errorOf(text: string): FormulaError {
  try {
    parseFormula(text);
  } catch (err) {
    expect(err).toBeInstanceOf(FormulaError);
    return err as FormulaError;
  }
  throw new Error(`expected ${JSON.stringify(text)} not to parse`);
}

describe('parseFormula: precedence and associativity', () => {
  it.each([
    ['1-2-3', ['-', ['-', 1, 2], 3]],
    ['8/4/2', ['/', ['/', 8, 4], 2]],
    ['2*3+4', ['+', ['*', 2, 3], 4]],
    ['4+2*3', ['+', 4, ['*', 2, 3]]],
    ['-x*y', ['*', ['-', 'x'], 'y']],
    ['-(x*y)', ['-', ['*', 'x', 'y']]],
    ['a - -b', ['-', 'a', ['-', 'b']]],
    ['--a', ['-', ['-', 'a']]],
    ['(1-2)-3', ['-', ['-', 1, 2], 3]],
    ['1-(2-3)', ['-', 1, ['-', 2, 3]]],
    ['a*(b+c)/d', ['/', ['*', 'a', ['+', 'b', 'c']], 'd']],
    ['((clicks))', 'clicks'],
  ] as const)('%s', (text, expected) => {
    expect(parse(text)).toEqual(expected);
  });
});

describe('parseFormula: atoms and calls', () => {
  it('reads decimal numbers', () => {
    expect(parse('1')).toBe(1);
    expect(parse('0.5')).toBe(0.5);
    expect(parse('1e3')).toBe(1000);
    expect(parse('2.5E-2')).toBe(0.025);
    expect(parse('1e+21')).toBe(1e21);
  });

  it('reads names with digits and underscores', () => {
    expect(parse('_x1')).toBe('_x1');
    expect(parse('cost_per_lead_2')).toBe('cost_per_lead_2');
  });

  it('reads calls with any number of arguments', () => {
    expect(parse('sum(clicks)')).toEqual({ call: 'sum', args: ['clicks'] });
    expect(parse('min(a, b, 3)')).toEqual({ call: 'min', args: ['a', 'b', 3] });
    expect(parse('previous(clicks / impressions, 7)')).toEqual({
      call: 'previous',
      args: [['/', 'clicks', 'impressions'], 7],
    });
    expect(parse('f()')).toEqual({ call: 'f', args: [] });
  });

  it('allows whitespace anywhere between tokens, including newlines', () => {
    expect(parse(' \t( clicks\n/\r\n impressions ) ')).toEqual(['/', 'clicks', 'impressions']);
    expect(parse('sum ( x , y )')).toEqual({ call: 'sum', args: ['x', 'y'] });
  });

  it('records offsets and 1-based columns', () => {
    const ast = parseFormula('  a + sum(b)');
    expect(ast).toMatchObject({ kind: 'binary', offset: 4, column: 5 });
    if (ast.kind !== 'binary') throw new Error('binary expected');
    expect(ast.left).toMatchObject({ kind: 'ref', name: 'a', offset: 2, column: 3 });
    expect(ast.right).toMatchObject({ kind: 'call', fn: 'sum', offset: 6, column: 7 });
  });

  it('treats dangerous-looking names as plain names', () => {
    expect(parse('__proto__ + constructor * prototype')).toEqual([
      '+',
      '__proto__',
      ['*', 'constructor', 'prototype'],
    ]);
  });
});

describe('parseFormula: errors name the place', () => {
  it.each([
    ['clicks / (a + b))', "unexpected ')' at column 17", 17],
    ['(a + b', "expected ')' to close '(' opened at column 1", 7],
    ['a * (b + c', "expected ')' to close '(' opened at column 5", 11],
    ['(a b)', "unexpected 'b' at column 4: expected ')' to close '(' opened at column 1", 4],
    ['sum(a', "expected ')' to close '(' opened at column 4", 6],
    ['sum(a b)', "unexpected 'b' at column 7: expected ')' to close '(' opened at column 4", 7],
    ['clicks/', 'unexpected end of formula at column 8', 8],
    [')(', "unexpected ')' at column 1", 1],
    ['min(a,)', "unexpected ')' at column 7", 7],
    ['min(,a)', "unexpected ',' at column 5", 5],
    ['a b', "unexpected 'b' at column 3", 3],
    ['a,b', "unexpected ',' at column 2", 2],
    ['2x', "unexpected 'x' at column 2", 2],
    ['*a', "unexpected '*' at column 1", 1],
    ['clicks; DROP TABLE metric_facts', "unexpected character ';' at column 7", 7],
    ['Clicks', "unexpected character 'C' at column 1", 1],
    ['a % b', "unexpected character '%' at column 3", 3],
    ['a ^ 2', "unexpected character '^' at column 3", 3],
    ['a\u00a0+ b', 'unexpected character U+00A0 at column 2', 2],
    ['a + é', "unexpected character 'é' at column 5", 5],
    ['.5', 'a number must start with a digit (write 0.5) at column 1', 1],
    ['1.', "expected a digit after '.' at column 3", 3],
    ['1.x', "expected a digit after '.' at column 3", 3],
    ['1e+', 'expected a digit in the exponent at column 4', 4],
    ['1e999', 'number too large at column 1', 1],
    ['2 * 1e999', 'number too large at column 5', 5],
    ['', 'formula is empty', 1],
    ['  \n\t ', 'formula is empty', 1],
  ])('%j', (text, message, position) => {
    const err = errorOf(text);
    expect(err.message).toBe(message);
    expect(err.position).toBe(position);
    expect(err.name).toBe('FormulaError');
  });
});

describe('parseFormula: input that is not text', () => {
  it('reports a FormulaError for values YAML may produce', () => {
    expect(errorOf(5 as unknown as string).message).toBe('formula must be text, not number');
    expect(errorOf(null as unknown as string).message).toBe('formula must be text, not object');
  });
});

describe('parseFormula: limits', () => {
  it('rejects formulas over 2000 characters', () => {
    expect(parseFormula(`${'a'.repeat(1998)}+b`).kind).toBe('binary');
    const err = errorOf('a'.repeat(2001));
    expect(err.message).toBe('formula is too long (2001 characters, at most 2000)');
    expect(err.position).toBe(2001);
  });

  it('allows 64 levels of nesting and no more', () => {
    expect(parse(`${'('.repeat(64)}x${')'.repeat(64)}`)).toBe('x');
    const err = errorOf(`${'('.repeat(65)}x${')'.repeat(65)}`);
    expect(err.message).toBe('formula is nested too deeply (more than 64 levels) at column 65');
    expect(errorOf(`${'-'.repeat(65)}x`).message).toBe('formula is nested too deeply (more than 64 levels) at column 65');
    expect(errorOf(`${'abs('.repeat(65)}x${')'.repeat(65)}`).position).toBe(260);
  });

  it('allows 256 nodes and no more', () => {
    // 128 ones and 127 pluses = 255 nodes; the next `+ 1` makes 257.
    const ok = Array.from({ length: 128 }, () => '1').join('+');
    expect(parseFormula(ok).kind).toBe('binary');
    const err = errorOf(`${ok}+1+1`);
    expect(err.message).toMatch(/^formula is too complex \(more than 256 parts\) at column \d+$/);
  });
});

describe('printFormula', () => {
  it.each([
    ['1-2-3', '1 - 2 - 3'],
    ['1-(2-3)', '1 - (2 - 3)'],
    ['(a*b)+c', 'a * b + c'],
    ['a*(b+c)', 'a * (b + c)'],
    ['-(a+b)', '-(a + b)'],
    ['-a*b', '-a * b'],
    ['a - -b', 'a - -b'],
    ['previous( x ,2)', 'previous(x, 2)'],
    ['1e21 + 0.000001', '1e+21 + 0.000001'],
  ])('%s prints as %s', (text, printed) => {
    expect(printFormula(parseFormula(text))).toBe(printed);
  });
});
