import path from 'node:path';
import { configSummary, diffSummaries, formatDiff, isEmptyDiff, type Config, type ConfigSummary } from '../config/index.ts';
import { errorMessage, formatProblem } from '../core/errors.ts';
import { redactSecrets } from '../core/secrets.ts';
import { ExitCode, line, type CliIo } from './io.ts';
import { loadCheckedConfig } from './context.ts';

export interface ValidateOptions {
  /** Compare with what a running `kpi start` loaded: its URL, or true for this file's server.host and port. */
  againstRunning?: string | true;
}

export async function validateCommand(io: CliIo, file: string, options: ValidateOptions = {}): Promise<number> {
  const config = loadCheckedConfig(file, io);
  const shown = path.relative(io.cwd, file) || file;
  const count = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const warnings = config.warnings ?? [];
  line(
    io,
    `${shown}: valid (${[
      count(config.connectors.length, 'connector'),
      count(config.kpis.length, 'custom KPI'),
      count(config.goals.length, 'goal'),
      count(config.okrs.length, 'OKR'),
      count(config.alerts.length, 'alert rule'),
      count(Object.keys(config.channels).length, 'channel'),
    ].join(', ')})${warnings.length > 0 ? `, ${count(warnings.length, 'warning')}` : ''}`,
  );
  // The config works as written: warnings say what it probably does not mean, and exit 0.
  for (const w of warnings) io.stderr.write(`warning: ${formatProblem(w)}\n`);
  if (options.againstRunning === undefined) return ExitCode.ok;
  return compareWithRunning(io, config, options.againstRunning === true ? runningUrl(config, io.env) : options.againstRunning);
}

/** Where `kpi start` with this file listens: KPI_PORT or server.port, on server.host (loopback for a wildcard). */
function runningUrl(config: Config, env: NodeJS.ProcessEnv): string | null {
  const port = env.KPI_PORT || config.server.port;
  if (port === false || port === 'false') return null;
  const host = ['0.0.0.0', '::', '[::]'].includes(config.server.host) ? '127.0.0.1' : config.server.host;
  return `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

interface Running extends ConfigSummary {
  loadedAt: string;
  refused: { at: string; problems: string[] } | null;
}

/**
 * The running process's `/config` (src/server/server.ts), diffed with this file section by
 * section: what a reload of this file would add, remove and change.
 */
async function compareWithRunning(io: CliIo, config: Config, url: string | null): Promise<number> {
  if (!url) {
    io.stderr.write('server.port is false, so the running process has no HTTP surface to ask; pass its address: --against-running http://HOST:PORT\n');
    return ExitCode.usage;
  }
  const base = url.replace(/\/+$/, '');
  const dashboard = config.server.dashboard;
  let running: Running;
  try {
    const res = await fetch(`${base}/config`, {
      signal: AbortSignal.timeout(10_000),
      headers: dashboard ? { authorization: `Basic ${Buffer.from(`${dashboard.user}:${dashboard.password}`).toString('base64')}` } : {},
    });
    if (res.status === 401) {
      io.stderr.write(`the running process at ${base} refused this file's server.dashboard credentials\n`);
      return ExitCode.failed;
    }
    if (!res.ok) {
      io.stderr.write(`the running process at ${base} answered ${res.status} for /config (is it a kpi start of this version?)\n`);
      return ExitCode.failed;
    }
    running = (await res.json()) as Running;
  } catch (err) {
    io.stderr.write(`cannot reach the running process at ${base}: ${redactSecrets(errorMessage(err))}\n`);
    return ExitCode.failed;
  }
  const next = configSummary(config);
  const diff = diffSummaries(running, next);
  if (isEmptyDiff(diff)) {
    line(io, `same as the configuration running at ${base} (version ${running.version}, loaded ${running.loadedAt})`);
  } else {
    line(io, `against the configuration running at ${base} (version ${running.version}, loaded ${running.loadedAt}), this file (version ${next.version}) changes:`);
    for (const text of formatDiff(diff)) line(io, `  ${text}`);
    line(io, '  (+ added, - removed, ~ changed; send SIGHUP to every kpi start process to reload)');
  }
  if (running.refused) {
    line(io, `the running process refused a reload at ${running.refused.at}:`);
    for (const p of running.refused.problems) line(io, `  ${p}`);
  }
  return ExitCode.ok;
}
