import nodemailer, { type NodemailerError, type Transporter } from 'nodemailer';
import { ConfigError, TransientError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { cutText, registerSecret } from '../core/secrets.ts';
import { RecentIds, notifyLogger, scrub } from './delivery.ts';
import { type RenderedEmail, renderDigestEmail, renderEmail } from './email-render.ts';
import type { AlertNotification, Channel, Digest } from './types.ts';

export interface EmailChannelOptions {
  name?: string;
  host: string;
  port: number;
  /** TLS from the first byte (port 465); otherwise STARTTLS when the server offers it. */
  secure: boolean;
  user?: string;
  pass?: string;
  from: string;
  to: string[];
  timeoutMs?: number;
  logger?: Logger;
}

/**
 * The whole send (connection, conversation, upload) gets three times timeoutMs: nodemailer's
 * timeouts only notice a silent socket, so a server answering a line at a time held the
 * delivery, and the alert loop waiting on it, for ever.
 */
const WHOLE_SEND_TIMEOUTS = 3;

// Failures no retry can fix: wrong credentials or settings, found before any SMTP reply.
const SETUP_CODES = new Set(['EAUTH', 'ENOAUTH', 'ECONFIG', 'EREQUIRETLS']);

/** Sends alerts and digests over SMTP. */
export class EmailChannel implements Channel {
  readonly kind = 'email' as const;
  readonly name: string;
  private readonly transport: Transporter;
  private readonly from: string;
  private readonly to: string[];
  private readonly where: string;
  private readonly secrets: string[];
  private readonly log: Logger;
  private readonly delivered = new RecentIds();
  private readonly sendTimeoutMs: number;

  constructor(options: EmailChannelOptions) {
    this.name = options.name ?? 'email';
    this.from = options.from;
    this.to = options.to;
    this.where = `channels.${this.name}`;
    this.log = notifyLogger(options.logger);
    if (options.pass) registerSecret(options.pass);
    this.secrets = options.pass ? [options.pass] : [];
    const timeout = options.timeoutMs ?? 30_000;
    this.sendTimeoutMs = WHOLE_SEND_TIMEOUTS * timeout;
    this.transport = nodemailer.createTransport({
      host: options.host,
      port: options.port,
      secure: options.secure,
      auth: options.user ? { user: options.user, pass: options.pass ?? '' } : undefined,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
    });
  }

  async send(message: AlertNotification): Promise<void> {
    if (this.delivered.has(message.id)) {
      this.log.info({ channel: this.name, notification: message.id }, 'notification already delivered; skipped');
      return;
    }
    // The same Message-ID on every attempt lets mail systems drop a duplicate of a retried send.
    const messageId = `<alert-${message.id.replace(/[^\w.-]/g, '_')}@kpi-pipeline>`;
    await this.deliver(renderEmail(message), { messageId, headers: { 'X-KPI-Alert-Id': message.id } });
    this.delivered.add(message.id);
    this.log.info({ channel: this.name, notification: message.id, rule: message.ruleName, status: message.status }, 'alert sent by email');
  }

  async sendDigest(digest: Digest): Promise<void> {
    await this.deliver(renderDigestEmail(digest), {});
    this.log.info({ channel: this.name }, 'digest sent by email');
  }

  private async deliver(mail: RenderedEmail, extra: { messageId?: string; headers?: Record<string, string> }): Promise<void> {
    // Aborting closes the connection, so a server that never finishes its answer is left too.
    const deadline = AbortSignal.timeout(this.sendTimeoutMs);
    try {
      const info = await this.transport.sendMail({
        signal: deadline,
        from: this.from,
        to: this.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        attachments: mail.attachments.map((a) => ({ ...a, contentDisposition: 'inline' as const })),
        ...extra,
      });
      const rejected = (info as { rejected?: unknown[] }).rejected ?? [];
      if (rejected.length > 0) {
        this.log.warn({ channel: this.name, rejected: rejected.map(String) }, 'some recipients were refused by the SMTP server');
      }
    } catch (err) {
      if (deadline.aborted) throw new TransientError(`SMTP delivery failed: no whole answer within ${this.sendTimeoutMs} ms (${WHOLE_SEND_TIMEOUTS} times timeoutMs)`);
      throw this.classify(err);
    }
  }

  /** SMTP 5xx is a permanent refusal someone must fix; 4xx, 503 and broken connections may pass later. */
  private classify(err: unknown): Error {
    const e = (err ?? {}) as NodemailerError;
    const code = typeof e.code === 'string' ? e.code : undefined;
    const detail = cutText(scrub(e.response || (e.message ?? String(err)), this.secrets), 300);
    const rc = typeof e.responseCode === 'number' ? e.responseCode : undefined;

    if (rc !== undefined && rc >= 500 && rc < 600 && rc !== 503) {
      const what = code === 'EAUTH' ? 'refused the login (check user and pass)' : code === 'EENVELOPE' ? 'refused the sender or recipients (check from and to)' : 'refused the message';
      return new ConfigError([{ path: this.where, message: `SMTP server ${what}: ${detail}` }]);
    }
    if (rc !== undefined && rc >= 400) return new TransientError(`SMTP server deferred the message: ${detail}`);
    if (code && SETUP_CODES.has(code)) return new ConfigError([{ path: this.where, message: `SMTP setup problem (${code}): ${detail}` }]);
    // Everything else is a connection that failed or dropped (ECONNECTION, ETIMEDOUT, ESOCKET, EDNS, ...).
    return new TransientError(`SMTP delivery failed${code ? ` (${code})` : ''}: ${detail}`);
  }
}
