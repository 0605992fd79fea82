import { createHash, generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import { CredentialStore, json, startFakeServer, type FakeApi, type FakeRequest, type FakeResponse, type FakeServer } from './server.ts';

/**
 * Google's OAuth 2.0 token endpoint: refresh-token grants (installed apps, web apps) and
 * JWT-bearer grants (service accounts), and the installed-app sign-in: the authorization endpoint
 * (GET /o/oauth2/v2/auth, which "consents" at once and redirects to the loopback redirect_uri
 * with a code and the state) and the authorization-code grant (PKCE checked when the sign-in
 * sent a code_challenge). The access tokens it issues go into a CredentialStore
 * that the GA4, Search Console and Google Ads fakes share, so a client that refreshes really
 * gets through and one that does not really fails.
 */

export const GOOGLE_JWT_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Accepted by every Google fake without a token exchange, for plain fetch tests. */
export const GOOGLE_STATIC_TOKEN = 'sandbox.static-access-token';

export interface OAuthClient {
  clientId: string;
  clientSecret: string;
  refreshToken: string;
}

export interface GoogleTokenSettings {
  /** expires_in of newly issued tokens; set to 1–2 to exercise refresh paths. */
  expiresInSec: number;
  clients: OAuthClient[];
  /** Refresh tokens that now answer invalid_grant, as after a user revokes access. */
  revokedRefreshTokens: string[];
  /** What the person at the consent screen does: allow, or deny (error=access_denied). */
  consent: 'allow' | 'deny';
  /**
   * refresh_token_expires_in of the authorization-code grant's answer, which Google sends only
   * when the person granted time-based access; undefined leaves it out.
   */
  refreshTokenExpiresInSec: number | undefined;
}

/** A code the authorization endpoint handed out, waiting for its exchange. */
export interface AuthorizationGrant {
  code: string;
  clientId: string;
  redirectUri: string;
  scope: string;
  codeChallenge: string | undefined;
  codeChallengeMethod: string | undefined;
  /** Set once exchanged: a code is good for one exchange only. */
  used: boolean;
}

export interface ServiceAccountKey {
  type: 'service_account';
  project_id: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  client_id: string;
  auth_uri: string;
  token_uri: string;
  auth_provider_x509_cert_url: string;
  client_x509_cert_url: string;
  universe_domain: string;
}

export interface GoogleTokenFake extends FakeServer<GoogleTokenSettings> {
  /** `${url}/token`. */
  tokenUrl: string;
  /** A service account key whose JWTs this endpoint accepts; its token_uri points here. */
  serviceAccountKey: ServiceAccountKey;
  /** Access tokens issued so far, oldest first. */
  issued: string[];
  /** `${url}/o/oauth2/v2/auth`, Google's authorization endpoint. */
  authUrl: string;
  /** Codes handed out by the authorization endpoint, oldest first. */
  grants: AuthorizationGrant[];
}

export const SANDBOX_OAUTH_CLIENT: OAuthClient = {
  clientId: 'sandbox-client.apps.googleusercontent.com',
  clientSecret: 'GOCSPX-sandbox-secret',
  refreshToken: '1//sandbox-refresh-token',
};

interface GoogleTokenOptions {
  credentials?: CredentialStore;
  expiresInSec?: number;
  clients?: OAuthClient[];
}

const GOOGLE_AUDIENCES = ['https://oauth2.googleapis.com/token', 'https://www.googleapis.com/oauth2/v4/token', 'https://accounts.google.com/o/oauth2/token'];
const SA_EMAIL = 'kpi-sandbox@sandbox-project.iam.gserviceaccount.com';

function oauthError(status: number, error: string, description: string): FakeResponse {
  return json(status, { error, error_description: description });
}

export async function startGoogleTokenFake(options: GoogleTokenOptions = {}): Promise<GoogleTokenFake> {
  const credentials = options.credentials ?? new CredentialStore([GOOGLE_STATIC_TOKEN]);
  const settings: GoogleTokenSettings = {
    expiresInSec: options.expiresInSec ?? 3599,
    clients: options.clients ?? [SANDBOX_OAUTH_CLIENT],
    revokedRefreshTokens: [],
    consent: 'allow',
    refreshTokenExpiresInSec: undefined,
  };
  const grants: AuthorizationGrant[] = [];
  const issued: string[] = [];
  // As at Google, withdrawing a refresh token's grant ends the access tokens it gave too.
  const refreshTokenOf = new Map<string, string>();
  credentials.revokeWhen((token) => {
    const refresh = refreshTokenOf.get(token);
    return refresh !== undefined && settings.revokedRefreshTokens.includes(refresh);
  });
  let publicKey: KeyObject | undefined;
  let saKey: ServiceAccountKey | undefined;
  let tokenUrl = '';

  function issue(scope: string | undefined, refreshToken?: string): FakeResponse {
    const token = `sandbox.access-${issued.length + 1}-${randomBytes(12).toString('base64url')}`;
    issued.push(token);
    if (refreshToken) refreshTokenOf.set(token, refreshToken);
    credentials.add(token, settings.expiresInSec);
    const body: Record<string, unknown> = { access_token: token, expires_in: settings.expiresInSec, token_type: 'Bearer' };
    if (scope) body.scope = scope;
    return json(200, body);
  }

  function refreshGrant(form: Record<string, string>, req: FakeRequest): FakeResponse {
    const client = clientOf(form, req);
    if (!client) return oauthError(401, 'invalid_client', 'The OAuth client was not found.');
    const clientId = client.clientId;
    const refresh = form.refresh_token;
    if (!refresh) return oauthError(400, 'invalid_request', "Missing required parameter: refresh_token");
    if (req.fault?.kind === 'revokedToken' || settings.revokedRefreshTokens.includes(refresh)) {
      return oauthError(400, 'invalid_grant', 'Token has been expired or revoked.');
    }
    if (!settings.clients.some((c) => c.clientId === clientId && c.refreshToken === refresh)) return oauthError(400, 'invalid_grant', 'Bad Request');
    return issue(form.scope, refresh);
  }

  function jwtGrant(form: Record<string, string>, req: FakeRequest): FakeResponse {
    const parts = (form.assertion ?? '').split('.');
    const [h, p, s] = parts;
    if (parts.length !== 3 || !h || !p || !s) return oauthError(400, 'invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.');
    let claims: Record<string, unknown>;
    try {
      claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      return oauthError(400, 'invalid_grant', 'Invalid JWT Signature.');
    }
    if (claims.iss !== SA_EMAIL || !publicKey) return oauthError(400, 'invalid_grant', 'Invalid grant: account not found');
    if (!verify('RSA-SHA256', Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, 'base64url'))) return oauthError(400, 'invalid_grant', 'Invalid JWT Signature.');
    if (req.fault?.kind === 'revokedToken') return oauthError(400, 'invalid_grant', 'Invalid grant: account not found');
    const now = Date.now() / 1000;
    const iat = Number(claims.iat);
    const exp = Number(claims.exp);
    if (!(exp > now - 30) || !(iat < now + 30) || exp - iat > 3600) {
      return oauthError(400, 'invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.');
    }
    if (typeof claims.aud !== 'string' || ![tokenUrl, ...GOOGLE_AUDIENCES].includes(claims.aud)) return oauthError(400, 'invalid_grant', 'Invalid JWT audience.');
    if (typeof claims.scope !== 'string' || !claims.scope) return oauthError(400, 'invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    return issue(undefined);
  }

  function clientOf(form: Record<string, string>, req: FakeRequest): OAuthClient | undefined {
    let clientId = form.client_id;
    let clientSecret = form.client_secret;
    const basic = /^Basic\s+(.+)$/i.exec(String(req.headers.authorization ?? ''));
    if (basic?.[1]) [clientId, clientSecret] = Buffer.from(basic[1], 'base64').toString('utf8').split(':');
    const client = settings.clients.find((c) => c.clientId === clientId);
    return client && client.clientSecret === clientSecret ? client : undefined;
  }

  /**
   * Google's authorization endpoint as a browser sees it once the person has signed in and
   * pressed Allow (or Cancel): a 302 to the redirect_uri with `code` and `state`, or with
   * `error=access_denied`. Requests Google would answer with an error page get a 400 here.
   */
  function authorize(req: FakeRequest): FakeResponse {
    const q = req.query;
    const page = (status: number, error: string) => ({ status, headers: { 'content-type': 'text/html; charset=utf-8' }, text: `<html><body><h1>Error ${status}: ${error}</h1></body></html>` });
    const clientId = q.get('client_id') ?? '';
    if (!settings.clients.some((c) => c.clientId === clientId)) return page(401, 'invalid_client');
    const redirectUri = q.get('redirect_uri') ?? '';
    // Installed apps may use any port of the loopback address (Google's "loopback IP address" flow).
    let redirect: URL;
    try {
      redirect = new URL(redirectUri);
    } catch {
      return page(400, 'redirect_uri_mismatch');
    }
    if (redirect.protocol !== 'http:' || !['127.0.0.1', '[::1]', 'localhost'].includes(redirect.hostname)) return page(400, 'redirect_uri_mismatch');
    if (q.get('response_type') !== 'code') return page(400, 'unsupported_response_type');
    const scope = q.get('scope') ?? '';
    if (!scope.trim()) return page(400, 'invalid_request (Missing required parameter: scope)');
    const method = q.get('code_challenge_method') ?? undefined;
    const challenge = q.get('code_challenge') ?? undefined;
    if (challenge !== undefined && method !== undefined && method !== 'S256' && method !== 'plain') return page(400, 'invalid_request (Invalid code_challenge_method)');
    const state = q.get('state');
    const back = new URL(redirect);
    if (settings.consent === 'deny') {
      back.searchParams.set('error', 'access_denied');
    } else {
      const code = `4/0Sandbox-${randomBytes(18).toString('base64url')}`;
      grants.push({ code, clientId, redirectUri, scope, codeChallenge: challenge, codeChallengeMethod: challenge === undefined ? undefined : (method ?? 'plain'), used: false });
      back.searchParams.set('code', code);
      back.searchParams.set('scope', scope);
    }
    if (state !== null) back.searchParams.set('state', state);
    return { status: 302, headers: { location: back.toString(), 'content-type': 'text/html; charset=utf-8' }, text: '' };
  }

  function authorizationCodeGrant(form: Record<string, string>, req: FakeRequest): FakeResponse {
    const client = clientOf(form, req);
    if (!client) return oauthError(401, 'invalid_client', 'The OAuth client was not found.');
    const grant = grants.find((g) => g.code === form.code);
    if (!form.code) return oauthError(400, 'invalid_request', 'Missing required parameter: code');
    if (!grant || grant.used || grant.clientId !== client.clientId) return oauthError(400, 'invalid_grant', 'Malformed auth code.');
    if (form.redirect_uri !== grant.redirectUri) return oauthError(400, 'redirect_uri_mismatch', 'Bad Request');
    if (grant.codeChallenge !== undefined) {
      const verifier = form.code_verifier;
      if (!verifier) return oauthError(400, 'invalid_grant', 'Missing code verifier.');
      const derived = grant.codeChallengeMethod === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
      if (derived !== grant.codeChallenge) return oauthError(400, 'invalid_grant', 'Invalid code verifier.');
    }
    grant.used = true;
    const refreshToken = `1//0sandbox-${randomBytes(24).toString('base64url')}`;
    // The new refresh token is good for refresh grants from now on, as Google's is.
    settings.clients.push({ clientId: client.clientId, clientSecret: client.clientSecret, refreshToken });
    const answer = issue(grant.scope);
    const body = { ...(answer.body as Record<string, unknown>), refresh_token: refreshToken } as Record<string, unknown>;
    if (settings.refreshTokenExpiresInSec !== undefined) body.refresh_token_expires_in = settings.refreshTokenExpiresInSec;
    return json(200, body);
  }

  const api: FakeApi = {
    name: 'google-token',
    isPublic: () => true,
    credential: () => undefined,
    error(kind) {
      if (kind === 'rateLimited') return oauthError(429, 'rate_limit_exceeded', 'Rate limit exceeded.');
      if (kind === 'unavailable') return oauthError(503, 'temporarily_unavailable', 'The service is temporarily unavailable.');
      return oauthError(500, 'internal_failure', 'Backend Error');
    },
    handle(req) {
      if (req.method === 'GET' && ['/o/oauth2/v2/auth', '/o/oauth2/auth'].includes(req.path)) return authorize(req);
      if (req.method !== 'POST' || !['/token', '/o/oauth2/token', '/oauth2/v4/token'].includes(req.path)) return json(404, { error: 'not_found' });
      if (typeof req.body !== 'object' || req.body === null) return oauthError(400, 'invalid_request', 'Required parameter is missing: grant_type');
      const form = req.body as Record<string, string>;
      if (form.grant_type === 'refresh_token') return refreshGrant(form, req);
      if (form.grant_type === GOOGLE_JWT_GRANT) return jwtGrant(form, req);
      if (form.grant_type === 'authorization_code') return authorizationCodeGrant(form, req);
      if (!form.grant_type) return oauthError(400, 'invalid_request', 'Required parameter is missing: grant_type');
      return oauthError(400, 'unsupported_grant_type', `Invalid grant_type: ${form.grant_type}`);
    },
  };

  const server = await startFakeServer(api, settings, credentials);
  tokenUrl = `${server.url}/token`;
  const fake = Object.assign(server, { tokenUrl, issued, authUrl: `${server.url}/o/oauth2/v2/auth`, grants });
  // Key generation costs tens of milliseconds, so only tests that use a service account pay it.
  return Object.defineProperty(fake, 'serviceAccountKey', {
    enumerable: true,
    get(): ServiceAccountKey {
      if (!saKey) {
        const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
        publicKey = pair.publicKey;
        const keyId = randomBytes(20).toString('hex');
        saKey = {
          type: 'service_account',
          project_id: 'sandbox-project',
          private_key_id: keyId,
          private_key: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
          client_email: SA_EMAIL,
          client_id: '100000000000000000001',
          auth_uri: 'https://accounts.google.com/o/oauth2/auth',
          token_uri: tokenUrl,
          auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
          client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(SA_EMAIL)}`,
          universe_domain: 'googleapis.com',
        };
      }
      return saKey;
    },
  }) as GoogleTokenFake;
}
