import { shutdownSignal, startApp } from '../app.ts';
import type { Role } from '../jobs/index.ts';
import { createLogger } from '../log.ts';
import { loadCheckedConfig, openConfiguredWarehouse } from './context.ts';
import { ExitCode, line, type CliIo } from './io.ts';

/** `kpi start`: runs until SIGTERM or SIGINT, then shuts down gracefully. */
export async function startCommand(io: CliIo, file: string, options: { role: Role; shutdownTimeout: number }): Promise<number> {
  const config = loadCheckedConfig(file, io);
  const wh = await openConfiguredWarehouse(config, io);
  const log = createLogger({ level: io.env.LOG_LEVEL ?? 'info', destination: io.stderr as NodeJS.WritableStream });
  try {
    const app = await startApp({ config, warehouse: wh, env: io.env, log, role: options.role });
    // Only now: a signal during start-up ends the process the default way, as nothing runs yet.
    const signal = shutdownSignal();
    const role = app.mode === 'queue' ? `, role ${options.role}` : ' (no Redis configured)';
    line(io, `kpi started in ${app.mode} mode${role}; http on port ${app.port}`);
    const received = await signal;
    line(io, `${received} received; stopping (up to ${options.shutdownTimeout} s for running jobs)`);
    await app.stop(options.shutdownTimeout * 1_000);
    line(io, 'stopped');
    return ExitCode.ok;
  } finally {
    await wh.close();
  }
}
