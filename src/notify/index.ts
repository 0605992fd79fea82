/**
 * Notification channels: render a message (alert, digest) for Slack or email and send it,
 * with retries and rate limits. A leaf: it knows nothing of rules, KPIs or the warehouse;
 * src/alerts decides what to send and when.
 */
export type { AlertInstance, AlertNotification, ChangeTone, Channel, Digest, DigestGoal, DigestKpi, DigestOkr, Severity } from './types.ts';
export { changeTone, formatValue, formatChange, formatPoints, formatTime, type Significance } from './format.ts';
export { renderSlackMessage, renderDigestSlack, type SlackMessage, type SlackBlock } from './slack-render.ts';
export { renderEmail, renderDigestEmail, type RenderedEmail, type InlineImage } from './email-render.ts';
export { sparklinePng, type SparklineOptions } from './sparkline.ts';
export { SlackWebhookChannel, SlackBotChannel, type SlackWebhookOptions, type SlackBotOptions } from './slack.ts';
export { EmailChannel, type EmailChannelOptions } from './email.ts';
export type { DeliveryOptions } from './delivery.ts';
export { channelConfigSchema, createChannel, type ChannelConfig, type ChannelConfigInput, type CreateChannelOptions } from './channels.ts';
