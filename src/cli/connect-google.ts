import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { GOOGLE_SCOPES, isGoogleConnectorType } from '../connectors/shared/google-scopes.ts';
import { startConsent } from '../connectors/shared/google-consent.ts';
import { GOOGLE_TESTING_REFRESH_TOKEN_DAYS, recordToken } from '../connectors/shared/token-records.ts';
import { describeConnector, envVariableOf, envWithFile, readRawProject, resolveRefs, type RawConnector } from './connect-config.ts';
import { storeToken } from './connect-env-file.ts';
import { ExitCode, line, type CliIo } from './io.ts';

export interface ConnectGoogleOptions {
  envFile?: string;
  print?: boolean;
  open?: boolean;
  clientId?: string;
  clientSecret?: string;
  /** The OAuth consent screen is in Testing: the refresh token lasts 7 days. */
  testing?: boolean;
  authUrl?: string;
  tokenUrl?: string;
  /** Seconds to wait for the browser's redirect. */
  timeout: number;
}

const DAY_MS = 86_400_000;

interface Target {
  variable: string;
  connectors: RawConnector[];
  scopes: string[];
}

/** The Google OAuth connectors that share the chosen one's refresh token variable, and their scopes. */
function targetOf(connectors: RawConnector[], wanted: string | undefined, where: (c: RawConnector) => string): Target {
  const google = connectors.filter((c) => isGoogleConnectorType(c.type) && (c.fields.auth as { type?: unknown } | undefined)?.type === 'oauth');
  if (wanted !== undefined) {
    const named = connectors.find((c) => c.name === wanted);
    if (!named) throw new ConfigError(`no connector named "${wanted}"; Google OAuth connectors: ${google.map((c) => c.name).join(', ') || 'none'}`);
    if (!google.includes(named)) throw new ConfigError(`${where(named)} is not a Google connector with auth type oauth (ga4, search_console or google_ads); service accounts need no sign-in`);
  }
  if (google.length === 0) throw new ConfigError('no Google connector (ga4, search_console, google_ads) with auth type oauth in the configuration; add one whose auth.refreshToken is ${env:GOOGLE_REFRESH_TOKEN}');
  const variableOf = (c: RawConnector): string => {
    const v = envVariableOf((c.fields.auth as Record<string, unknown>).refreshToken);
    if (!v) throw new ConfigError(`${where(c)}: auth.refreshToken must be \${env:NAME}, so that kpi connect knows which variable to write the refresh token to`);
    return v;
  };
  const chosen = wanted !== undefined ? google.filter((c) => c.name === wanted) : google;
  const variables = [...new Set(chosen.map(variableOf))];
  if (variables.length > 1) {
    throw new ConfigError(`the Google connectors read their refresh tokens from different variables (${chosen.map((c) => `${c.name}: ${variableOf(c)}`).join(', ')}); name the connector to sign in for`);
  }
  const variable = variables[0]!;
  // Everything that reads the same variable signs in once, with every scope it needs.
  const group = google.filter((c) => variableOf(c) === variable);
  const scopes = [...new Set(group.map((c) => GOOGLE_SCOPES[c.type as keyof typeof GOOGLE_SCOPES]))];
  return { variable, connectors: group, scopes };
}

/** One value of the group's auth blocks: they must agree, since one sign-in serves them all. */
function sharedAuthValue(target: Target, key: string, where: (c: RawConnector) => string): { value: unknown; at: string } {
  const first = target.connectors[0]!;
  const value = (first.fields.auth as Record<string, unknown>)[key];
  for (const c of target.connectors) {
    if ((c.fields.auth as Record<string, unknown>)[key] !== value) throw new ConfigError(`${where(first)} and ${where(c)} share ${target.variable} but not auth.${key}; one sign-in serves one OAuth client`);
  }
  return { value, at: `${first.name}'s auth.${key}` };
}

function page(title: string, text: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><p>${text}</p></body></html>`;
}

/** Tries the system's way of opening a URL; a failure leaves the printed URL to the person. */
function openBrowser(url: string, io: CliIo): void {
  const [cmd, args] = process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]] : ['xdg-open', [url]];
  try {
    const child = spawn(cmd as string, args as string[], { stdio: 'ignore', detached: true });
    child.on('error', () => io.stderr.write('could not open a browser; open the URL above yourself\n'));
    child.unref();
  } catch {
    io.stderr.write('could not open a browser; open the URL above yourself\n');
  }
}

interface Redirect {
  code: string;
  respond(status: number, html: string): void;
}

/**
 * Waits on the loopback listener for Google's redirect. A redirect whose state is not this
 * sign-in's is refused (it was not started here: a forged or stale link); an error (the person
 * pressed Cancel) ends the command. Other paths (a browser's favicon request) get a 404.
 */
function awaitRedirect(server: http.Server, state: string, timeoutMs: number, signal: AbortSignal | undefined, sent: Array<Promise<unknown>>): Promise<Redirect> {
  return new Promise<Redirect>((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no answer from the browser within ${Math.round(timeoutMs / 1000)} s; run the command again (--timeout to wait longer)`)), timeoutMs);
    const onAbort = () => finish(new Error('cancelled'));
    signal?.addEventListener('abort', onAbort, { once: true });
    let done = false;
    function finish(err: Error | undefined, redirect?: Redirect): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(redirect!);
    }
    server.on('request', (req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const send = (status: number, html: string) => {
        // The listener closes only once the browser has its page.
        sent.push(new Promise((flushed) => res.once('close', flushed)));
        res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', connection: 'close' });
        res.end(html);
      };
      if (req.method !== 'GET' || url.pathname !== '/' || done) {
        send(404, page('Not found', 'Nothing here.'));
        return;
      }
      const q = url.searchParams;
      if (q.get('state') !== state) {
        send(400, page('Refused', 'This answer does not belong to the sign-in kpi started (its state does not match). Nothing was saved.'));
        finish(new Error("refused the redirect: its state does not match the sign-in this command started (a link from another sign-in, or forged); nothing was written. Run kpi connect google again"));
        return;
      }
      const error = q.get('error');
      if (error !== null) {
        send(200, page('Access not granted', 'Google did not grant access, so nothing was saved. You can close this window.'));
        const why = error === 'access_denied' ? 'access was denied at the consent screen' : `Google answered ${error}`;
        finish(new Error(`Google sign-in did not grant access (${why}); nothing was written. Run kpi connect google again and choose Allow`));
        return;
      }
      const code = q.get('code');
      if (!code) {
        send(400, page('No code', 'Google sent neither a code nor an error. Nothing was saved.'));
        finish(new Error('the redirect carried neither a code nor an error; nothing was written'));
        return;
      }
      finish(undefined, { code, respond: send });
    });
  });
}

export async function connectGoogleCommand(io: CliIo, configFile: string, connector: string | undefined, options: ConnectGoogleOptions): Promise<number> {
  if (!options.envFile && !options.print) {
    io.stderr.write('error: say where the refresh token goes: --env-file PATH (the file your config\'s ${env:…} is read from), or --print\n');
    return ExitCode.usage;
  }
  const project = readRawProject(configFile);
  const where = (c: RawConnector) => describeConnector(c, project);
  const target = targetOf(project.connectors, connector, where);
  const env = envWithFile(io.env, options.envFile ? path.resolve(io.cwd, options.envFile) : undefined);
  const clientIdRef = sharedAuthValue(target, 'clientId', where);
  const clientSecretRef = sharedAuthValue(target, 'clientSecret', where);
  const tokenUrlRef = sharedAuthValue(target, 'tokenUrl', where);
  const clientId = options.clientId ?? resolveRefs(clientIdRef.value, env, clientIdRef.at, '--client-id');
  const clientSecret = options.clientSecret ?? resolveRefs(clientSecretRef.value, env, clientSecretRef.at, '--client-secret');
  if (!clientId || !clientSecret) throw new ConfigError(`${where(target.connectors[0]!)}: auth needs clientId and clientSecret (the OAuth client of type Desktop app), or pass --client-id and --client-secret`);
  const tokenUrl = options.tokenUrl ?? resolveRefs(tokenUrlRef.value, env, tokenUrlRef.at);

  const server = http.createServer();
  const sent: Array<Promise<unknown>> = [];
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Port 0: a free port chosen by the system; Google accepts any port on the loopback address.
    server.listen(0, '127.0.0.1', () => resolve());
  });
  try {
    const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const consent = await startConsent({ clientId, clientSecret, redirectUri, scopes: target.scopes, authUrl: options.authUrl, tokenUrl });
    line(io, `Signing in for ${target.connectors.map((c) => c.name).join(', ')} (scopes: ${target.scopes.join(' ')}).`);
    line(io, 'Open this URL in a browser, sign in with the account that can read the data, and allow access:');
    line(io);
    line(io, `  ${consent.url}`);
    line(io);
    line(io, `Waiting for Google to send the browser back to ${redirectUri} ...`);
    if (options.open) openBrowser(consent.url, io);

    const redirect = await awaitRedirect(server, consent.state, options.timeout * 1000, io.signal, sent);
    let granted;
    try {
      granted = await consent.exchange(redirect.code);
    } catch (err) {
      redirect.respond(500, page('Sign-in failed', 'The code could not be exchanged for tokens; see the terminal. Nothing was saved.'));
      throw err;
    }
    redirect.respond(200, page('Access granted', 'kpi has what it needs. You can close this window.'));

    const missing = target.scopes.filter((s) => !granted.scopes.includes(s));
    if (granted.scopes.length > 0 && missing.length > 0) io.stderr.write(`warning: Google did not grant ${missing.join(', ')}; the connectors that need it will be refused (tick every box at the consent screen)\n`);

    const obtainedAt = new Date();
    const expiresInMs = granted.refreshTokenExpiresIn !== undefined ? granted.refreshTokenExpiresIn * 1000 : options.testing ? GOOGLE_TESTING_REFRESH_TOKEN_DAYS * DAY_MS : undefined;
    const expiresAt = expiresInMs !== undefined ? new Date(obtainedAt.getTime() + expiresInMs) : null;
    const reason = granted.refreshTokenExpiresIn !== undefined ? 'access was granted for a limited time' : options.testing ? 'the OAuth consent screen is in Testing' : undefined;
    const comment = `obtained by kpi connect google on ${obtainedAt.toISOString()}${expiresAt ? `; stops working on ${expiresAt.toISOString()} (${reason})` : ''}`;
    storeToken(io, options, target.variable, granted.refreshToken, comment);
    const dataDir = path.resolve(io.cwd, resolveRefs(project.dataDir, env, 'dataDir') ?? './data');
    const recordFile = recordToken(dataDir, granted.refreshToken, { source: 'google', variable: target.variable, obtainedAt: obtainedAt.toISOString(), expiresAt: expiresAt?.toISOString() ?? null, ...(reason ? { reason } : {}) });
    line(io, `Recorded when it was obtained in ${path.relative(io.cwd, recordFile) || recordFile} (for the token_expiry alert rule).`);
    if (expiresAt) {
      line(io, `This refresh token stops working on ${expiresAt.toISOString()} because ${reason}.`);
      if (options.testing) line(io, 'Publish the app (OAuth consent screen: In production) for a refresh token that lasts; then run this command again.');
    }
    if (!project.hasTokenExpiryRule) line(io, 'Tip: add an alert rule with condition { kind: token_expiry } to hear before a token stops working (README: Credentials).');
    return ExitCode.ok;
  } finally {
    await Promise.all(sent);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
