import { recompute, recomputeOwed, storeConfigTables, todayIn, type RecomputeResult } from '../metrics/index.ts';
import { loadCheckedConfig, openConfiguredWarehouse } from './context.ts';
import { ExitCode, line, type CliIo } from './io.ts';
import { formatDuration } from './runs.ts';
import { dataTable } from './table.ts';

const count = new Intl.NumberFormat('en-US');

function recomputeSummary(result: RecomputeResult): string {
  if (result.from === null) return `no facts in the warehouse; nothing to recompute (removed ${count.format(result.deleted)} KPI values)`;
  const lines = [result.full ? `recomputed every fact (${result.from}..${result.to})` : `recomputed the periods touching ${result.from}..${result.to}`];
  const table = dataTable(['grain', 'periods', 'from', 'to', 'values']);
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
    // The KPI catalogue the BI views read follows the file recomputed with.
    await storeConfigTables(wh.db, config);
    // With a range, the days whose KPI values are behind their facts come along too.
    const results = range ? await recomputeOwed(wh.db, config, range) : [await recompute(wh.db, config)];
    line(io, results.map(recomputeSummary).join('\n'));
    return ExitCode.ok;
  } finally {
    await wh.close();
  }
}
