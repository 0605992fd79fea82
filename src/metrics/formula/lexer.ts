import { FormulaError } from './errors.ts';

export type TokenKind = 'number' | 'name' | '+' | '-' | '*' | '/' | '(' | ')' | ',' | 'end';

export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  readonly offset: number;
  /** Only set on number tokens. */
  readonly value?: number;
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isNameStart = (c: string | undefined): boolean => c !== undefined && ((c >= 'a' && c <= 'z') || c === '_');
const isNamePart = (c: string | undefined): boolean => isNameStart(c) || isDigit(c);
// Deliberately ASCII only: a non-breaking space pasted from a document is reported, not guessed at.
const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r';

const PUNCTUATION = new Set(['+', '-', '*', '/', '(', ')', ',']);

/**
 * Splits a formula into tokens. The caller has already bounded the length, so the
 * token list is bounded too. Everything before the first non-ASCII character is ASCII
 * (anything else is an error), so offset + 1 is also the column in characters.
 */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (isSpace(c)) {
      i++;
    } else if (isDigit(c)) {
      i = readNumber(text, i, tokens);
    } else if (isNameStart(c)) {
      const start = i;
      while (isNamePart(text[i])) i++;
      tokens.push({ kind: 'name', text: text.slice(start, i), offset: start });
    } else if (PUNCTUATION.has(c)) {
      tokens.push({ kind: c as TokenKind, text: c, offset: i });
      i++;
    } else if (c === '.' && isDigit(text[i + 1])) {
      throw new FormulaError(`a number must start with a digit (write 0${readAhead(text, i)}) at column ${i + 1}`, i + 1);
    } else {
      throw new FormulaError(`unexpected character ${describeChar(text, i)} at column ${i + 1}`, i + 1);
    }
  }
  tokens.push({ kind: 'end', text: '', offset: text.length });
  return tokens;
}

function readNumber(text: string, start: number, tokens: Token[]): number {
  let i = start;
  while (isDigit(text[i])) i++;
  if (text[i] === '.') {
    i++;
    if (!isDigit(text[i])) throw new FormulaError(`expected a digit after '.' at column ${i + 1}`, i + 1);
    while (isDigit(text[i])) i++;
  }
  if (text[i] === 'e' || text[i] === 'E') {
    // `1e3` is a number, but `2e` / `2each` would be a number glued to a name: only
    // treat the `e` as an exponent when digits follow.
    let j = i + 1;
    if (text[j] === '+' || text[j] === '-') j++;
    if (isDigit(text[j])) {
      i = j;
      while (isDigit(text[i])) i++;
    } else if (text[i + 1] === '+' || text[i + 1] === '-') {
      throw new FormulaError(`expected a digit in the exponent at column ${j + 1}`, j + 1);
    }
  }
  const raw = text.slice(start, i);
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new FormulaError(`number too large at column ${start + 1}`, start + 1);
  tokens.push({ kind: 'number', text: raw, offset: start, value });
  return i;
}

function readAhead(text: string, from: number): string {
  let i = from + 1;
  while (isDigit(text[i]) && i - from < 12) i++;
  return text.slice(from, i);
}

/** Quotes a printable character; names invisible or odd ones by code point so the message stays readable. */
function describeChar(text: string, at: number): string {
  const cp = text.codePointAt(at)!;
  const ch = String.fromCodePoint(cp);
  if (/^[\p{L}\p{N}\p{P}\p{S}]$/u.test(ch)) return `'${ch}'`;
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}
