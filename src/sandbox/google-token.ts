import { generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import { CredentialStore, json, startFakeServer, type FakeApi, type FakeRequest, type FakeResponse, type FakeServer } from './server.ts';

/**
 * Google's OAuth 2.0 token endpoint: refresh-token grants (installed apps, web apps) and
 * JWT-bearer grants (service accounts). The access tokens it issues go into a CredentialStore
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
}

export const SANDBOX_OAUTH_CLIENT: OAuthClient = {
  clientId: 'sandbox-client.apps.googleusercontent.com',
  clientSecret: 'GOCSPX-sandbox-secret',
  refreshToken: '1//sandbox-refresh-token',
};

export interface GoogleTokenOptions {
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
  };
  const issued: string[] = [];
  let publicKey: KeyObject | undefined;
  let saKey: ServiceAccountKey | undefined;
  let tokenUrl = '';

  function issue(scope: string | undefined): FakeResponse {
    const token = `sandbox.access-${issued.length + 1}-${randomBytes(12).toString('base64url')}`;
    issued.push(token);
    credentials.add(token, settings.expiresInSec);
    const body: Record<string, unknown> = { access_token: token, expires_in: settings.expiresInSec, token_type: 'Bearer' };
    if (scope) body.scope = scope;
    return json(200, body);
  }

  function refreshGrant(form: Record<string, string>, req: FakeRequest): FakeResponse {
    let clientId = form.client_id;
    let clientSecret = form.client_secret;
    const basic = /^Basic\s+(.+)$/i.exec(String(req.headers.authorization ?? ''));
    if (basic?.[1]) {
      const [id, secret] = Buffer.from(basic[1], 'base64').toString('utf8').split(':');
      clientId = id;
      clientSecret = secret;
    }
    const client = settings.clients.find((c) => c.clientId === clientId);
    if (!client || client.clientSecret !== clientSecret) return oauthError(401, 'invalid_client', 'The OAuth client was not found.');
    const refresh = form.refresh_token;
    if (!refresh) return oauthError(400, 'invalid_request', "Missing required parameter: refresh_token");
    if (req.fault?.kind === 'revokedToken' || settings.revokedRefreshTokens.includes(refresh)) {
      return oauthError(400, 'invalid_grant', 'Token has been expired or revoked.');
    }
    if (!settings.clients.some((c) => c.clientId === clientId && c.refreshToken === refresh)) return oauthError(400, 'invalid_grant', 'Bad Request');
    return issue(form.scope);
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
      if (req.method !== 'POST' || !['/token', '/o/oauth2/token', '/oauth2/v4/token'].includes(req.path)) return json(404, { error: 'not_found' });
      if (typeof req.body !== 'object' || req.body === null) return oauthError(400, 'invalid_request', 'Required parameter is missing: grant_type');
      const form = req.body as Record<string, string>;
      if (form.grant_type === 'refresh_token') return refreshGrant(form, req);
      if (form.grant_type === GOOGLE_JWT_GRANT) return jwtGrant(form, req);
      if (!form.grant_type) return oauthError(400, 'invalid_request', 'Required parameter is missing: grant_type');
      return oauthError(400, 'unsupported_grant_type', `Invalid grant_type: ${form.grant_type}`);
    },
  };

  const server = await startFakeServer(api, settings, credentials);
  tokenUrl = `${server.url}/token`;
  const fake = Object.assign(server, { tokenUrl, issued });
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
