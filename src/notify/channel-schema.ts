import { z } from 'zod';
import { httpUrl } from '../core/schema.ts';

/**
 * Channel settings as the config file gives them. Apart from the channels themselves so that
 * loading a config (every command does) does not load nodemailer and the Slack client.
 */


// Shared tuning knobs; the defaults suit Slack and ordinary SMTP servers.
const delivery = {
  name: z.string().min(1).optional().describe('the name logs and errors use; the key under `channels` when left out'),
  maxRetries: z.number().int().min(0).max(10).optional().describe('quick retries within one delivery (1 s, doubling); default 4'),
  timeoutMs: z.number().int().positive().optional().describe('milliseconds to wait for an answer; default 10000 for Slack, 30000 for SMTP (the whole send gets three times this)'),
};

const minIntervalMs = z.number().int().min(0).optional().describe("least time between two posts, in milliseconds; default 1000 (Slack's one message a second)");

const slackWebhook = z.strictObject({
  type: z.literal('slack'),
  ...delivery,
  url: httpUrl.describe('the incoming webhook URL (a secret, e.g. `${env:SLACK_WEBHOOK_URL}`)'),
  minIntervalMs,
});

const slackBot = z.strictObject({
  type: z.literal('slack_bot'),
  ...delivery,
  token: z.string().min(1).describe('the bot token, `xoxb-…` (a secret, e.g. `${env:SLACK_BOT_TOKEN}`)'),
  channel: z.string().min(1).describe('channel id (`C0123…`) or name (`#alerts`) the bot posts to'),
  baseUrl: httpUrl.optional().describe("overrides Slack's API URL (sandbox, tests)"),
  minIntervalMs,
});

const address = z.string().includes('@', { message: 'expected an email address' });

const email = z
  .strictObject({
    type: z.literal('email'),
    ...delivery,
    host: z.string().min(1).describe('SMTP server'),
    port: z.coerce.number().int().min(1).max(65535).default(587).describe('SMTP port'),
    secure: z.boolean().optional().describe('implicit TLS; default true on port 465, else STARTTLS is used when the server offers it'),
    user: z.string().min(1).optional().describe('SMTP login'),
    pass: z.string().optional().describe('SMTP password, required with user (a secret, e.g. `${env:SMTP_PASSWORD}`)'),
    from: address.describe('sender, e.g. `KPI alerts <alerts@example.com>`'),
    to: z.array(address).min(1).describe('recipients'),
  })
  .refine((c) => !c.user || c.pass !== undefined, { path: ['pass'], message: 'is required when user is set' });

export const channelConfigSchema = z.discriminatedUnion('type', [slackWebhook, slackBot, email]).describe('a Slack webhook (`slack`), a Slack bot (`slack_bot`) or SMTP (`email`)');

export type ChannelConfig = z.output<typeof channelConfigSchema>;
export type ChannelConfigInput = z.input<typeof channelConfigSchema>;
