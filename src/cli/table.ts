import Table from 'cli-table3';
import { printableField } from './io.ts';

interface DataTable {
  push(row: string[]): void;
  toString(): string;
}

/**
 * A plain table (no colours) of cells that came from data: each cell is made printable on
 * one line before the layout is measured, so a campaign name can neither send escape codes
 * nor break its row into lines that look like other rows.
 */
export function dataTable(head: string[], options: Omit<Table.TableConstructorOptions, 'head' | 'style'> = {}): DataTable {
  const table = new Table({ ...options, head, style: { head: [], border: [] } });
  return {
    push: (row) => void table.push(row.map(printableField)),
    toString: () => table.toString(),
  };
}
