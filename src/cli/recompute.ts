import Table from 'cli-table3';
import { recompute, todayIn, type RecomputeResult } from '../metrics/index.ts';
import { loadCheckedConfig, openConfiguredWarehouse } from './context.ts';
import { ExitCode, line, type CliIo } from './io.ts';
import { formatDuration } from './runs.ts';

const count = new Intl.NumberFormat('en-US');

export function recomputeSummary(result: RecomputeResult): string {
  if (result.from === null) return `no facts in the warehouse; nothing to recompute (removed ${count.format(result.deleted)} KPI values)`;
  const lines = [result.full ? `recomputed every fact (${result.from}..${result.to})` : `recomputed the periods touching ${result.from}..${result.to}`];
  const table = new Table({ head: ['grain', 'periods', 'from', 'to', 'values'], style: { head: [], border: [] } });
  for (const g of result.grains) table.push([g.grain, count.format(g.periods), g.from, g.to, count.format(g.values)]);
  lines.push(table.toString());
  const days = (n: number) => `${count.format(n)} day${n === 1 ? '' : 's'}`;
  const fromPoints = result.daysFromPoints > 0 ? `, ${days(result.daysFromPoints)} from their stored day points` : '';
  lines.push(`summed the facts of ${days(result.daysFromFacts)}${fromPoints}`);
  lines.push(`wrote ${count.format(result.values)} KPI values, replacing ${count.format(result.deleted)}, in ${formatDuration(Math.round(result.durationMs))}`);
  return lines.join('\n');
}

/** `kpi recompute [--from DATE [--to DATE]]`: KPI values for the periods those dates touch; every fact without a range. */
export async function recomputeCommand(io: CliIo, file: string, options: { from?: string; to?: string }): Promise<number> {
  const config = loadCheckedConfig(file, io);
  if (options.to && !options.from) {
    io.stderr.write('--to needs --from\n');
    return ExitCode.usage;
  }
  const range = options.from ? { from: options.from, to: options.to ?? todayIn(config.reporting.timezone) } : undefined;
  if (range && range.from > range.to) {
    io.stderr.write(`--from ${range.from} is after --to ${range.to}\n`);
    return ExitCode.usage;
  }
  const wh = await openConfiguredWarehouse(config, io);
  try {
    line(io, recomputeSummary(await recompute(wh.db, config, range)));
    return ExitCode.ok;
  } finally {
    await wh.close();
  }
}
