import { CST, Parser, type YAMLError } from 'yaml';
import type { ConfigProblem } from '../core/errors.ts';

/**
 * A YAML syntax error as one located problem with an excerpt of the file.
 *
 * Only the first error is reported: the parser goes on after a mistake and reads everything
 * after it in the wrong light, so one bad indent or unclosed bracket used to come back as
 * hundreds of complaints about lines that are fine. Fixing the first and running again is
 * what a person does anyway.
 */
export function yamlSyntaxProblem(errors: readonly YAMLError[], text: string, file: string): ConfigProblem {
  const first = [...errors].sort((a, b) => (a.pos[0] ?? 0) - (b.pos[0] ?? 0))[0]!;
  const what = first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  // The parser's own stack ran out: say what that means in the file.
  const message = /Maximum call stack/.test(what) ? 'nested too deeply to read (brackets or indentation)' : what;
  // A quoted value may run over lines, so the parser finds a quote unclosed only at the end
  // of the file; the place to show is where it was opened.
  const quote = first.code === 'MISSING_CHAR' && /closing ["']quote/.test(what) ? openedAt(text, first.pos[0]) : undefined;
  const pos = quote !== undefined ? position(text, quote) : first.linePos?.[0];
  const said = quote !== undefined ? `${message} (the quote opened here runs to the end of the file)` : message;
  const problem: ConfigProblem = { file, line: pos?.line, column: pos?.col, path: '', message: `YAML syntax: ${said}` };
  if (pos) problem.excerpt = excerpt(text, pos.line, pos.col);
  return problem;
}

/** Offset of the last quoted value that starts before `before`: the one left open. */
function openedAt(text: string, before: number): number | undefined {
  let found: number | undefined;
  for (const token of new Parser().parse(text)) {
    if (token.type !== 'document') continue;
    CST.visit(token, (item) => {
      for (const part of [item.key, item.value]) {
        if (part && (part.type === 'double-quoted-scalar' || part.type === 'single-quoted-scalar') && part.offset < before) found = Math.max(found ?? -1, part.offset);
      }
    });
  }
  return found;
}

function position(text: string, offset: number): { line: number; col: number } {
  const head = text.slice(0, offset);
  return { line: head.split('\n').length, col: offset - head.lastIndexOf('\n') };
}

const WIDTH = 100;

/** The line before and the line of the error, numbered, with a caret under the column. */
export function excerpt(text: string, line: number, column: number): string {
  const lines = text.split(/\r?\n|\r/);
  const at = lines[line - 1];
  if (at === undefined) return '';
  const numberWidth = String(line).length;
  const gutter = (n: number | '') => `  ${String(n).padStart(numberWidth)} | `;
  // A long line is cut around the column, so the caret stays on screen.
  const start = column > WIDTH - 20 ? column - 1 - (WIDTH - 40) : 0;
  const cut = (s: string, from: number) => (from > 0 ? '…' : '') + shown(s.slice(from, from + WIDTH)) + (s.length > from + WIDTH ? '…' : '');
  const out: string[] = [];
  const before = lines[line - 2];
  // The line before is context, not aligned with the caret: shown from its start if the cut would leave nothing of it.
  if (before !== undefined && before.trim() !== '') out.push(gutter(line - 1) + cut(before, before.length > start ? start : 0));
  out.push(gutter(line) + cut(at, start));
  const lead = (start > 0 ? '…' : '') + shown(at.slice(start, Math.max(start, column - 1)));
  out.push(gutter('') + ' '.repeat([...lead].length) + '^');
  return out.join('\n');
}

/** A tab is shown as an arrow: it is the mistake often enough that it must be seen. */
function shown(s: string): string {
  return s.replace(/\t/g, '→');
}
