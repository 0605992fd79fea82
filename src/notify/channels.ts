import { ConfigError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { channelConfigSchema, type ChannelConfigInput } from './channel-schema.ts';
import type { WaitingClock } from '../core/resilience/index.ts';
import { EmailChannel } from './email.ts';
import { SlackBotChannel, SlackWebhookChannel } from './slack.ts';
import type { Channel } from './types.ts';

export { channelConfigSchema, type ChannelConfig, type ChannelConfigInput } from './channel-schema.ts';

export interface CreateChannelOptions {
  /** Defaults to config.name, then the type; used in logs and in errors' "channels.<name>" path. */
  name?: string;
  logger?: Logger;
  clock?: WaitingClock;
  /** See DeliveryOptions.budgetMs. */
  budgetMs?: number;
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
  const common = { name: label, logger: options.logger, clock: options.clock, budgetMs: options.budgetMs, maxRetries: c.maxRetries, timeoutMs: c.timeoutMs };
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
