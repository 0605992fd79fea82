import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Clock } from './delivery.ts';
import { EmailChannel } from './email.ts';
import { SlackBotChannel, SlackWebhookChannel } from './slack.ts';
import type { Channel } from './types.ts';

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

export interface CreateChannelOptions {
  /** Defaults to config.name, then the type; used in logs and in errors' "channels.<name>" path. */
  name?: string;
  logger?: Logger;
  clock?: Clock;
}

/** Builds a channel from config, validating it first; throws ConfigError naming the field. */
export function createChannel(config: ChannelConfigInput, options: CreateChannelOptions = {}): Channel {
  const parsed = channelConfigSchema.safeParse(config);
  const name = options.name ?? (config as { name?: unknown }).name;
  const label = typeof name === 'string' && name ? name : String((config as { type?: unknown }).type ?? 'channel');
  if (!parsed.success) {
    // zod messages do not echo input values, so secrets in the config stay out of the error.
    throw new ConfigError(parsed.error.issues.map((i) => ({ path: ['channels', label, ...i.path.map(String)].join('.'), message: i.message })));
  }
  const c = parsed.data;
  const common = { name: label, logger: options.logger, clock: options.clock, maxRetries: c.maxRetries, timeoutMs: c.timeoutMs };
  switch (c.type) {
    case 'slack':
      return new SlackWebhookChannel({ ...common, url: c.url, minIntervalMs: c.minIntervalMs });
    case 'slack_bot':
      return new SlackBotChannel({ ...common, token: c.token, channel: c.channel, baseUrl: c.baseUrl, minIntervalMs: c.minIntervalMs });
    case 'email':
      return new EmailChannel({
        name: label,
        logger: options.logger,
        timeoutMs: c.timeoutMs,
        host: c.host,
        port: c.port,
        secure: c.secure ?? c.port === 465,
        user: c.user,
        pass: c.pass,
        from: c.from,
        to: c.to,
      });
  }
}
