import { stringify } from 'yaml';
import { connectorFor } from '../connectors/catalog.ts';
import type { ConnectorConfigBase } from '../connectors/shared/connector.ts';
import type { Discovery, SeenAccount } from '../connectors/shared/discover.ts';
import { errorMessage, isConfigError, isTransientError } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { redactSecrets } from '../core/secrets.ts';
import { loadCheckedConfig } from './context.ts';
import { ExitCode, line, type CliIo } from './io.ts';
import { dataTable } from './table.ts';

/**
 * `kpi check [CONNECTOR]`: for each connector, whether its credentials work and what they can
 * see (each connector type's `discover`), with config lines ready to paste. Touches no
 * database, so it never needs the process that holds the embedded one.
 */

export interface CheckResult {
  name: string;
  type: string;
  /** skipped: a disabled connector, checked only when named. */
  verdict: 'ok' | 'failed' | 'skipped';
  /** Why the check could not run to the end (credentials refused, source unreachable). */
  error?: string;
  discovery?: Discovery;
}

/** What went wrong, as one line a person can act on; never with a secret in it. */
function failure(err: unknown): string {
  const message = redactSecrets(errorMessage(err));
  if (isConfigError(err)) return message;
  if (isTransientError(err)) return `could not reach the source: ${message}`;
  return `check failed: ${message}`;
}

export async function checkConnector(cfg: ConnectorConfigBase, ctx: { log: ReturnType<typeof createLogger>; signal: AbortSignal; configDir: string }): Promise<CheckResult> {
  const base = { name: cfg.name, type: cfg.type };
  try {
    const connector = await connectorFor(cfg.type);
    if (!connector.discover) return { ...base, verdict: 'failed', error: `connectors of type ${cfg.type} cannot be checked in this build` };
    const discovery = await connector.discover(cfg, { log: ctx.log.child({ connector: cfg.name }), signal: ctx.signal, configDir: ctx.configDir });
    return { ...base, verdict: discovery.problems.length > 0 ? 'failed' : 'ok', discovery };
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    return { ...base, verdict: 'failed', error: failure(err) };
  }
}

/** "1 property", "2 properties", "3 ad accounts". */
const plural = (n: number, word: string): string => (n === 1 ? `${n} ${word}` : `${n} ${word.endsWith('y') ? `${word.slice(0, -1)}ies` : `${word}s`}`);

function verdictLine(r: CheckResult): string {
  const who = `${r.name} (${r.type})`;
  if (r.verdict === 'skipped') return `- ${who}: disabled, not checked (name it to check it)`;
  if (r.error) return `✗ ${who}: ${r.error}`;
  const d = r.discovery!;
  const visible = d.accounts.filter((a) => a.accessible).length;
  if (d.problems.length === 1) return `✗ ${who}: ${d.problems[0]}`;
  if (d.problems.length > 1) return `✗ ${who}: ${d.problems.length} problems`;
  return `✓ ${who}: ${d.summary ?? `credentials work; ${plural(visible, d.kind)} visible`}`;
}

const cell = (v: string | number | null | undefined): string => (v === null || v === undefined || v === '' ? '-' : String(v));

/** The accounts as a table: the columns any of them has a value for, then whether the config names it. */
function accountsTable(d: Discovery): string {
  const has = (pick: (a: SeenAccount) => unknown) => d.accounts.some((a) => pick(a) !== undefined && pick(a) !== null);
  const detailKeys = [...new Set(d.accounts.flatMap((a) => Object.keys(a.details ?? {})))];
  const columns: Array<[string, (a: SeenAccount) => string]> = [[d.kind, (a) => a.id]];
  if (has((a) => a.name)) columns.push(['name', (a) => cell(a.name)]);
  if (has((a) => a.currency)) columns.push(['currency', (a) => cell(a.currency)]);
  if (has((a) => a.timeZone)) columns.push(['time zone', (a) => cell(a.timeZone)]);
  for (const key of detailKeys) columns.push([key, (a) => cell(a.details?.[key])]);
  if (d.accounts.some((a) => a.configured)) columns.push(['configured', (a) => (a.configured ? 'yes' : 'no')]);
  if (d.accounts.some((a) => !a.accessible)) columns.push(['accessible', (a) => (a.accessible ? 'yes' : 'no')]);
  const table = dataTable(columns.map(([title]) => title));
  for (const a of d.accounts) table.push(columns.map(([, value]) => value(a)));
  return table.toString();
}

const indent = (text: string, by: string): string =>
  text
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => `${by}${l}`)
    .join('\n');

function printResult(io: CliIo, r: CheckResult): void {
  line(io, verdictLine(r));
  const d = r.discovery;
  if (!d) return;
  if (d.problems.length > 1) for (const p of d.problems) line(io, `  - ${p}`);
  if (d.accounts.length > 0) line(io, indent(accountsTable(d), '  '));
  else line(io, `  no ${d.kind} visible to these credentials`);
  for (const note of d.notes) line(io, `  note: ${note}`);
  if (Object.keys(d.configLines).length > 0) {
    line(io, '  config lines:');
    line(io, indent(stringify(d.configLines), '    '));
  }
}

export async function checkCommand(io: CliIo, file: string, name: string | undefined, options: { json?: boolean }): Promise<number> {
  const config = loadCheckedConfig(file, io);
  let targets = config.connectors;
  if (name !== undefined) {
    const found = config.connectors.find((c) => c.name === name);
    if (!found) {
      const names = config.connectors.map((c) => c.name);
      io.stderr.write(`unknown connector "${name}"; ${names.length ? `configured: ${names.join(', ')}` : 'the configuration has no connectors'}\n`);
      return ExitCode.usage;
    }
    targets = [found];
  }
  const log = createLogger({ level: io.env.LOG_LEVEL ?? 'warn', destination: io.stderr as NodeJS.WritableStream });
  const ctx = { log, signal: io.signal ?? new AbortController().signal, configDir: config.configDir };
  // Connectors are independent: checked at once, printed in config order.
  const results = await Promise.all(
    targets.map((c) => (c.enabled || name !== undefined ? checkConnector(c, ctx) : Promise.resolve<CheckResult>({ name: c.name, type: c.type, verdict: 'skipped' }))),
  );
  const failed = results.filter((r) => r.verdict === 'failed').length;

  if (options.json) {
    const connectors = results.map((r) => ({ name: r.name, type: r.type, verdict: r.verdict, ...(r.error ? { error: r.error } : {}), ...(r.discovery ?? {}) }));
    line(io, JSON.stringify({ ok: failed === 0, connectors }, null, 2));
  } else {
    if (results.length === 0) line(io, 'the configuration has no connectors to check');
    results.forEach((r, i) => {
      if (i > 0) line(io);
      printResult(io, r);
    });
    const checked = results.filter((r) => r.verdict !== 'skipped').length;
    if (results.length > 1) line(io, `\n${plural(checked, 'connector')} checked: ${checked - failed} ok, ${failed} failed`);
  }
  return failed > 0 ? ExitCode.failed : ExitCode.ok;
}
