import path from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { exchangeMetaToken, inspectMetaToken, metaTokenEnd, META_DEFAULT_API_VERSION } from '../connectors/meta-ads/token.ts';
import { recordToken } from '../connectors/shared/token-records.ts';
import { describeConnector, envVariableOf, envWithFile, readRawProject, resolveRefs, type RawConnector } from './connect-config.ts';
import { storeToken } from './connect-env-file.ts';
import { ExitCode, line, type CliIo } from './io.ts';

export interface ConnectMetaOptions {
  envFile?: string;
  print?: boolean;
  appId?: string;
  appSecret?: string;
  /** The short-lived user token; $META_SHORT_LIVED_TOKEN when left out. */
  token?: string;
  baseUrl?: string;
}

const DAY_S = 86_400;

function chosenConnector(connectors: RawConnector[], wanted: string | undefined, where: (c: RawConnector) => string): RawConnector {
  const meta = connectors.filter((c) => c.type === 'meta_ads');
  if (wanted !== undefined) {
    const named = connectors.find((c) => c.name === wanted);
    if (!named) throw new ConfigError(`no connector named "${wanted}"; Meta connectors: ${meta.map((c) => c.name).join(', ') || 'none'}`);
    if (named.type !== 'meta_ads') throw new ConfigError(`${where(named)} is not a meta_ads connector`);
    return named;
  }
  if (meta.length === 0) throw new ConfigError('no meta_ads connector in the configuration; add one whose accessToken is ${env:META_ACCESS_TOKEN}');
  const variables = new Set(meta.map((c) => envVariableOf(c.fields.accessToken)));
  if (variables.size > 1) throw new ConfigError(`the meta_ads connectors read different tokens (${meta.map((c) => c.name).join(', ')}); name the connector`);
  return meta[0]!;
}

const dateText = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export async function connectMetaCommand(io: CliIo, configFile: string, connector: string | undefined, options: ConnectMetaOptions): Promise<number> {
  if (!options.envFile && !options.print) {
    io.stderr.write('error: say where the long-lived token goes: --env-file PATH (the file your config\'s ${env:…} is read from), or --print\n');
    return ExitCode.usage;
  }
  const project = readRawProject(configFile);
  const where = (c: RawConnector) => describeConnector(c, project);
  const target = chosenConnector(project.connectors, connector, where);
  const variable = envVariableOf(target.fields.accessToken);
  if (!variable) throw new ConfigError(`${where(target)}: accessToken must be \${env:NAME}, so that kpi connect knows which variable to write the token to`);
  const env = envWithFile(io.env, options.envFile ? path.resolve(io.cwd, options.envFile) : undefined);

  const appId = options.appId ?? env.META_APP_ID;
  if (!appId) throw new ConfigError('the app id is missing: pass --app-id or set META_APP_ID (App settings > Basic in the Meta app dashboard)');
  const appSecret = options.appSecret ?? (target.fields.appSecret !== undefined ? resolveRefs(target.fields.appSecret, env, `${target.name}'s appSecret`, '--app-secret') : env.META_APP_SECRET);
  if (!appSecret) throw new ConfigError('the app secret is missing: pass --app-secret, set META_APP_SECRET, or set the connector\'s appSecret');
  const shortLived = options.token ?? env.META_SHORT_LIVED_TOKEN;
  if (!shortLived) throw new ConfigError('the short-lived user token is missing: set META_SHORT_LIVED_TOKEN (from Graph API Explorer or Facebook Login) or pass --token');
  const endpoint = {
    baseUrl: options.baseUrl ?? resolveRefs(target.fields.baseUrl, env, `${target.name}'s baseUrl`),
    apiVersion: typeof target.fields.apiVersion === 'string' ? target.fields.apiVersion : META_DEFAULT_API_VERSION,
  };

  let longLived;
  try {
    longLived = await exchangeMetaToken(endpoint, { id: appId, secret: appSecret }, shortLived);
  } catch (err) {
    // Not the configuration's fault as such: a token or an app secret typed in for this command.
    throw new Error(`Meta refused the token exchange: ${(err as Error).message}; nothing was written`);
  }
  const obtainedAt = new Date();
  const expiresAt = longLived.expiresIn !== undefined ? new Date(obtainedAt.getTime() + longLived.expiresIn * 1000) : null;
  line(io, `Exchanged the short-lived token for a long-lived one for ${target.name}.`);
  line(io, expiresAt ? `It expires in ${Math.round(longLived.expiresIn! / DAY_S)} days (expires_in ${longLived.expiresIn} s), on ${dateText(expiresAt)}.` : 'Meta gave it no expiry (expires_in absent).');

  // What debug_token says, with the app's token: the data access end can come before the expiry.
  let dataAccessEnd: Date | null = null;
  try {
    const state = await inspectMetaToken(endpoint, longLived.accessToken, `${appId}|${appSecret}`);
    dataAccessEnd = state.dataAccessExpiresAt;
    const end = metaTokenEnd(state);
    if (dataAccessEnd) line(io, `Its access to data ends on ${dateText(dataAccessEnd)} unless someone uses the app again before then.`);
    if (end && expiresAt && end.at < expiresAt) line(io, `So it reads data until ${dateText(end.at)}.`);
  } catch (err) {
    io.stderr.write(`warning: could not ask debug_token about the new token (${(err as Error).message}); the exchange itself succeeded\n`);
  }

  const comment = `obtained by kpi connect meta on ${dateText(obtainedAt)}${expiresAt ? `; expires on ${dateText(expiresAt)}` : ''}`;
  storeToken(io, options, variable, longLived.accessToken, comment);
  const dataDir = path.resolve(io.cwd, resolveRefs(project.dataDir, env, 'dataDir') ?? './data');
  recordToken(dataDir, longLived.accessToken, { source: 'meta', variable, obtainedAt: obtainedAt.toISOString(), expiresAt: expiresAt?.toISOString() ?? null });
  line(io, 'A system user token (Business settings > System users) does not expire: prefer one for a service that runs unattended.');
  if (!project.hasTokenExpiryRule) line(io, 'Tip: add an alert rule with condition { kind: token_expiry } to hear before a token stops working (README: Credentials).');
  return ExitCode.ok;
}
