import { ConfigError, isConfigError } from '../core/errors.ts';
import { createHttpClient, HttpConfigError, HttpTransientError, type HttpClient, type HttpResponse } from '../core/http/index.ts';
import type { Logger } from '../core/log.ts';
import { parseRetryAfter, systemClock } from '../core/resilience/index.ts';
import { cutText, registerSecret } from '../core/secrets.ts';
import { type Attempt, type DeliveryOptions, RecentIds, deliver, notifyLogger, scrub } from './delivery.ts';
import { renderDigestEmail } from './email-render.ts';
import { type SlackMessage, renderDigestSlack, renderSlackMessage } from './slack-render.ts';
import type { AlertNotification, Channel, Digest, DigestKpi } from './types.ts';

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
/** Slack answers "ok" or a line of JSON; anything near this is not Slack. */
const MAX_REPLY_MB = 1;

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

const UNREADABLE_URL = new Set(['ERR_INVALID_URL', 'ERR_INVALID_PROTOCOL', 'ERR_BAD_OPTION_VALUE']);

/** An attempt outcome for a request that got no answer, or threw before sending. */
function noAnswer(err: unknown, where: string, timeoutMs: number): Attempt {
  const code = err instanceof HttpTransientError || err instanceof HttpConfigError ? err.code : undefined;
  if ((isConfigError(err) && !(err instanceof HttpConfigError)) || (code && UNREADABLE_URL.has(code))) {
    return { kind: 'config', error: new ConfigError([{ path: where, message: 'is not a valid URL' }]) };
  }
  if (err instanceof HttpConfigError && err.status !== undefined) {
    return { kind: 'config', error: new ConfigError([{ path: where, message: `answered HTTP ${err.status} with more than ${MAX_REPLY_MB} MB, which is not Slack; check the URL` }]) };
  }
  // The message of a network error names the host; the code is enough to act on. A name
  // that does not resolve is retried too: Slack's host is fixed, so that is a DNS failure.
  if (code === 'timeout') return { kind: 'retry', detail: `no whole answer within ${timeoutMs} ms` };
  return { kind: 'retry', detail: `no response (${code ?? 'network error'})` };
}

/**
 * The shared HTTP client as a Slack channel needs it: every status handed back to be read
 * here, no retries of its own (deliver() retries, the outbox decides beyond that), and no
 * redirects (a redirected POST would turn into a GET and lose the message).
 */
function slackClient(options: DeliveryOptions, log: Logger, extra: { credentialsInPath?: boolean; headers?: Record<string, string> }): HttpClient {
  return createHttpClient({
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxResponseMb: MAX_REPLY_MB,
    retry: { maxRetries: 0 },
    followRedirects: false,
    classify: () => 'ok',
    logger: log,
    ...extra,
  });
}

function post(http: HttpClient, url: string, body: unknown): Promise<HttpResponse<string>> {
  return http.post<string>(url, body, { responseType: 'text', headers: { 'Content-Type': 'application/json; charset=utf-8' } });
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
  readonly #http: HttpClient;

  constructor(options: SlackWebhookOptions) {
    const { url, name, ...rest } = options;
    super(name ?? 'slack', rest);
    registerSecret(url);
    this.#url = url;
    this.#http = slackClient(this.options, this.log, { credentialsInPath: true });
  }

  protected post(message: SlackMessage): Promise<void> {
    const url = this.#url;
    const where = `channels.${this.name}.url`;
    const clock = this.options.clock ?? systemClock;
    return deliver(url, `Slack webhook "${this.name}"`, this.options, async () => {
      let res: HttpResponse<string>;
      try {
        res = await post(this.#http, url, message);
      } catch (err) {
        return noAnswer(err, where, this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      }
      if (res.status >= 200 && res.status < 300) return { kind: 'ok' };
      const answer = cutText(scrub(String(res.data ?? ''), [url]).trim(), 200);
      const detail = `HTTP ${res.status}${answer ? ` ${answer}` : ''}`;
      if (res.status === 429) return { kind: 'retry', detail, retryAfterMs: parseRetryAfter(res.headers['retry-after'], clock.now()) ?? 1000 };
      if (res.status >= 500 || res.status === 408) return { kind: 'retry', detail };
      const hint = WEBHOOK_HINTS[answer];
      return { kind: 'config', error: new ConfigError([{ path: where, message: `Slack rejected the message: ${detail}${hint ? ` (${hint})` : ''}` }]) };
    });
  }
}

/** Slack's file API shares files only with a conversation named by its ID (C…, G… or D…), not by #name. */
const CHANNEL_ID = /^[CGD][A-Z0-9]{6,}$/;
/** Images shared with one digest: Slack shows ten attachments to a message, and refuses a few more in one call. */
const MAX_FILES = 10;
/** Large enough to read in Slack's preview; the email's stay small to sit beside their number. */
const SLACK_SPARKLINE = { width: 240, height: 64 };

interface SparklineFile {
  filename: string;
  title: string;
  content: Buffer;
}

/**
 * The digest's sparklines as PNG files, the ones its email carries (same renderer, same
 * colours): the North Star first, then each KPI with data, in the order the email shows them.
 */
function sparklineFiles(d: Digest): SparklineFile[] {
  const shown = [d.northStar, ...d.kpis].filter((k): k is DigestKpi => k !== undefined && k.series.some((v) => v !== null && Number.isFinite(v)));
  const images = renderDigestEmail(d, { sparkline: SLACK_SPARKLINE }).attachments;
  return images.slice(0, MAX_FILES).map((img, i) => ({ filename: img.filename, title: `${shown[i]?.label ?? img.filename.replace(/\.png$/, '')} trend`, content: img.content }));
}

type ApiReply = Record<string, unknown> & { ok?: unknown; error?: unknown };

/**
 * Posts with a bot token through chat.postMessage, at most one message per second per Slack
 * channel. A digest to a channel given by ID carries its sparklines as PNG files: uploaded
 * with files.getUploadURLExternal and a POST of the bytes, then shared in one
 * files.completeUploadExternal call whose message is the digest's blocks.
 */
export class SlackBotChannel extends SlackChannel {
  readonly #token: string;
  readonly #http: HttpClient;
  /** For upload URLs: Slack's own pre-signed address on another host, which gets no token. */
  readonly #upload: HttpClient;
  private readonly channel: string;
  private readonly api: string;
  private warnedName = false;

  constructor(options: SlackBotOptions) {
    const { token, channel, name, baseUrl, ...rest } = options;
    super(name ?? 'slack_bot', rest);
    registerSecret(token);
    this.#token = token;
    this.#http = slackClient(this.options, this.log, { headers: { Authorization: `Bearer ${token}` } });
    this.#upload = slackClient(this.options, this.log, { credentialsInPath: true });
    this.channel = channel;
    this.api = (baseUrl ?? 'https://slack.com/api').replace(/\/+$/, '');
  }

  override async sendDigest(digest: Digest): Promise<void> {
    const files = CHANNEL_ID.test(this.channel) ? sparklineFiles(digest) : [];
    if (files.length === 0) {
      if (!CHANNEL_ID.test(this.channel) && !this.warnedName) {
        this.warnedName = true;
        this.log.warn({ channel: this.name }, `digest sent without sparkline images: Slack shares files only with a channel given by its ID (C0123…), not ${this.channel}`);
      }
      return super.sendDigest(digest);
    }
    const message = renderDigestSlack(digest);
    const clock = this.options.clock ?? systemClock;
    await deliver(this.destination(), this.what(), this.options, async () => {
      const uploaded: Array<{ id: string; title: string }> = [];
      for (const file of files) {
        const got = await this.call('files.getUploadURLExternal', new URLSearchParams({ filename: file.filename, length: String(file.content.length), alt_txt: file.title }));
        if (got.kind !== 'reply') return got;
        const uploadUrl = typeof got.reply.upload_url === 'string' ? got.reply.upload_url : '';
        const id = typeof got.reply.file_id === 'string' ? got.reply.file_id : '';
        if (!/^https?:\/\//.test(uploadUrl) || !id) return this.notSlack('files.getUploadURLExternal', 'ok without an http(s) upload_url and a file_id');
        const sent = await this.uploadBytes(uploadUrl, file, clock.now());
        if (sent) return sent;
        uploaded.push({ id, title: file.title });
      }
      // blocks (never initial_comment, which would make Slack drop them) is the digest itself.
      const done = await this.call('files.completeUploadExternal', new URLSearchParams({ files: JSON.stringify(uploaded), channel_id: this.channel, blocks: JSON.stringify(message.blocks) }));
      return done.kind === 'reply' ? { kind: 'ok' } : done;
    });
    this.log.info({ channel: this.name, images: files.length }, 'digest sent to Slack with its sparklines');
  }

  protected post(message: SlackMessage): Promise<void> {
    const body = { channel: this.channel, unfurl_links: false, unfurl_media: false, ...message };
    return deliver(this.destination(), this.what(), this.options, async () => {
      const reply = await this.call('chat.postMessage', body);
      return reply.kind === 'reply' ? { kind: 'ok' } : reply;
    });
  }

  private destination(): string {
    return `${this.api}/chat.postMessage#${this.channel}`;
  }

  private what(): string {
    return `Slack channel ${this.channel} ("${this.name}")`;
  }

  private notSlack(method: string, detail: string): Attempt {
    return { kind: 'config', error: new ConfigError([{ path: `channels.${this.name}.baseUrl`, message: `${method} answered ${detail}; check baseUrl` }]) };
  }

  /** One Web API call: its reply when ok, otherwise what the attempt comes to. */
  private async call(method: string, body: unknown): Promise<{ kind: 'reply'; reply: ApiReply } | Attempt> {
    const token = this.#token;
    const path = `channels.${this.name}`;
    const clock = this.options.clock ?? systemClock;
    let res: HttpResponse<string>;
    try {
      res =
        body instanceof URLSearchParams
          ? await this.#http.post<string>(`${this.api}/${method}`, body, { responseType: 'text' })
          : await post(this.#http, `${this.api}/${method}`, body);
    } catch (err) {
      return noAnswer(err, `${path}.baseUrl`, this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    }
    const retryAfterMs = parseRetryAfter(res.headers['retry-after'], clock.now());
    if (res.status === 429) return { kind: 'retry', detail: `${method}: HTTP 429 ratelimited`, retryAfterMs: retryAfterMs ?? 1000 };
    if (res.status >= 500 || res.status === 408) return { kind: 'retry', detail: `${method}: HTTP ${res.status}` };
    let reply: ApiReply | undefined;
    try {
      reply = JSON.parse(String(res.data)) as ApiReply;
    } catch {
      reply = undefined;
    }
    if (res.status >= 300 || !reply || typeof reply !== 'object') return this.notSlack(method, `HTTP ${res.status} without a Slack API reply`);
    if (reply.ok === true) return { kind: 'reply', reply };
    const code = cutText(scrub(typeof reply.error === 'string' ? reply.error : 'unknown_error', [token]), 100);
    if (code === 'ratelimited' || code === 'rate_limited') return { kind: 'retry', detail: `${method}: ${code}`, retryAfterMs: retryAfterMs ?? 1000 };
    if (BOT_TRANSIENT_ERRORS.has(code)) return { kind: 'retry', detail: `${method}: ${code}` };
    const scope = method.startsWith('files.') ? 'files:write scope (for the digest’s sparkline images)' : 'chat:write scope';
    if (BOT_AUTH_ERRORS.has(code)) {
      return { kind: 'config', error: new ConfigError([{ path: `${path}.token`, message: `Slack refused the bot token: ${code} (check the token and its ${scope})` }]) };
    }
    if (BOT_CHANNEL_ERRORS.has(code)) {
      return {
        kind: 'config',
        error: new ConfigError([{ path: `${path}.channel`, message: `Slack cannot post to ${this.channel}: ${code} (check the channel id and invite the bot to it)` }]),
      };
    }
    const what = method === 'chat.postMessage' ? 'the message' : `${method}`;
    return { kind: 'config', error: new ConfigError([{ path, message: `Slack rejected ${what}: ${code}` }]) };
  }

  /** The file's bytes to its upload URL, as they are; undefined when Slack took them (HTTP 200). */
  private async uploadBytes(url: string, file: SparklineFile, now: number): Promise<Attempt | undefined> {
    let res: HttpResponse<string>;
    try {
      res = await this.#upload.post<string>(url, new Uint8Array(file.content), { responseType: 'text' });
    } catch (err) {
      const outcome = noAnswer(err, `channels.${this.name}.baseUrl`, this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      return outcome.kind === 'retry' ? { kind: 'retry', detail: `uploading ${file.filename}: ${outcome.detail}` } : outcome;
    }
    if (res.status === 200) return undefined;
    const detail = `uploading ${file.filename}: HTTP ${res.status}`;
    if (res.status === 429) return { kind: 'retry', detail, retryAfterMs: parseRetryAfter(res.headers['retry-after'], now) ?? 1000 };
    if (res.status >= 500 || res.status === 408) return { kind: 'retry', detail };
    return { kind: 'config', error: new ConfigError([{ path: `channels.${this.name}`, message: `Slack refused the sparkline image: ${detail} (the upload URL came from files.getUploadURLExternal)` }]) };
  }
}
