import { createHash } from 'node:crypto';
import { gaxios, JWT, OAuth2Client } from 'google-auth-library';
import { ConfigError, TransientError } from '../../core/errors.ts';
import { registerExpiringSecret, registerSecret } from '../../core/secrets.ts';
import type { AuthProvider } from '../../core/http/index.ts';
import { cappedFetch } from '../../core/http/body.ts';
import type { GoogleAuthConfig } from './google-auth-config.ts';

const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
/** Refresh this long before expiry, so a long page loop never sends an expired token. */
const EAGER_REFRESH_MS = 5 * 60_000;
/** What Google's access tokens last, for one whose answer gave no expiry. */
const TOKEN_LIFETIME_MS = 60 * 60_000;

export interface GoogleAuth {
  /** For googleapis clients, which refresh by themselves and retry once on 401. */
  client: OAuth2Client;
  /** For requests through the shared HTTP layer. */
  provider: AuthProvider;
}

interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  token_uri?: string;
}

function parseKey(keyJson: string): ServiceAccountKey {
  let parsed: unknown;
  try {
    parsed = JSON.parse(keyJson);
  } catch {
    // Never quote the text: it is a private key.
    throw new ConfigError('the service account key (auth.keyJson) is not valid JSON; paste the whole key file');
  }
  const key = parsed as Partial<ServiceAccountKey>;
  if (typeof key.client_email !== 'string' || typeof key.private_key !== 'string') {
    throw new ConfigError('the service account key (auth.keyJson) lacks client_email or private_key');
  }
  return key as ServiceAccountKey;
}

/** What a token request may take, whole, unless the connector says otherwise. */
const DEFAULT_TOKEN_TIMEOUT_MS = 30_000;
/** A token answer is a few hundred bytes; a megabyte is not a token endpoint talking. */
const MAX_TOKEN_ANSWER_BYTES = 1024 * 1024;

/** A token answer that did not come whole: too slow, or too long. */
class UnreadableTokenAnswer extends Error {}

/**
 * Token requests get the bounds the API requests have: gaxios has none by default, so a token
 * endpoint answering a byte at a time, or without end, held the sync (and its claim on the
 * connector) for ever, or filled the memory. The deadline covers the whole exchange (the
 * capped fetch reads the body before it returns).
 */
function boundedFetch(timeoutMs: number): typeof fetch {
  const capped = cappedFetch(MAX_TOKEN_ANSWER_BYTES, () => new UnreadableTokenAnswer('the answer was larger than 1 MB'));
  return async (input, init) => {
    try {
      return await capped(input, init);
    } catch (err) {
      const reason: unknown = init?.signal?.reason;
      if (init?.signal?.aborted && reason instanceof Error && reason.name === 'TimeoutError') throw new UnreadableTokenAnswer(`no whole answer within ${timeoutMs} ms`);
      throw err;
    }
  };
}

/**
 * The transporter of token requests, bounded (boundedFetch). gtoken posts service-account
 * assertions to a fixed Google URL; with `tokenUrl` it is rewritten, so the same code runs
 * against a sandbox or a proxy.
 */
export function transporterFor(timeoutMs: number, tokenUrl?: string): InstanceType<typeof gaxios.Gaxios> {
  const transporter = new gaxios.Gaxios({ timeout: timeoutMs, fetchImplementation: boundedFetch(timeoutMs) });
  if (!tokenUrl) return transporter;
  transporter.interceptors.request.add({
    resolved: async (options) => {
      if (String(options.url) === GOOGLE_TOKEN_URL) options.url = new URL(tokenUrl);
      return options;
    },
  });
  return transporter;
}

/** Turns token endpoint failures into our error kinds, without their bodies' secrets. */
function tokenError(err: unknown): Error {
  const e = err as { response?: { status?: number; data?: { error?: string; error_description?: string } }; code?: string; message?: string; cause?: unknown };
  const unreadable = err instanceof UnreadableTokenAnswer ? err : e.cause instanceof UnreadableTokenAnswer ? e.cause : undefined;
  if (unreadable) return new TransientError(`could not get a Google access token (${unreadable.message})`);
  const status = e.response?.status;
  const reason = e.response?.data?.error;
  if (reason === 'invalid_grant' || reason === 'invalid_client' || reason === 'unauthorized_client' || status === 400 || status === 401 || status === 403) {
    return new ConfigError(`Google refused the credentials (${reason ?? `HTTP ${status}`}): re-authorize and update the secret named in the connector's auth block`);
  }
  return new TransientError(`could not get a Google access token (${status ? `HTTP ${status}` : (e.code ?? 'network error')})`);
}

export function createGoogleAuth(config: GoogleAuthConfig, scopes: string[], options: { timeoutMs?: number } = {}): GoogleAuth {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TOKEN_TIMEOUT_MS;
  let client: OAuth2Client;
  if (config.type === 'oauth') {
    client = new OAuth2Client({
      transporter: transporterFor(timeoutMs),
      clientId: config.clientId,
      clientSecret: config.clientSecret,
      eagerRefreshThresholdMillis: EAGER_REFRESH_MS,
      // Without it a 401 on a token that is not yet due to expire fails instead of refreshing.
      forceRefreshOnFailure: true,
      ...(config.tokenUrl ? { endpoints: { oauth2TokenUrl: config.tokenUrl } } : {}),
    });
    client.setCredentials({ refresh_token: config.refreshToken });
  } else {
    const key = parseKey(config.keyJson);
    registerSecret(key.private_key);
    const tokenUrl = config.tokenUrl ?? (key.token_uri && key.token_uri !== GOOGLE_TOKEN_URL ? key.token_uri : undefined);
    client = new JWT({
      email: key.client_email,
      key: key.private_key,
      scopes,
      eagerRefreshThresholdMillis: EAGER_REFRESH_MS,
      transporter: transporterFor(timeoutMs, tokenUrl),
    });
  }

  // A new access token every hour and for every sync: scrubbed while it is valid, then forgotten.
  const registerAccessToken = (token: string, expiresAt: number | null | undefined) => registerExpiringSecret(token, expiresAt ?? Date.now() + TOKEN_LIFETIME_MS);
  client.on('tokens', (tokens) => {
    if (tokens.access_token) registerAccessToken(tokens.access_token, tokens.expiry_date);
    if (tokens.refresh_token) registerSecret(tokens.refresh_token);
  });

  const provider: AuthProvider = {
    async headers() {
      try {
        const { token } = await client.getAccessToken();
        if (!token) throw new ConfigError('Google returned no access token for these credentials');
        registerAccessToken(token, client.credentials.expiry_date);
        return { Authorization: `Bearer ${token}` };
      } catch (err) {
        if (err instanceof ConfigError || err instanceof TransientError) throw err;
        throw tokenError(err);
      }
    },
    onUnauthorized() {
      // Forget the access token but keep the refresh token: the next request fetches a new one.
      const { refresh_token } = client.credentials;
      client.setCredentials(config.type === 'oauth' ? { refresh_token } : { refresh_token: 'jwt-placeholder', expiry_date: 1 });
    },
  };
  return { client, provider };
}

export { tokenError as googleTokenError };

const sharedClients = new Map<string, GoogleAuth>();

/**
 * The process's one client for these credentials, so every connector that uses them (a GA4 and
 * a Google Ads connector on one refresh token, each sync of either) shares one access token and
 * asks for a new one only when it is due: an hour's syncs cost one token request, not one each.
 * A service account's token carries its scopes, so its clients are per key and scopes. Keyed by
 * a hash: the map never holds the secrets as keys.
 */
export function sharedGoogleAuth(config: GoogleAuthConfig, scopes: string[]): GoogleAuth {
  const identity = config.type === 'oauth' ? ['oauth', config.clientId, config.clientSecret, config.refreshToken, config.tokenUrl ?? ''] : ['jwt', config.keyJson, config.tokenUrl ?? '', ...[...scopes].sort()];
  const key = createHash('sha256').update(JSON.stringify(identity)).digest('hex');
  let auth = sharedClients.get(key);
  if (!auth) sharedClients.set(key, (auth = createGoogleAuth(config, scopes)));
  return auth;
}
