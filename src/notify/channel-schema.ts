import { z } from 'zod';

/**
 * Channel settings as the config file gives them. Apart from the channels themselves so that
 * loading a config (every command does) does not load nodemailer and the Slack client.
 */

const httpUrl = z.string().regex(/^https?:\/\/\S+$/i, 'expected an http(s) URL');

// Shared tuning knobs; the defaults suit Slack and ordinary SMTP servers.
const delivery = {
  name: z.string().min(1).optional(),
  maxRetries: z.number().int().min(0).max(10).optional(),
  timeoutMs: z.number().int().positive().optional(),
};

const slackWebhook = z.strictObject({
  type: z.literal('slack'),
  ...delivery,
  /** The incoming webhook URL (a secret, e.g. ${env:SLACK_WEBHOOK_URL}). */
  url: httpUrl,
  minIntervalMs: z.number().int().min(0).optional(),
});

const slackBot = z.strictObject({
  type: z.literal('slack_bot'),
  ...delivery,
  token: z.string().min(1),
  channel: z.string().min(1),
  baseUrl: httpUrl.optional(),
  minIntervalMs: z.number().int().min(0).optional(),
});

const address = z.string().includes('@', { message: 'expected an email address' });

const email = z
  .strictObject({
    type: z.literal('email'),
    ...delivery,
    host: z.string().min(1),
    port: z.coerce.number().int().min(1).max(65535).default(587),
    /** Defaults to true on port 465 (implicit TLS), else STARTTLS is used when offered. */
    secure: z.boolean().optional(),
    user: z.string().min(1).optional(),
    pass: z.string().optional(),
    from: address,
    to: z.array(address).min(1),
  })
  .refine((c) => !c.user || c.pass !== undefined, { path: ['pass'], message: 'is required when user is set' });

export const channelConfigSchema = z.discriminatedUnion('type', [slackWebhook, slackBot, email]);

export type ChannelConfig = z.output<typeof channelConfigSchema>;
export type ChannelConfigInput = z.input<typeof channelConfigSchema>;
