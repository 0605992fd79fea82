import { createPipelineHandlers, openSyncGate } from '../app.ts';
import { daysOf, todayIn } from '../core/dates.ts';
import { errorMessage } from '../core/errors.ts';
// Not the jobs barrel: it loads BullMQ, which a one-off sync has no use for.
import { claimedSync, runDownstream } from '../jobs/in-process.ts';
import type { DateRange } from '../core/dates.ts';
import { createLogger } from '../core/log.ts';
import { redactSecrets } from '../core/secrets.ts';
import { loadCheckedConfig, openConfiguredWarehouse } from './context.ts';
import { ExitCode, line, writeTerminalCode, type CliIo } from './io.ts';
import { formatDuration } from './runs.ts';

type OnDay = (progress: { stream: string; date: string; window: DateRange }) => void;

/** A bar redrawn in place on a terminal; one line per committed day anywhere else (logs, CI). */
function progressReporter(io: CliIo, connector: string): { onDay: OnDay; done(): void } {
  const tty = io.stdout.isTTY === true;
  let drawn = false;
  return {
    onDay({ stream, date, window }) {
      const total = daysOf(window).length;
      const done = daysOf({ from: window.from, to: date }).length;
      if (!tty) {
        line(io, `${connector} ${stream} ${date} (${done}/${total} days)`);
        return;
      }
      const width = 30;
      const filled = Math.round((done / total) * width);
      // Back to the start of the line, the bar, then erase what a longer bar left behind.
      writeTerminalCode(io.stdout, '\r');
      io.stdout.write(`${connector} ${stream} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} days, ${date}`);
      writeTerminalCode(io.stdout, '\x1b[K');
      drawn = true;
    },
    done() {
      if (drawn) io.stdout.write('\n');
    },
  };
}

/** `kpi sync CONNECTOR [--from --to]`: one sync (a backfill with a window) in this process. */
export async function syncCommand(io: CliIo, file: string, name: string, options: { from?: string; to?: string; allowDeletes?: boolean }): Promise<number> {
  const config = loadCheckedConfig(file, io);
  const cfg = config.connectors.find((c) => c.name === name);
  if (!cfg) {
    const names = config.connectors.map((c) => c.name);
    io.stderr.write(`unknown connector "${name}"; ${names.length ? `configured: ${names.join(', ')}` : 'the configuration has no connectors'}\n`);
    return ExitCode.usage;
  }
  if (options.to && !options.from) {
    io.stderr.write('--to needs --from\n');
    return ExitCode.usage;
  }
  const window = options.from ? { from: options.from, to: options.to ?? todayIn(config.reporting.timezone) } : undefined;
  if (window && window.from > window.to) {
    io.stderr.write(`--from ${window.from} is after --to ${window.to}\n`);
    return ExitCode.usage;
  }

  const wh = await openConfiguredWarehouse(config, io);
  // Inside the process holding the embedded database, its claims: never two syncs of one connector.
  const gate = io.host ? { gate: io.host.gate, close: async () => {} } : await openSyncGate(config, io.env);
  const log = createLogger({ level: io.env.LOG_LEVEL ?? 'warn', destination: io.stderr as NodeJS.WritableStream });
  const progress = progressReporter(io, name);
  try {
    const handlers = createPipelineHandlers({ config, db: wh.db, log });
    const started = Date.now();
    const job = { connector: name, trigger: window ? 'backfill' : 'manual', ...(window ? { window } : {}), ...(options.allowDeletes ? { allowDeletes: true } : {}) };
    const outcome = await claimedSync(handlers, gate.gate, cfg, job, { jobId: `cli.${name}.${new Date(started).toISOString()}`, onDay: progress.onDay, ...(io.signal ? { signal: io.signal } : {}) });
    progress.done();
    if (typeof outcome === 'string') {
      io.stderr.write(`${name} is being synced by another process; try again when it has finished\n`);
      return ExitCode.failed;
    }
    const { run } = outcome;
    const counts = `${run.rows_read} rows read, ${run.rows_written} written, ${run.rows_deleted} deleted, ${run.rows_rejected} rejected in ${formatDuration(Date.now() - started)}`;
    line(io, `${name}: ${run.status} (run ${run.id}), ${counts}${run.error ? `\n  error: ${run.error}` : ''}`);
    if (outcome.touched) {
      try {
        const d = await runDownstream(handlers, [outcome.touched]);
        line(io, `recomputed ${outcome.touched.from}..${outcome.touched.to}; goals evaluated; ${d.outboxIds.length} notifications`);
      } catch (err) {
        line(io, `recompute/evaluate/notify failed: ${redactSecrets(errorMessage(err))}`);
        return ExitCode.failed;
      }
    }
    return outcome.ok ? ExitCode.ok : ExitCode.failed;
  } finally {
    await gate.close();
    await wh.close();
  }
}
