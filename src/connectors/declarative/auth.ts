import { ConfigError } from '../../core/errors.ts';
import { createHttpClient, type AuthProvider } from '../../core/http/index.ts';
import type { Logger } from '../../core/log.ts';
import { registerExpiringSecret, registerSecret } from '../../core/secrets.ts';
import type { Sleep } from '../../core/resilience/index.ts';
import type { SourceDefinition } from './definition.ts';
import { fill, type TemplateScope } from './template.ts';

/** Refresh this long before an access token's end, so a long page loop never sends a dead one. */
const EAGER_REFRESH_MS = 60_000;

interface AuthDeps {
  log: Logger;
  signal: AbortSignal;
  sleep?: Sleep;
  timeoutMs?: number;
  /** Replaces the token URL's scheme, host and port (the sandbox). */
  rebase(url: string): string;
}

/**
 * The credentials a definition's requests carry, filled from the connector's config. Each
 * value is registered as a secret before anything is sent, so no log or error can show it.
 */
export function authProviderOf(def: SourceDefinition, scope: TemplateScope, deps: AuthDeps): AuthProvider | undefined {
  const a = def.auth;
  const secret = (text: string) => {
    const value = fill(text, scope);
    registerSecret(value);
    return value;
  };
  switch (a.type) {
    case 'none':
      return undefined;
    case 'bearer': {
      const token = secret(a.token);
      return { headers: () => ({ Authorization: `Bearer ${token}` }) };
    }
    case 'basic': {
      const encoded = Buffer.from(`${fill(a.username, scope)}:${secret(a.password)}`).toString('base64');
      registerSecret(encoded);
      return { headers: () => ({ Authorization: `Basic ${encoded}` }) };
    }
    case 'header': {
      const value = secret(a.value);
      return { headers: () => ({ [a.name]: value }) };
    }
    case 'query': {
      const value = secret(a.value);
      return { headers: () => ({}), query: () => ({ [a.name]: value }) };
    }
    case 'oauth2_refresh':
      return refreshTokenGrant(
        { tokenUrl: deps.rebase(fill(a.tokenUrl, scope)), clientId: fill(a.clientId, scope), clientSecret: secret(a.clientSecret), refreshToken: secret(a.refreshToken), scope: a.scope ? fill(a.scope, scope) : undefined },
        scope.name,
        deps,
      );
  }
}

/** `expires_in` in ms: a number of seconds, or its text (some token endpoints quote it); an hour when absent or unreadable. */
function lifetimeOf(expiresIn: unknown): number {
  const seconds = typeof expiresIn === 'number' ? expiresIn : typeof expiresIn === 'string' && /^\d+$/.test(expiresIn.trim()) ? Number(expiresIn) : Number.NaN;
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 3_600_000;
}

/**
 * How long a token is used before a new one is asked for: its lifetime less a minute, but at
 * least half its lifetime. A token living a minute or less (some endpoints hand out 30 s ones)
 * would otherwise count as due at once, and every request would ask the token endpoint first.
 */
function refreshAfterMs(lifetimeMs: number): number {
  return Math.max(lifetimeMs - EAGER_REFRESH_MS, lifetimeMs / 2);
}

function hasAccessToken(data: unknown): boolean {
  return data !== null && typeof data === 'object' && typeof (data as { access_token?: unknown }).access_token === 'string';
}

interface Grant {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  refreshToken: string;
  scope: string | undefined;
}

/**
 * OAuth 2.0's refresh-token grant (RFC 6749 §6), through the one HTTP client: an access token
 * is asked for on the first request, kept until a minute before `expires_in` ends, and asked
 * for again after a 401. A refused grant (400 invalid_grant, 401) is a ConfigError: someone
 * must sign in again.
 */
function refreshTokenGrant(grant: Grant, name: string, deps: AuthDeps): AuthProvider {
  const http = createHttpClient({
    name: `${name} token`,
    baseURL: new URL(grant.tokenUrl).origin,
    logger: deps.log,
    signal: deps.signal,
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    ...(deps.timeoutMs ? { timeoutMs: deps.timeoutMs } : {}),
    // 400 and 401 are the grant refused (read below); a 2xx without a token is the endpoint
    // unwell (a maintenance notice), not the user's sign-in gone: asked again.
    classify: (res) => (res.status === 400 || res.status === 401 ? 'ok' : res.status < 300 && !hasAccessToken(res.data) ? { verdict: 'retry', message: 'no access_token in the answer' } : undefined),
  });
  let current: { token: string; until: number } | undefined;
  let pending: Promise<string> | undefined;

  async function obtain(): Promise<string> {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: grant.refreshToken, client_id: grant.clientId, client_secret: grant.clientSecret });
    if (grant.scope) form.set('scope', grant.scope);
    const res = await http.request<{ access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown }>({
      method: 'POST',
      url: grant.tokenUrl,
      body: form,
    });
    const data = res.data ?? {};
    if (res.status >= 400 || typeof data.access_token !== 'string') {
      const why = [data.error, data.error_description].filter((x) => typeof x === 'string').join(': ') || `HTTP ${res.status}`;
      throw new ConfigError(`connector "${name}": the token endpoint refused the refresh token (${why}); sign in again and store the new refresh token`);
    }
    const lifetimeMs = lifetimeOf(data.expires_in);
    registerExpiringSecret(data.access_token, Date.now() + lifetimeMs);
    current = { token: data.access_token, until: Date.now() + refreshAfterMs(lifetimeMs) };
    return data.access_token;
  }

  return {
    async headers() {
      if (!current || Date.now() >= current.until) {
        pending ??= obtain().finally(() => (pending = undefined));
        await pending;
      }
      return { Authorization: `Bearer ${current!.token}` };
    },
    onUnauthorized() {
      current = undefined;
    },
  };
}
