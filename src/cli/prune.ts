import { pruneHistory, type PruneResult, type RetentionPolicy } from '../warehouse/index.ts';
import { loadCheckedConfig, openConfiguredWarehouse } from './context.ts';
import { ExitCode, line, type CliIo } from './io.ts';
import { dataTable } from './table.ts';

const count = new Intl.NumberFormat('en-US');

function days(ms: number): string {
  const d = ms / 86_400_000;
  return Number.isInteger(d) ? `${d} d` : `${(ms / 3_600_000).toFixed(1)} h`;
}

function pruneSummary(result: PruneResult, policy: RetentionPolicy, dryRun: boolean): string {
  const table = dataTable(['history', 'kept for', dryRun ? 'would delete' : 'deleted']);
  table.push(['sync runs', days(policy.syncRuns), count.format(result.syncRuns)]);
  table.push(['quarantined records', days(policy.quarantine), count.format(result.quarantine)]);
  table.push(['alert transitions', days(policy.alertHistory), count.format(result.alertTransitions)]);
  table.push(['sent alert notifications', days(policy.alertHistory), count.format(result.alertOutbox)]);
  table.push(['digest sends', days(policy.alertHistory), count.format(result.digestSends)]);
  table.push(['expired silences', days(policy.alertHistory), count.format(result.alertSilences)]);
  return [table.toString(), dryRun ? 'dry run: nothing was deleted' : 'facts, KPI values, checkpoints and alert states are never pruned'].join('\n');
}

/** `kpi prune [--dry-run]`: deletes history older than `retention` now, as the scheduler does nightly. */
export async function pruneCommand(io: CliIo, file: string, options: { dryRun?: boolean }): Promise<number> {
  const config = loadCheckedConfig(file, io);
  const wh = await openConfiguredWarehouse(config, io);
  try {
    const policy = config.retention;
    const dryRun = options.dryRun === true;
    line(io, pruneSummary(await pruneHistory(wh.db, policy, { dryRun }), policy, dryRun));
    return ExitCode.ok;
  } finally {
    await wh.close();
  }
}
