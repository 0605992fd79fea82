import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { parse } from 'yaml';
import { ConfigError } from '../core/errors.ts';

/**
 * What `kpi connect` needs from the configuration, read before the configuration can load: the
 * token it is about to obtain is not set yet, so `${env:…}` cannot all resolve. It reads the
 * connectors' raw values and resolves only the references it uses (client id, app secret).
 */

export interface RawConnector {
  index: number;
  name: string;
  type: string;
  fields: Record<string, unknown>;
}

export interface RawProject {
  file: string;
  connectors: RawConnector[];
  /** `dataDir` as written (a reference resolved), default ./data. */
  dataDir: string;
  /** Whether any alert rule has kind token_expiry. */
  hasTokenExpiryRule: boolean;
}

const REF = /\$\{(env|var):([A-Za-z_][A-Za-z0-9_]*)\}/g;
const WHOLE_ENV_REF = /^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$/;

export function readRawProject(configFile: string): RawProject {
  let text: string;
  try {
    text = readFileSync(configFile, 'utf8');
  } catch {
    throw new ConfigError(`cannot read ${configFile}: kpi connect reads the connector's credentials there (where the token goes, the client id); pass --config`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch {
    throw new ConfigError(`${configFile} is not valid YAML; run kpi validate`);
  }
  const top = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : {};
  const list = Array.isArray(top.connectors) ? top.connectors : [];
  const connectors: RawConnector[] = [];
  list.forEach((item, index) => {
    if (item === null || typeof item !== 'object') return;
    const fields = item as Record<string, unknown>;
    if (typeof fields.name === 'string' && typeof fields.type === 'string') connectors.push({ index, name: fields.name, type: fields.type, fields });
  });
  const alerts = Array.isArray(top.alerts) ? top.alerts : [];
  const hasTokenExpiryRule = alerts.some((r) => (r as { condition?: { kind?: unknown } } | null)?.condition?.kind === 'token_expiry');
  return { file: configFile, connectors, dataDir: typeof top.dataDir === 'string' ? top.dataDir : './data', hasTokenExpiryRule };
}

/** NAME when `value` is exactly `${env:NAME}`: the variable a token is read from. */
export function envVariableOf(value: unknown): string | undefined {
  return typeof value === 'string' ? WHOLE_ENV_REF.exec(value.trim())?.[1] : undefined;
}

/** `value` with its references resolved from `env`; a missing variable is an error naming where it is used. */
export function resolveRefs(value: unknown, env: NodeJS.ProcessEnv, where: string, flag?: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') return String(value);
  return value.replace(REF, (_m, _kind: string, name: string) => {
    const v = env[name];
    if (v === undefined || v === '') throw new ConfigError(`environment variable ${name} is not set (${where} is ${value})${flag ? `; set it, or pass ${flag}` : ''}`);
    return v;
  });
}

/** The environment with the env file's variables under it (values already set win), as --env-from does. */
export function envWithFile(env: NodeJS.ProcessEnv, envFile: string | undefined): NodeJS.ProcessEnv {
  if (!envFile) return env;
  try {
    return { ...parseEnv(readFileSync(envFile, 'utf8')), ...env };
  } catch {
    return env;
  }
}

export function describeConnector(c: RawConnector, project: RawProject): string {
  return `${c.name} (connectors[${c.index}] in ${path.basename(project.file)})`;
}
