import { z } from 'zod';
import { httpUrl } from '../../core/schema.ts';

const tokenUrl = httpUrl.optional().describe("overrides Google's token endpoint (sandbox, tests)");

/** Google credentials: an OAuth2 refresh token, or a service account key (JSON text from a secret). */
export const googleAuthSchema = z
  .discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('oauth'),
      clientId: z.string().min(1).describe('OAuth client id'),
      clientSecret: z.string().min(1).describe('OAuth client secret, e.g. `${env:GOOGLE_CLIENT_SECRET}`'),
      refreshToken: z.string().min(1).describe('a refresh token granted for the API'),
      tokenUrl,
    }),
    z.strictObject({
      type: z.literal('service_account'),
      keyJson: z.string().min(1).describe("the service account key file's JSON, usually `${env:GOOGLE_SERVICE_ACCOUNT_JSON}`"),
      tokenUrl,
    }),
  ])
  .describe('Google credentials: `oauth` (a refresh token) or `service_account` (a key)');

export type GoogleAuthConfig = z.infer<typeof googleAuthSchema>;
