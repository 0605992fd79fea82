import { randomBytes } from 'node:crypto';
import { CodeChallengeMethod, OAuth2Client } from 'google-auth-library';
import { registerExpiringSecret, registerSecret } from '../../core/secrets.ts';
import { transporterFor } from './google-auth.ts';

/**
 * Google's OAuth flow for installed apps (the "loopback IP address" redirect): an authorization
 * URL with PKCE (S256) and a random state, then the exchange of the code the browser brings
 * back for a refresh token. The caller runs the loopback listener and checks the state.
 */

const TOKEN_TIMEOUT_MS = 30_000;

export interface ConsentSettings {
  clientId: string;
  clientSecret: string;
  /** http://127.0.0.1:PORT, where the listener waits. */
  redirectUri: string;
  scopes: readonly string[];
  /** Google's own endpoints when left out. */
  authUrl?: string | undefined;
  tokenUrl?: string | undefined;
}

export interface Consent {
  /** The URL the person opens to sign in and allow access. */
  url: string;
  /** What the redirect must carry back; anything else did not come from this sign-in. */
  state: string;
  /** Exchanges the code the redirect brought for tokens, with the PKCE verifier. */
  exchange(code: string): Promise<GrantedTokens>;
}

export interface GrantedTokens {
  refreshToken: string;
  /** The scopes Google granted (the person may untick some). */
  scopes: string[];
  /** Seconds the refresh token lasts, when Google says (time-based access); undefined otherwise. */
  refreshTokenExpiresIn: number | undefined;
}

export async function startConsent(settings: ConsentSettings): Promise<Consent> {
  registerSecret(settings.clientSecret);
  const client = new OAuth2Client({
    clientId: settings.clientId,
    clientSecret: settings.clientSecret,
    redirectUri: settings.redirectUri,
    transporter: transporterFor(TOKEN_TIMEOUT_MS),
    ...(settings.authUrl || settings.tokenUrl
      ? { endpoints: { ...(settings.authUrl ? { oauth2AuthBaseUrl: settings.authUrl } : {}), ...(settings.tokenUrl ? { oauth2TokenUrl: settings.tokenUrl } : {}) } }
      : {}),
  });
  const { codeVerifier, codeChallenge } = await client.generateCodeVerifierAsync();
  const state = randomBytes(32).toString('base64url');
  const url = client.generateAuthUrl({
    // offline: a refresh token; consent: one every time, even where access was granted before.
    access_type: 'offline',
    prompt: 'consent',
    scope: [...settings.scopes],
    state,
    code_challenge_method: CodeChallengeMethod.S256,
    ...(codeChallenge ? { code_challenge: codeChallenge } : {}),
  });
  return {
    url,
    state,
    async exchange(code) {
      let tokens: Record<string, unknown>;
      try {
        tokens = (await client.getToken({ code, codeVerifier })).tokens as Record<string, unknown>;
      } catch (err) {
        throw exchangeError(err);
      }
      if (typeof tokens.access_token === 'string') registerExpiringSecret(tokens.access_token, Date.now() + 3_600_000);
      const refreshToken = tokens.refresh_token;
      if (typeof refreshToken !== 'string' || refreshToken === '') {
        throw new Error('Google granted access but sent no refresh token; remove the app at https://myaccount.google.com/permissions and run the command again');
      }
      registerSecret(refreshToken);
      const expiresIn = tokens.refresh_token_expires_in;
      return {
        refreshToken,
        scopes: typeof tokens.scope === 'string' ? tokens.scope.split(/\s+/).filter(Boolean) : [],
        refreshTokenExpiresIn: typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn : undefined,
      };
    },
  };
}

/**
 * Google's reason (`invalid_grant: Invalid code verifier.`), never the request, which holds the
 * code. Plain errors: a person at a terminal reads them, no job retries them.
 */
function exchangeError(err: unknown): Error {
  const e = err as { response?: { status?: number; data?: { error?: unknown; error_description?: unknown } }; code?: string };
  const data = e.response?.data;
  const status = e.response?.status;
  if (status !== undefined && status < 500 && status !== 429) {
    const reason = typeof data?.error === 'string' ? data.error : `HTTP ${status}`;
    const detail = typeof data?.error_description === 'string' ? `: ${data.error_description}` : '';
    return new Error(`Google refused to exchange the code for tokens (${reason}${detail}); check the client id and secret and run the command again`);
  }
  return new Error(`could not reach Google's token endpoint (${status ? `HTTP ${status}` : (e.code ?? 'network error')}); run the command again`);
}
