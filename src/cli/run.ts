import { createPipelineHandlers, openSyncGate } from '../app.ts';
import { errorMessage } from '../core/errors.ts';
import { runCycle, type CycleReport } from '../jobs/cycle.ts';
import { createLogger } from '../core/log.ts';
import { redactSecrets } from '../core/secrets.ts';
import { loadCheckedConfig, openConfiguredWarehouse } from './context.ts';
import { ExitCode, line, type CliIo } from './io.ts';
import { formatDuration, shorten } from './runs.ts';
import { dataTable } from './table.ts';

export function cycleTable(report: CycleReport): string {
  const table = dataTable(['connector', 'status', 'read', 'written', 'rejected', 'duration', 'error']);
  for (const s of report.syncs) {
    const run = s.outcome?.run;
    if (!run) {
      table.push([s.connector, 'skipped', '', '', '', formatDuration(s.ms), 'already syncing in another process']);
      continue;
    }
    table.push([s.connector, run.status, String(run.rows_read), String(run.rows_written), String(run.rows_rejected), formatDuration(s.ms), shorten(run.error)]);
  }
  return table.toString();
}

/** `kpi run --once`: one full cycle in this process, with or without Redis. */
export async function runCommand(io: CliIo, file: string, options: { once?: boolean }): Promise<number> {
  if (!options.once) {
    io.stderr.write('kpi run only runs one cycle: pass --once (kpi start runs on the schedules)\n');
    return ExitCode.usage;
  }
  const config = loadCheckedConfig(file, io);
  const enabled = config.connectors.filter((c) => c.enabled);
  if (enabled.length === 0) {
    line(io, 'no enabled connectors; nothing to run');
    return ExitCode.ok;
  }
  const wh = await openConfiguredWarehouse(config, io);
  // Inside the process holding the embedded database, its claims: never two syncs of one connector.
  const gate = io.host ? { gate: io.host.gate, close: async () => {} } : await openSyncGate(config, io.env);
  const log = createLogger({ level: io.env.LOG_LEVEL ?? 'warn', destination: io.stderr as NodeJS.WritableStream });
  try {
    const handlers = createPipelineHandlers({ config, db: wh.db, log });
    const report = await runCycle({ connectors: config.connectors, handlers, gate: gate.gate, log, ...(io.signal ? { signal: io.signal } : {}) });
    line(io, cycleTable(report));
    const failed = report.syncs.filter((s) => s.outcome && !s.outcome.ok).length;
    if (report.downstreamError !== undefined) {
      line(io, `recompute/evaluate/notify failed: ${redactSecrets(errorMessage(report.downstreamError))}`);
    } else if (report.downstream) {
      const ranges = report.downstream.recomputed.map((r) => `${r.from}..${r.to}`);
      line(io, `recomputed ${ranges.length ? ranges.join(', ') : 'nothing (no data changed)'}; goals evaluated; ${report.downstream.outboxIds.length} notifications`);
      for (const f of report.downstream.notifyFailures) line(io, `notification of ${f.rule} to ${f.channel} failed: ${f.error}`);
    }
    const skipped = report.syncs.filter((s) => s.skipped).length;
    const synced = report.syncs.length - failed - skipped;
    line(io, `${synced} of ${report.syncs.length} connectors synced${failed ? `, ${failed} failed` : ''}${skipped ? `, ${skipped} skipped` : ''}`);
    return report.ok ? ExitCode.ok : ExitCode.failed;
  } finally {
    await gate.close();
    await wh.close();
  }
}
