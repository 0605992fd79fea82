import stringWidth from 'string-width';
import { printableField } from './io.ts';

interface DataTable {
  push(row: string[]): void;
  toString(): string;
}

type Align = 'left' | 'center' | 'right';

/** The lines a table is drawn with; a rule whose characters are all '' is left out. */
const CHARS = {
  top: '─',
  'top-mid': '┬',
  'top-left': '┌',
  'top-right': '┐',
  bottom: '─',
  'bottom-mid': '┴',
  'bottom-left': '└',
  'bottom-right': '┘',
  left: '│',
  'left-mid': '├',
  mid: '─',
  'mid-mid': '┼',
  right: '│',
  'right-mid': '┤',
  middle: '│',
};

interface TableOptions {
  colAligns?: Align[];
  chars?: Partial<Record<keyof typeof CHARS, string>>;
}

function padded(text: string, width: number, align: Align | undefined): string {
  const room = width - stringWidth(text);
  if (align === 'right') return ' '.repeat(room) + text;
  if (align === 'center') return ' '.repeat(room - Math.ceil(room / 2)) + text + ' '.repeat(Math.ceil(room / 2));
  return text + ' '.repeat(room);
}

/**
 * A plain table (no colours) of cells that came from data: each cell is made printable on
 * one line before the layout is measured, so a campaign name can neither send escape codes
 * nor break its row into lines that look like other rows.
 *
 * Drawn here rather than by cli-table3, whose layout (built for cells spanning rows and
 * columns, which these tables never have) takes time in the square of the rows: `kpi runs
 * --limit 8000` spent twenty seconds laying out its table. The lines are cli-table3's own:
 * one space either side of each cell, a rule between rows unless `chars` clears it.
 */
export function dataTable(head: string[], options: TableOptions = {}): DataTable {
  const rows: string[][] = [head];
  const chars = { ...CHARS, ...options.chars };
  const aligns = options.colAligns ?? [];
  return {
    push: (row) => void rows.push(row.map(printableField)),
    toString() {
      // Each column as wide as its widest cell, plus the spaces either side.
      const widths: number[] = [];
      for (const row of rows) {
        for (let x = 0; x < row.length; x++) widths[x] = Math.max(widths[x] ?? 2, stringWidth(row[x]!) + 2);
      }
      const rule = (left: string, line: string, cross: string, right: string) => left + widths.map((w) => line.repeat(w)).join(cross) + right;
      const lines: string[] = [];
      const add = (text: string) => {
        if (text.length > 0) lines.push(text);
      };
      rows.forEach((row, y) => {
        add(y === 0 ? rule(chars['top-left'], chars.top, chars['top-mid'], chars['top-right']) : rule(chars['left-mid'], chars.mid, chars['mid-mid'], chars['right-mid']));
        add(chars.left + widths.map((w, x) => ` ${padded(row[x] ?? '', w - 2, aligns[x])} `).join(chars.middle) + chars.right);
      });
      add(rule(chars['bottom-left'], chars.bottom, chars['bottom-mid'], chars['bottom-right']));
      return lines.join('\n');
    },
  };
}
