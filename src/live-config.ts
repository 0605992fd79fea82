import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { isMap, parseDocument } from 'yaml';
import { configSummary, diffSummaries, formatDiff, type Config, type ConfigDiff, type ConfigSummary } from './config/index.ts';
import { ConfigError, errorMessage, formatProblem, isConfigError } from './core/errors.ts';
import type { Logger } from './core/log.ts';

/**
 * The configuration a running process works with, and its reloads: `kpi start` reads the file
 * again on SIGHUP (and with --watch-config when it changes), a worker when a job names a
 * connector it does not know. A file with errors is refused, logged with its located problems
 * at error level and kept in `refused` (which /readyz and /config show), and the previous
 * configuration keeps running. A valid one replaces it: each step reads `current()` when it
 * runs, and `apply` brings what runs on a schedule in line (job schedulers, timers, loops).
 */

/** Read once at start; a reload cannot change them (the connections and the HTTP port are open). */
export const RESTART_ONLY_SETTINGS = ['warehouse', 'redis', 'server', 'dataDir', 'jobs'] as const;

export interface RefusedReload {
  at: Date;
  /** Each problem located as `kpi validate` prints it (file:line:column path: message). */
  problems: string[];
}

export type ReloadResult =
  | { outcome: 'applied'; version: string; previous: string; diff: ConfigDiff; restartOnly: string[] }
  | { outcome: 'unchanged'; version: string }
  | { outcome: 'refused'; version: string; problems: string[] };

export interface ReloadOptions {
  /** Said in the log lines: SIGHUP, the file changed, a job for an unknown connector. */
  reason: string;
  /** Nothing to do when the file's text is the one last read (a worker's re-read, a file watch). */
  ifChanged?: boolean;
}

export interface LiveConfig {
  current(): Config;
  summary(): ConfigSummary;
  loadedAt(): Date;
  /** The last reload that was refused, until a later one succeeds (or finds the file unchanged). */
  refused(): RefusedReload | null;
  /** Reads the file again; reloads run one at a time, in the order asked. */
  reload(options: ReloadOptions): Promise<ReloadResult>;
  /** What a new configuration is applied with (set once the parts it changes are running). */
  onApply(apply: (next: Config, previous: Config, diff: ConfigDiff) => Promise<void>): void;
}

export interface LiveConfigOptions {
  initial: Config;
  /** Reads and checks the file again; throws a ConfigError with located problems when it is invalid. Without it, reload changes nothing. */
  load?: () => Config;
  log: Logger;
}

function fileText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The files a configuration is read from: its own, and the definition file of each `type:
 * source` connector (read by the loader, resolved against the config's folder). An edit to a
 * definition alone changes what the connector asks and stores, so it must reload as an edit
 * of the config would.
 */
function filesOf(config: Pick<Config, 'file' | 'configDir' | 'connectors'>): string[] {
  const definitions = config.connectors.flatMap((c) => {
    const definition = (c as { definition?: unknown }).definition;
    return c.type === 'source' && typeof definition === 'string' ? [path.resolve(config.configDir, definition)] : [];
  });
  return [config.file, ...new Set(definitions)];
}

/** The texts of those files, to tell a changed configuration from a re-read of the same one. */
function configText(config: Config): string | undefined {
  const main = fileText(config.file);
  if (main === undefined) return undefined;
  return [main, ...filesOf(config).slice(1).map((f) => `\u0000${f}\u0000${fileText(f) ?? '(missing)'}`)].join('');
}

/**
 * A file read while an editor, `cp` or a deployment is writing it can be empty, or end before
 * `connectors:`, and still be valid (every section has a default). Applied, it would remove every
 * job scheduler and timer, and syncing would stop with nothing said: a reload that would take
 * every connector away is refused unless the file says `connectors:` outright (`connectors: []`).
 */
function lostConnectors(running: Config, text: string | undefined): void {
  if (text === undefined || running.connectors.length === 0) return;
  let named = true;
  try {
    const doc = parseDocument(text);
    const top = doc.contents;
    // A syntax error or a top level that is no mapping: the load says what is wrong with it.
    named = doc.errors.length > 0 || (top !== null && !isMap(top)) || (isMap(top) && top.has('connectors'));
  } catch {
    return;
  }
  if (named) return;
  const file = path.relative(process.cwd(), running.file) || running.file;
  const count = running.connectors.length;
  throw new ConfigError([
    {
      file,
      line: 1,
      path: 'connectors',
      message: `missing: the file ${text.trim() === '' ? 'is empty' : 'has no connectors: key'} (read while it was being written?), and the running configuration has ${count} connector${count === 1 ? '' : 's'}; to remove every connector, write connectors: [] and reload again`,
    },
  ]);
}

export function createLiveConfig(options: LiveConfigOptions): LiveConfig {
  const { log, load } = options;
  let config = options.initial;
  let summary = configSummary(config);
  let loadedAt = new Date();
  let refused: RefusedReload | null = null;
  let lastText = configText(config);
  let apply: ((next: Config, previous: Config, diff: ConfigDiff) => Promise<void>) | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  const reloadNow = async ({ reason, ifChanged }: ReloadOptions): Promise<ReloadResult> => {
    const running = summary.version;
    if (!load) return { outcome: 'unchanged', version: running };
    const text = fileText(config.file);
    const texts = configText(config);
    if (ifChanged && texts !== undefined && texts === lastText) return { outcome: 'unchanged', version: running };
    lastText = texts;
    let next: Config;
    try {
      lostConnectors(config, text);
      next = load();
    } catch (err) {
      const problems = isConfigError(err) ? err.problems.map(formatProblem) : [errorMessage(err)];
      refused = { at: new Date(), problems };
      log.error({ file: config.file, reason, running, problems }, `configuration reload refused (${problems.length} problem${problems.length === 1 ? '' : 's'} in the file); the running configuration stays in force`);
      return { outcome: 'refused', version: running, problems };
    }
    refused = null;
    lastText = configText(next);
    for (const w of next.warnings ?? []) log.warn({ warning: formatProblem(w) }, 'configuration warning');
    const nextSummary = configSummary(next);
    if (nextSummary.version === running) {
      log.info({ reason, version: running }, 'configuration reloaded: no change');
      return { outcome: 'unchanged', version: running };
    }
    const diff = diffSummaries(summary, nextSummary);
    const previous = config;
    config = next;
    summary = nextSummary;
    loadedAt = new Date();
    const restartOnly = RESTART_ONLY_SETTINGS.filter((s) => [...diff.settings.added, ...diff.settings.removed, ...diff.settings.changed].includes(s));
    if (restartOnly.length > 0) log.warn({ settings: restartOnly }, `changes to ${restartOnly.join(', ')} take effect at the next restart; the rest of the new configuration is in force`);
    try {
      await apply?.(next, previous, diff);
    } catch (err) {
      // The steps use the new configuration already; what could not be brought in line
      // (Redis unreachable) is by the next reload or Redis reconnection.
      log.error({ err: errorMessage(err) }, 'the new configuration is in force, but applying it to the schedules failed');
    }
    log.info({ reason, version: nextSummary.version, previous: running, changes: formatDiff(diff) }, 'configuration reloaded');
    return { outcome: 'applied', version: nextSummary.version, previous: running, diff, restartOnly };
  };

  return {
    current: () => config,
    summary: () => summary,
    loadedAt: () => loadedAt,
    refused: () => refused,
    reload(opts) {
      const run = queue.then(() => reloadNow(opts));
      queue = run.catch(() => {});
      return run;
    },
    onApply(fn) {
      apply = fn;
    },
  };
}

export interface ReloadListener {
  /** Reloads go to `live` from now on; a SIGHUP received before (during start-up) reloads now. */
  attach(live: LiveConfig): void;
  stop(): void;
}

/**
 * SIGHUP reloads the configuration; with `watch`, so does a change of the file (polled once a
 * second: an editor's save by rename and a Kubernetes ConfigMap's symlink swap are both seen).
 * Installed before start-up, so a SIGHUP then does not end the process (its default action).
 */
export function listenForReloads(options: { file: string; watch?: boolean; log: Logger; intervalMs?: number }): ReloadListener {
  let live: LiveConfig | undefined;
  let pending: ReloadOptions | undefined;
  // The config file, and once a configuration is attached, the definition files it names.
  const watched = () => (live ? filesOf(live.current()) : [options.file]);
  const reload = (opts: ReloadOptions) => {
    if (!live) {
      pending = opts;
      return;
    }
    live.reload(opts).catch((err: unknown) => options.log.error({ err: errorMessage(err) }, 'configuration reload failed'));
  };
  const onHup = () => {
    options.log.info('SIGHUP received: reading the configuration again');
    reload({ reason: 'SIGHUP' });
  };
  process.on('SIGHUP', onHup);
  // Polled by hand rather than fs.watchFile, whose first look is taken later, asynchronously:
  // a change made in between would never be seen. Here the first look is taken now.
  const lookAt = (file: string) => {
    try {
      const st = statSync(file);
      return `${st.mtimeMs}|${st.size}|${st.ino}`;
    } catch {
      return 'missing';
    }
  };
  const look = () => {
    const [main, ...definitions] = watched().map(lookAt);
    // A definition gone is a change (the reload says which file is missing); the config file gone is a swap in progress.
    return main === 'missing' ? 'missing' : [main, ...definitions].join(',');
  };
  let seen = options.watch ? look() : '';
  const timer = options.watch
    ? setInterval(() => {
        const now = look();
        // Gone for a moment while an editor or a ConfigMap swaps it in: looked at again next time.
        if (now === seen || now === 'missing') return;
        seen = now;
        reload({ reason: 'the file changed', ifChanged: true });
      }, options.intervalMs ?? 1_000)
    : undefined;
  timer?.unref();
  return {
    attach(l) {
      live = l;
      if (pending) reload(pending);
      pending = undefined;
    },
    stop() {
      process.off('SIGHUP', onHup);
      if (timer) clearInterval(timer);
    },
  };
}
