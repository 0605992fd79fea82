import { z } from 'zod';
import { httpUrl } from './config.ts';

/** Google credentials: an OAuth2 refresh token, or a service account key (JSON text from a secret). */
export const googleAuthSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('oauth'),
    clientId: z.string().min(1),
    clientSecret: z.string().min(1),
    refreshToken: z.string().min(1),
    tokenUrl: httpUrl.optional(),
  }),
  z.strictObject({
    type: z.literal('service_account'),
    /** The key file's JSON, usually `${env:GOOGLE_SERVICE_ACCOUNT_JSON}`. */
    keyJson: z.string().min(1),
    tokenUrl: httpUrl.optional(),
  }),
]);

export type GoogleAuthConfig = z.infer<typeof googleAuthSchema>;
