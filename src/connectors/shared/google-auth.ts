import { gaxios, JWT, OAuth2Client } from 'google-auth-library';
import { ConfigError, TransientError } from '../../errors.ts';
import { registerSecret } from '../../secrets.ts';
import type { AuthProvider } from './http/index.ts';
import type { GoogleAuthConfig } from './google-auth-config.ts';

const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
/** Refresh this long before expiry, so a long page loop never sends an expired token. */
const EAGER_REFRESH_MS = 5 * 60_000;

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

/**
 * gtoken posts service-account assertions to a fixed Google URL; a transporter that rewrites
 * it lets the same code run against a sandbox or a proxy.
 */
function transporterFor(tokenUrl: string): InstanceType<typeof gaxios.Gaxios> {
  const transporter = new gaxios.Gaxios();
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
  const e = err as { response?: { status?: number; data?: { error?: string; error_description?: string } }; code?: string; message?: string };
  const status = e.response?.status;
  const reason = e.response?.data?.error;
  if (reason === 'invalid_grant' || reason === 'invalid_client' || reason === 'unauthorized_client' || status === 400 || status === 401 || status === 403) {
    return new ConfigError(`Google refused the credentials (${reason ?? `HTTP ${status}`}): re-authorize and update the secret named in the connector's auth block`);
  }
  return new TransientError(`could not get a Google access token (${status ? `HTTP ${status}` : (e.code ?? 'network error')})`);
}

export function createGoogleAuth(config: GoogleAuthConfig, scopes: string[]): GoogleAuth {
  let client: OAuth2Client;
  if (config.type === 'oauth') {
    client = new OAuth2Client({
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
      ...(tokenUrl ? { transporter: transporterFor(tokenUrl) } : {}),
    });
  }

  client.on('tokens', (tokens) => {
    if (tokens.access_token) registerSecret(tokens.access_token);
    if (tokens.refresh_token) registerSecret(tokens.refresh_token);
  });

  const provider: AuthProvider = {
    async headers() {
      try {
        const { token } = await client.getAccessToken();
        if (!token) throw new ConfigError('Google returned no access token for these credentials');
        registerSecret(token);
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
