import { DateTime } from 'luxon';
import { readStatus, type ConnectorStatus, type Status } from '../metrics/index.ts';
import { loadCheckedConfig, openConfiguredWarehouse } from './context.ts';
import { ExitCode, line, type CliIo } from './io.ts';
import { owedLine, shorten } from './runs.ts';
import { dataTable } from './table.ts';

/** "2026-12-07 06:00" in the reporting zone, which the heading names; '-' for never. */
function timeIn(zone: string): (iso: string | null) => string {
  return (iso) => (iso ? DateTime.fromISO(iso).setZone(zone).toFormat('yyyy-MM-dd HH:mm') : '-');
}

function lagText(c: ConnectorStatus): string {
  if (c.lagDays === null) return '-';
  return `${c.lagDays} day${Math.abs(c.lagDays) === 1 ? '' : 's'}`;
}

/**
 * A failing connector's error, its first line that says something (an error body may start
 * with blank lines, an error may have no message at all); otherwise why it is not ok.
 */
function detailOf(c: ConnectorStatus): string {
  const said = c.lastError?.message.split(/\r?\n/).find((l) => l.trim() !== '');
  if (c.verdict === 'failing') return shorten(said ?? c.reasons.join('; '), 100);
  return c.reasons.join('; ');
}

/** The terminal form of a status: a heading, one line per connector, then the KPI line. */
export function statusTable(status: Status, zone: string): string {
  const at = timeIn(zone);
  const counts = (['failing', 'warning', 'ok'] as const).map((v) => [v, status.connectors.filter((c) => c.verdict === v).length] as const).filter(([, n]) => n > 0);
  const lines = [`status as of ${at(status.asOf)} (${zone}): ${status.verdict}${counts.length > 0 ? ` (${counts.map(([v, n]) => `${n} ${v}`).join(', ')})` : ''}`];
  if (status.connectors.length === 0) lines.push('no connectors configured and no sync runs');
  else {
    const table = dataTable(['connector', 'verdict', 'last success', 'lag', 'next run', 'failing since', 'detail']);
    for (const c of status.connectors) table.push([c.name, c.verdict, at(c.lastSuccessAt), lagText(c), at(c.nextRunAt), at(c.failingSince), detailOf(c)]);
    lines.push(table.toString());
  }
  lines.push(owedLine(status.kpis.owedRanges) ?? 'KPI values are up to date with their facts');
  return lines.join('\n');
}

/** `kpi status [--json]`: exit 1 when a connector is failing, 0 otherwise (warnings included). */
export async function statusCommand(io: CliIo, file: string, options: { json?: boolean }): Promise<number> {
  const config = loadCheckedConfig(file, io);
  const wh = await openConfiguredWarehouse(config, io);
  try {
    const status = await readStatus(wh.db, config, new Date());
    line(io, options.json ? JSON.stringify(status, null, 2) : statusTable(status, config.reporting.timezone));
    return status.verdict === 'failing' ? ExitCode.failed : ExitCode.ok;
  } finally {
    await wh.close();
  }
}
