/**
 * The CLI's data tables: drawn as cli-table3 draws them (its layout, quadratic in the rows,
 * was too slow for a long `kpi runs`), and a long table in time linear in its rows.
 */
import Table from 'cli-table3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { printableField } from '../../src/cli/io.ts';
import { dataTable } from '../../src/cli/table.ts';

/** What cli-table3 prints for the same table. */
function cliTable3(head: string[], rows: string[][], options: Table.TableConstructorOptions = {}): string {
  const table = new Table({ ...options, head, style: { head: [], border: [] } });
  for (const row of rows) table.push(row.map(printableField));
  return table.toString();
}

// Wide (CJK, emoji), combining, control and line-breaking characters beside plain ones.
const cell = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('', ' ', '日本語', '🙂 ok', 'e\u0301', 'a\tb', 'two\nlines', '\u001b[31mred\u001b[0m', '👩‍👩‍👧', '│ 1 │'));

describe('dataTable', () => {
  it('prints what cli-table3 prints: widths, alignment, rules between rows or none', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }).chain((columns) =>
          fc.record({
            head: fc.array(fc.constantFrom('id', 'connector', 'KPI', 'value', 'änderung', 'error'), { minLength: columns, maxLength: columns }),
            rows: fc.array(fc.array(cell, { minLength: columns, maxLength: columns }), { maxLength: 6 }),
            aligns: fc.array(fc.constantFrom<'left' | 'right' | 'center'>('left', 'right', 'center'), { minLength: columns, maxLength: columns }),
            rules: fc.boolean(),
          }),
        ),
        ({ head, rows, aligns, rules }) => {
          const options = { colAligns: aligns, ...(rules ? {} : { chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } }) };
          const table = dataTable(head, options);
          for (const row of rows) table.push(row);
          expect(table.toString()).toBe(cliTable3(head, rows, options));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('draws a table of 10,000 rows whole', () => {
    const table = dataTable(['id', 'error']);
    for (let i = 1; i <= 10_000; i++) table.push([String(i), `a source error 🙂 ${i}`]);
    const lines = table.toString().split('\n');
    expect(lines.length).toBe(2 * 10_001 + 1);
    expect(lines.at(-2)).toBe(`│ 10000 │ a source error 🙂 10000 │`);
    expect(lines[1]).toBe(`│ id    │ error                   │`);
  });
});
