import axios, { type AxiosResponse } from 'axios';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { registerSecret } from '../secrets.ts';
import { type Attempt, type DeliveryOptions, RecentIds, deliver, notifyLogger, parseRetryAfter, realClock, scrub } from './delivery.ts';
import { type SlackMessage, renderDigestSlack, renderSlackMessage } from './slack-render.ts';
import type { AlertNotification, Channel, Digest } from './types.ts';

export interface SlackWebhookOptions extends DeliveryOptions {
  /** A secret: whoever has it can post to the channel. */
  url: string;
  name?: string;
}

export interface SlackBotOptions extends DeliveryOptions {
  token: string;
  /** Channel id (C0123…) or name (#alerts). */
  channel: string;
  name?: string;
  /** Default https://slack.com/api; tests and proxies override it. */
  baseUrl?: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;

// What Slack's answers mean for the person who has to fix the config.
const WEBHOOK_HINTS: Record<string, string> = {
  invalid_payload: 'Slack could not read the message; this is a bug in kpi-pipeline, please report it',
  invalid_blocks: 'Slack refused the message layout; this is a bug in kpi-pipeline, please report it',
  invalid_attachments: 'Slack refused the message layout; this is a bug in kpi-pipeline, please report it',
  no_text: 'Slack refused an empty message; this is a bug in kpi-pipeline, please report it',
  invalid_token: 'the webhook was revoked; create a new incoming webhook and update the url',
  action_prohibited: 'the workspace admin has restricted this webhook',
  no_service: 'the webhook URL is wrong or the webhook was removed; create a new incoming webhook and update the url',
  no_team: 'the webhook URL is wrong or the workspace is gone',
  team_disabled: 'the Slack workspace is disabled',
  channel_not_found: 'the channel this webhook posts to no longer exists',
  channel_is_archived: 'the channel this webhook posts to is archived',
};

const BOT_AUTH_ERRORS = new Set(['invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'token_expired', 'no_permission', 'missing_scope', 'not_allowed_token_type', 'ekm_access_denied']);
const BOT_CHANNEL_ERRORS = new Set(['channel_not_found', 'not_in_channel', 'is_archived', 'restricted_action', 'restricted_action_read_only_channel', 'restricted_action_thread_only_channel', 'restricted_action_non_threadable_channel', 'cannot_reply_to_message']);
const BOT_TRANSIENT_ERRORS = new Set(['internal_error', 'fatal_error', 'service_unavailable', 'request_timeout', 'team_added_to_org']);

/** An attempt outcome for a request that got no response, or threw before sending. */
function networkAttempt(err: unknown, where: string): Attempt {
  const code = (err as { code?: unknown }).code;
  if (code === 'ERR_INVALID_URL' || code === 'ERR_BAD_OPTION_VALUE') {
    return { kind: 'config', error: new ConfigError([{ path: where, message: 'is not a valid URL' }]) };
  }
  // The message of a network error can carry the URL; the code is enough to act on.
  return { kind: 'retry', detail: `no response (${typeof code === 'string' ? code : 'network error'})` };
}

async function post(url: string, body: unknown, timeoutMs: number, headers: Record<string, string> = {}): Promise<AxiosResponse<string>> {
  return axios.post<string>(url, body, {
    timeout: timeoutMs,
    headers: { 'Content-Type': 'application/json; charset=utf-8', ...headers },
    responseType: 'text',
    transformResponse: (data: unknown) => data,
    validateStatus: () => true,
    maxRedirects: 0,
  });
}

abstract class SlackChannel implements Channel {
  readonly kind = 'slack' as const;
  readonly name: string;
  protected readonly options: DeliveryOptions;
  protected readonly log: Logger;
  private readonly delivered = new RecentIds();

  constructor(name: string, options: DeliveryOptions) {
    this.name = name;
    this.log = notifyLogger(options.logger);
    this.options = { ...options, logger: this.log };
  }

  async send(message: AlertNotification): Promise<void> {
    if (this.delivered.has(message.id)) {
      this.log.info({ channel: this.name, notification: message.id }, 'notification already delivered; skipped');
      return;
    }
    await this.post(renderSlackMessage(message));
    this.delivered.add(message.id);
    this.log.info({ channel: this.name, notification: message.id, rule: message.ruleName, status: message.status }, 'alert sent to Slack');
  }

  async sendDigest(digest: Digest): Promise<void> {
    await this.post(renderDigestSlack(digest));
    this.log.info({ channel: this.name }, 'digest sent to Slack');
  }

  protected abstract post(message: SlackMessage): Promise<void>;
}

/** Posts to a Slack incoming webhook, at most one message per second per webhook URL in this process. */
export class SlackWebhookChannel extends SlackChannel {
  readonly #url: string;

  constructor(options: SlackWebhookOptions) {
    const { url, name, ...rest } = options;
    super(name ?? 'slack', rest);
    registerSecret(url);
    this.#url = url;
  }

  protected post(message: SlackMessage): Promise<void> {
    const url = this.#url;
    const where = `channels.${this.name}.url`;
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const clock = this.options.clock ?? realClock;
    return deliver(url, `Slack webhook "${this.name}"`, this.options, async () => {
      let res: AxiosResponse<string>;
      try {
        res = await post(url, message, timeoutMs);
      } catch (err) {
        return networkAttempt(err, where);
      }
      if (res.status >= 200 && res.status < 300) return { kind: 'ok' };
      const answer = scrub(String(res.data ?? '').trim().slice(0, 200), [url]);
      const detail = `HTTP ${res.status}${answer ? ` ${answer}` : ''}`;
      if (res.status === 429) return { kind: 'retry', detail, retryAfterMs: parseRetryAfter(res.headers['retry-after'], clock.now()) ?? 1000 };
      if (res.status >= 500 || res.status === 408) return { kind: 'retry', detail };
      const hint = WEBHOOK_HINTS[answer];
      return { kind: 'config', error: new ConfigError([{ path: where, message: `Slack rejected the message: ${detail}${hint ? ` (${hint})` : ''}` }]) };
    });
  }
}

/** Posts with a bot token through chat.postMessage, at most one message per second per Slack channel. */
export class SlackBotChannel extends SlackChannel {
  readonly #token: string;
  private readonly channel: string;
  private readonly endpoint: string;

  constructor(options: SlackBotOptions) {
    const { token, channel, name, baseUrl, ...rest } = options;
    super(name ?? 'slack_bot', rest);
    registerSecret(token);
    this.#token = token;
    this.channel = channel;
    this.endpoint = `${(baseUrl ?? 'https://slack.com/api').replace(/\/+$/, '')}/chat.postMessage`;
  }

  protected post(message: SlackMessage): Promise<void> {
    const token = this.#token;
    const path = `channels.${this.name}`;
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const clock = this.options.clock ?? realClock;
    const body = { channel: this.channel, unfurl_links: false, unfurl_media: false, ...message };
    return deliver(`${this.endpoint}#${this.channel}`, `Slack channel ${this.channel} ("${this.name}")`, this.options, async () => {
      let res: AxiosResponse<string>;
      try {
        res = await post(this.endpoint, body, timeoutMs, { Authorization: `Bearer ${token}` });
      } catch (err) {
        return networkAttempt(err, `${path}.baseUrl`);
      }
      const retryAfterMs = parseRetryAfter(res.headers['retry-after'], clock.now());
      if (res.status === 429) return { kind: 'retry', detail: 'HTTP 429 ratelimited', retryAfterMs: retryAfterMs ?? 1000 };
      if (res.status >= 500 || res.status === 408) return { kind: 'retry', detail: `HTTP ${res.status}` };
      let reply: { ok?: unknown; error?: unknown } | undefined;
      try {
        reply = JSON.parse(String(res.data)) as typeof reply;
      } catch {
        reply = undefined;
      }
      if (res.status >= 300 || !reply || typeof reply !== 'object') {
        const message = `chat.postMessage answered HTTP ${res.status} without a Slack API reply; check baseUrl`;
        return { kind: 'config', error: new ConfigError([{ path: `${path}.baseUrl`, message }]) };
      }
      if (reply.ok === true) return { kind: 'ok' };
      const code = scrub(typeof reply.error === 'string' ? reply.error : 'unknown_error', [token]).slice(0, 100);
      if (code === 'ratelimited' || code === 'rate_limited') return { kind: 'retry', detail: code, retryAfterMs: retryAfterMs ?? 1000 };
      if (BOT_TRANSIENT_ERRORS.has(code)) return { kind: 'retry', detail: code };
      if (BOT_AUTH_ERRORS.has(code)) {
        return { kind: 'config', error: new ConfigError([{ path: `${path}.token`, message: `Slack refused the bot token: ${code} (check the token and its chat:write scope)` }]) };
      }
      if (BOT_CHANNEL_ERRORS.has(code)) {
        return {
          kind: 'config',
          error: new ConfigError([{ path: `${path}.channel`, message: `Slack cannot post to ${this.channel}: ${code} (check the channel id and invite the bot to it)` }]),
        };
      }
      return { kind: 'config', error: new ConfigError([{ path, message: `Slack rejected the message: ${code}` }]) };
    });
  }
}
