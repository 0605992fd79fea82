import path from 'node:path';
import { shutdownSignal, startApp } from '../app.ts';
import { reportPage } from './report.ts';
import type { Role } from '../jobs/index.ts';
import { createLogger } from '../core/log.ts';
import { listenForReloads } from '../live-config.ts';
import { loadCheckedConfig, openConfiguredWarehouse } from './context.ts';
import { serveCommands, type CommandRunner } from './forward.ts';
import { ExitCode, line, type CliIo } from './io.ts';
import { parentGone } from './parent-watch.ts';

export interface StartOptions {
  role: Role;
  shutdownTimeout: number;
  host?: string;
  /** --port or KPI_PORT; false: no HTTP surface. server.port when not given. */
  port?: number | false;
  /** Seconds to wait for Postgres and Redis at start-up before giving up. */
  startupTimeout: number;
  /** Stop when the process that started this one goes away (src/cli/parent-watch.ts). */
  exitWithParent: boolean;
  /** --watch-config: reload when the file changes, as on SIGHUP. */
  watchConfig?: boolean;
  /** The environment a reload resolves `${env:…}` in (--env-from read again); the start's by default. */
  reloadEnv?: () => NodeJS.ProcessEnv;
  run?: CommandRunner;
}

/** `kpi start`: runs until SIGTERM or SIGINT (or its parent's exit), then shuts down gracefully. */
export async function startCommand(io: CliIo, file: string, options: StartOptions): Promise<number> {
  const config = loadCheckedConfig(file, io);
  // Not migrated here: start-up first waits for the database to answer.
  const wh = await openConfiguredWarehouse(config, io, { migrate: false });
  const log = createLogger({ level: io.env.LOG_LEVEL ?? 'info', destination: io.stderr as NodeJS.WritableStream });
  // SIGHUP (and --watch-config) read the file again; listened for from here, so one during start-up does not end the process.
  const reloads = listenForReloads({ file, watch: options.watchConfig === true, log });
  // Watched from the start, so a wrapper killed while start-up waits leaves no orphan either.
  const parent = options.exitWithParent ? parentGone() : undefined;
  const orphaned = new AbortController();
  const parentExit = parent?.gone.then((pid) => {
    log.warn({ parent: pid }, 'the process that started kpi has exited; stopping');
    orphaned.abort(new Error(`the process that started kpi (pid ${pid}) has exited`));
    return `the process that started kpi (pid ${pid}) has exited` as const;
  });
  try {
    const port = options.port ?? config.server.port;
    const app = await startApp({
      config,
      warehouse: wh,
      env: io.env,
      log,
      role: options.role,
      http: port === false ? false : { port, ...(options.host ? { host: options.host } : {}) },
      startup: { timeoutMs: options.startupTimeout * 1_000, migrate: true, signal: orphaned.signal },
      // Alert messages link each series to this page when server.publicUrl says where people reach it.
      ...(config.server.publicUrl ? { reportPage: reportPage(wh.db, config) } : {}),
      reloadConfig: () => loadCheckedConfig(file, { ...io, env: options.reloadEnv?.() ?? io.env }),
    });
    reloads.attach(app.live);
    // The embedded database has one process: this one runs other kpi commands for it.
    const commands =
      wh.lock && app.gate && options.run
        ? await serveCommands({ dataDir: path.resolve(io.cwd, config.dataDir), lock: wh.lock, host: { warehouse: wh, gate: app.gate }, run: options.run, log })
        : undefined;
    // Only now: a signal during start-up ends the process the default way, as nothing runs yet.
    const stop = shutdownSignal(['SIGTERM', 'SIGINT'], parentExit);
    const role = app.mode === 'queue' ? `, role ${options.role}` : ' (no Redis configured)';
    const http = app.port === undefined ? 'no http (port false)' : `http on port ${app.port} (${options.host ?? config.server.host})`;
    line(io, `kpi started in ${app.mode} mode${role}; ${http}${commands ? '; other kpi commands on this database run through this process' : ''}`);
    const reason = await stop;
    line(io, `${/^SIG/.test(reason) ? `${reason} received` : reason}; stopping (up to ${options.shutdownTimeout} s for running jobs)`);
    await commands?.close();
    await app.stop(options.shutdownTimeout * 1_000);
    line(io, 'stopped');
    return ExitCode.ok;
  } catch (err) {
    // Orphaned during start-up: nobody is left to read an error, and stopping was the point.
    if (orphaned.signal.aborted) return ExitCode.ok;
    throw err;
  } finally {
    reloads.stop();
    parent?.stop();
    await wh.close();
  }
}
