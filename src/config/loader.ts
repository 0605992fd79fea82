import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigProblem } from '../core/errors.ts';
import { MIN_SECRET_LENGTH, redactSecrets, registerSecret } from '../core/secrets.ts';
import { loadUserSource } from '../connectors/declarative/user-source.ts';
import { connectorCatalog, isConnectorType, type ConnectorConfig } from '../connectors/catalog.ts';
import { configSchema, type RawConfig } from './schema.ts';
import { reportsOf, type Report } from './reports.ts';
import { parseCoercingRefs, wholeRefOf, type WholeRef } from './coerce-refs.ts';
import { yamlSyntaxProblem } from './syntax.ts';

export interface Config extends Omit<RawConfig, 'connectors' | 'reports'> {
  connectors: ConnectorConfig[];
  /** `reports` and the old `digest:` section as one list (see reports.ts). */
  reports: Report[];
  /** Absolute path of the file this came from; relative paths inside resolve against its folder. */
  file: string;
  configDir: string;
  /** What loads but is probably not meant (two connectors summed into one revenue), located like problems. */
  warnings?: ConfigProblem[];
}

/** Checks that need the whole config (KPI formulas, alert rules, channel references) plug in here. */
export type ConfigCheck = (config: Config) => ConfigProblem[];

/** ${env:NAME} is a secret from the environment; ${var:NAME} a plain value (a date, a host) that logs may show. */
const ENV_REF = /\$\{(env|var):([A-Za-z_][A-Za-z0-9_]*)\}/g;

type PathPart = string | number;

/** Values that were one reference and nothing else, by path: they may become numbers or booleans (coerce-refs.ts). */
type WholeRefs = Map<string, WholeRef>;

function formatPath(parts: readonly PathPart[]): string {
  let out = '';
  for (const part of parts) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${part}` : part;
  }
  return out;
}

/**
 * Replaces `${env:NAME}` in every string with the variable's value. Every resolved value is
 * registered as a secret, so it is scrubbed from logs and errors from here on.
 */
function resolveEnvRefs(value: unknown, at: PathPart[], env: NodeJS.ProcessEnv, problems: Array<{ path: PathPart[]; message: string }>, refs: WholeRefs): unknown {
  if (typeof value === 'string') {
    const whole = wholeRefOf(value);
    if (whole) refs.set(formatPath(at), whole);
    return value.replace(ENV_REF, (_match, kind: string, name: string) => {
      const resolved = env[name];
      if (resolved === undefined || resolved === '') {
        problems.push({ path: at, message: `environment variable ${name} is not set (referenced as \${${kind}:${name}})` });
        return '';
      }
      // Too short to be scrubbed from logs without mangling ordinary words, and no real
      // credential is this short. Dropped here, so no other message can quote it either.
      if (kind === 'env' && resolved.trim().length < MIN_SECRET_LENGTH) {
        problems.push({
          path: at,
          message: `environment variable ${name} has fewer than ${MIN_SECRET_LENGTH} characters (blanks at its ends not counted), too short for a secret (referenced as \${env:${name}}); set the whole credential, or use \${var:${name}} for a value that is not secret`,
        });
        return '';
      }
      if (kind === 'env') registerSecret(resolved);
      return resolved;
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => resolveEnvRefs(item, [...at, i], env, problems, refs));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = resolveEnvRefs(item, [...at, key], env, problems, refs);
    return out;
  }
  return value;
}

function zodProblems(error: z.ZodError, prefix: PathPart[]): Array<{ path: PathPart[]; message: string }> {
  return error.issues.map((issue) => {
    const at = [...prefix, ...(issue.path as PathPart[])];
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.length === 1
        ? { path: [...at, issue.keys[0]!], message: `unknown key "${issue.keys[0]}"` }
        : { path: at, message: `unknown keys ${issue.keys.map((k) => `"${k}"`).join(', ')}` };
    }
    if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) {
      return { path: at, message: `required: expected ${issue.expected}` };
    }
    // A record's key that fails its own schema: that schema's message says why ("Invalid key in record" does not).
    if (issue.code === 'invalid_key' && issue.issues[0]) {
      return { path: at, message: `invalid key: ${issue.issues[0].message}` };
    }
    return { path: at, message: issue.message };
  });
}

function locate(doc: Document, lines: LineCounter, at: PathPart[]): { line?: number; column?: number } {
  // Walk up until a node exists: a missing key is best pointed at by its parent.
  for (let depth = at.length; depth >= 0; depth--) {
    const node = doc.getIn(at.slice(0, depth), true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) {
      const pos = lines.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return {};
}

interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  checks?: ConfigCheck[];
  /** Checks whose findings do not stop the load: they end up in `config.warnings`. */
  warnings?: ConfigCheck[];
}

/** Parses and validates YAML text; `file` is only used to name where problems are. */
export function parseConfig(text: string, file: string, options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const displayFile = path.relative(process.cwd(), file) || file;

  // Syntax first and alone: what a broken file would give the schema checks is noise.
  if (doc.errors.length > 0) throw new ConfigError([yamlSyntaxProblem(doc.errors, text, displayFile)]);
  let raw: unknown;
  try {
    raw = doc.toJS() ?? {};
  } catch (err) {
    // Aliases that expand without end (a "billion laughs" file) are refused by the parser.
    throw new ConfigError([{ file: displayFile, line: 1, path: '', message: `YAML: ${(err as Error).message}` }]);
  }
  const problems: Array<{ path: PathPart[]; message: string }> = [];
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([{ file: displayFile, line: 1, path: '', message: 'expected a mapping of keys (reporting, connectors, kpis, ...) at the top level' }]);
  }

  const refs: WholeRefs = new Map();
  const resolved = resolveEnvRefs(raw, [], env, problems, refs);
  const top = parseCoercingRefs(configSchema, resolved, [], refs, formatPath, problems);
  if (!top.success) problems.push(...zodProblems(top.error, []));

  const connectors: ConnectorConfig[] = [];
  const rawConnectors = (resolved as { connectors?: unknown }).connectors;
  if (Array.isArray(rawConnectors)) {
    const seen = new Map<string, number>();
    rawConnectors.forEach((item, i) => {
      const type = (item as { type?: unknown } | null)?.type;
      const known = Object.keys(connectorCatalog);
      if (!isConnectorType(type)) {
        problems.push({
          path: ['connectors', i, 'type'],
          message: type === undefined ? `required: one of ${known.join(', ')}` : `unknown connector type "${String(type)}"; expected one of ${known.join(', ')}`,
        });
        return;
      }
      const parsed = parseCoercingRefs(connectorCatalog[type].configSchema, resolved, ['connectors', i], refs, formatPath, problems);
      if (!parsed.success) {
        problems.push(...zodProblems(parsed.error, ['connectors', i]));
        return;
      }
      const first = seen.get(parsed.data.name);
      if (first !== undefined) {
        problems.push({ path: ['connectors', i, 'name'], message: `duplicate connector name "${parsed.data.name}" (also connectors[${first}])` });
      }
      seen.set(parsed.data.name, i);
      if (parsed.data.type === 'source') {
        // A user's own source: its definition file is read now, so a broken one is reported with the rest.
        const loaded = loadUserSource(parsed.data, path.dirname(path.resolve(file)));
        for (const p of loaded.problems) problems.push({ path: ['connectors', i, ...p.key], message: p.message });
        if (loaded.source) connectors.push({ ...parsed.data, settings: loaded.settings as typeof parsed.data.settings, source: loaded.source });
        return;
      }
      connectors.push(parsed.data as ConnectorConfig);
    });
  }

  // Every message is scrubbed of resolved secrets: a secret put where a cron expression or a
  // time zone belongs would otherwise be quoted back in the error.
  const toProblem = (p: { path: PathPart[]; message: string }): ConfigProblem => ({
    file: displayFile,
    path: formatPath(p.path),
    message: redactSecrets(p.message),
    ...locate(doc, lines, p.path),
  });

  if (problems.length > 0 || !top.success) {
    // A missing secret also fails its field's schema; saying both would only add noise.
    const envPaths = new Set(problems.filter((p) => p.message.startsWith('environment variable')).map((p) => formatPath(p.path)));
    const kept = problems.filter((p) => p.message.startsWith('environment variable') || !envPaths.has(formatPath(p.path)));
    const located = kept.map(toProblem).sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    throw new ConfigError(located);
  }

  const absolute = path.resolve(file);
  const config: Config = { ...top.data, connectors, reports: reportsOf(top.data), file: absolute, configDir: path.dirname(absolute) };

  const located = (p: ConfigProblem): ConfigProblem => ({ ...p, message: redactSecrets(p.message), file: displayFile, ...locate(doc, lines, parsePath(p.path)) });
  const later: ConfigProblem[] = [];
  for (const check of options.checks ?? []) later.push(...check(config));
  if (later.length > 0) throw new ConfigError(later.map(located));
  const warnings = (options.warnings ?? []).flatMap((check) => check(config)).map(located);
  return warnings.length > 0 ? { ...config, warnings } : config;
}

/** Inverse of formatPath, so checks can report `kpis[3].formula` and still get a line number. */
function parsePath(text: string): PathPart[] {
  const parts: PathPart[] = [];
  for (const match of text.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (match[2] !== undefined) parts.push(Number(match[2]));
    else if (match[1] !== undefined) parts.push(match[1]);
  }
  return parts;
}

export function loadConfig(file: string, options: LoadOptions = {}): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([{ file, path: '', message: code === 'ENOENT' ? 'config file not found (pass --config FILE, set KPI_CONFIG, or copy config/example.yaml to config/kpi.yaml)' : `cannot read config file (${code ?? String(err)})` }]);
  }
  return parseConfig(text, file, options);
}
