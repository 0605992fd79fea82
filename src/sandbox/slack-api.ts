import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { bearer, CredentialStore, json, startFakeServer, type ErrorKind, type FakeApi, type FakeRequest, type FakeResponse, type FakeServer } from './server.ts';

/**
 * Slack's Web API as a bot token sees it (https://docs.slack.dev/reference/methods):
 * chat.postMessage, and the file upload flow that replaced files.upload:
 *
 * 1. files.getUploadURLExternal (filename, length, alt_txt) answers an upload_url and a file_id;
 * 2. the file's bytes are POSTed to upload_url, a pre-signed address on another host (Slack's
 *    is files.slack.com) that needs no token and answers 200 when it has them;
 * 3. files.completeUploadExternal (files: [{ id, title }], channel_id, blocks or
 *    initial_comment) shares the files in the channel, in one message.
 *
 * Every method answers HTTP 200 with { ok: false, error } on failure, as Slack does; 429 with
 * Retry-After when rate limited. Methods take a form body (what the official SDKs send, with
 * arrays as JSON strings) or JSON, and the token as `Authorization: Bearer`.
 */

export const SLACK_BOT_TOKEN = 'sandbox-bot-token-not-a-secret';

export interface SlackFile {
  id: string;
  filename: string;
  /** The length announced to getUploadURLExternal. */
  length: number;
  altText?: string;
  title?: string;
  /** The bytes that reached the upload URL; absent until then. */
  bytes?: Buffer;
  /** The Authorization header the upload came with, if any (it needs none). */
  uploadAuthorization?: string;
  mimetype?: string;
}

/** A message as it would appear in the channel. */
export interface SlackPostedMessage {
  method: 'chat.postMessage' | 'files.completeUploadExternal';
  channel: string;
  ts: string;
  text?: string;
  blocks?: unknown[];
  /** Files shared with it (files.completeUploadExternal). */
  files: SlackFile[];
  /** Every other argument as it came. */
  args: Record<string, unknown>;
}

export interface SlackSettings {
  /** Channel IDs the bot is a member of; any other answers channel_not_found. */
  channels: string[];
}

export interface SlackApiFake extends FakeServer<SlackSettings> {
  /** Base URL of the Web API, for a bot channel's baseUrl (…/api). */
  apiUrl: string;
  messages: SlackPostedMessage[];
  files: Map<string, SlackFile>;
}

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function slackError(error: string, status = 200, headers?: Record<string, string>): FakeResponse {
  return json(status, { ok: false, error }, headers);
}

/** An argument that may arrive as a JSON string (form bodies) or as JSON already. */
function jsonArg(value: unknown): { ok: true; value: unknown } | { ok: false } {
  if (typeof value !== 'string') return { ok: true, value };
  try {
    return { ok: true, value: JSON.parse(value) };
  } catch {
    return { ok: false };
  }
}

export async function startSlackApiFake(options: { credentials?: CredentialStore; settings?: Partial<SlackSettings> } = {}): Promise<SlackApiFake> {
  const settings: SlackSettings = { channels: ['C0SANDBOX01'], ...options.settings };
  const credentials = options.credentials ?? new CredentialStore([SLACK_BOT_TOKEN]);
  const messages: SlackPostedMessage[] = [];
  const files = new Map<string, SlackFile>();
  // Upload keys: the secret part of each upload URL, to the file it is for.
  const uploads = new Map<string, string>();
  let seq = 0;
  const ts = () => `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, '0')}`;

  // The upload host: a plain server, because it takes raw bytes and no token.
  const uploadServer = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const key = /^\/upload\/v1\/([\w-]+)$/.exec(req.url ?? '')?.[1];
      const id = key ? uploads.get(key) : undefined;
      const file = id ? files.get(id) : undefined;
      if (req.method !== 'POST' || !file) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      const bytes = Buffer.concat(chunks);
      if (bytes.length !== file.length) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`length mismatch: announced ${file.length}, got ${bytes.length}`);
        return;
      }
      file.bytes = bytes;
      if (req.headers.authorization) file.uploadAuthorization = req.headers.authorization;
      file.mimetype = bytes.subarray(0, 8).equals(PNG_MAGIC) ? 'image/png' : 'application/octet-stream';
      uploads.delete(key!);
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`OK - ${bytes.length}`);
    });
  });
  await new Promise<void>((resolve) => uploadServer.listen(0, '127.0.0.1', () => resolve()));
  const uploadBase = `http://127.0.0.1:${(uploadServer.address() as AddressInfo).port}`;

  const args = (req: FakeRequest): Record<string, unknown> => (req.body !== null && typeof req.body === 'object' && !Array.isArray(req.body) ? (req.body as Record<string, unknown>) : {});
  const knownChannel = (c: unknown): c is string => typeof c === 'string' && settings.channels.includes(c);

  const api: FakeApi = {
    name: 'slack',
    credential: bearer,
    error(kind: ErrorKind, _req, fault): FakeResponse {
      switch (kind) {
        case 'rateLimited':
          return slackError('ratelimited', 429, { 'retry-after': String(fault?.retryAfterSec ?? 1) });
        case 'internal':
          return { status: 500, text: 'internal server error' };
        case 'unavailable':
          return { status: 503, text: 'service unavailable' };
        case 'missingCredentials':
          return slackError('not_authed');
        case 'invalidCredentials':
          return slackError('invalid_auth');
        case 'expiredCredentials':
          return slackError('token_expired');
        case 'revokedCredentials':
          return slackError('token_revoked');
        case 'forbidden':
          return slackError('missing_scope');
      }
    },
    handle(req) {
      const a = args(req);
      switch (req.path) {
        case '/api/chat.postMessage': {
          if (!knownChannel(a.channel)) return slackError('channel_not_found');
          const blocks = jsonArg(a.blocks);
          if (!blocks.ok || (blocks.value !== undefined && !Array.isArray(blocks.value))) return slackError('invalid_blocks');
          if (!a.text && !blocks.value) return slackError('no_text');
          const message: SlackPostedMessage = { method: 'chat.postMessage', channel: a.channel, ts: ts(), files: [], args: a };
          if (typeof a.text === 'string') message.text = a.text;
          if (blocks.value) message.blocks = blocks.value as unknown[];
          messages.push(message);
          return json(200, { ok: true, channel: a.channel, ts: message.ts, message: { type: 'message', text: message.text ?? '', ts: message.ts } });
        }
        case '/api/files.getUploadURLExternal': {
          const length = Number(a.length);
          if (typeof a.filename !== 'string' || a.filename === '' || !Number.isInteger(length) || length <= 0) return slackError('invalid_arguments');
          if (typeof a.alt_txt === 'string' && a.alt_txt.length > 1000) return slackError('alt_txt_too_large');
          const id = `F${randomBytes(5).toString('hex').toUpperCase()}`;
          const key = randomBytes(12).toString('hex');
          files.set(id, { id, filename: a.filename, length, ...(typeof a.alt_txt === 'string' ? { altText: a.alt_txt } : {}) });
          uploads.set(key, id);
          return json(200, { ok: true, upload_url: `${uploadBase}/upload/v1/${key}`, file_id: id });
        }
        case '/api/files.completeUploadExternal': {
          const list = jsonArg(a.files);
          if (!list.ok || !Array.isArray(list.value) || list.value.length === 0) return slackError('invalid_arguments');
          const shared: SlackFile[] = [];
          for (const entry of list.value as Array<{ id?: unknown; title?: unknown }>) {
            const file = typeof entry?.id === 'string' ? files.get(entry.id) : undefined;
            // A file whose bytes never arrived cannot be completed.
            if (!file?.bytes) return slackError('file_not_found');
            if (typeof entry.title === 'string') file.title = entry.title;
            shared.push(file);
          }
          if (a.channel_id !== undefined && !knownChannel(a.channel_id)) return slackError('channel_not_found');
          const blocks = jsonArg(a.blocks);
          if (!blocks.ok || (blocks.value !== undefined && !Array.isArray(blocks.value))) return slackError('invalid_blocks');
          if (a.channel_id !== undefined) {
            const message: SlackPostedMessage = { method: 'files.completeUploadExternal', channel: a.channel_id, ts: ts(), files: shared, args: a };
            // As documented: initial_comment, when given, wins and the blocks are ignored.
            if (typeof a.initial_comment === 'string') message.text = a.initial_comment;
            else if (blocks.value) message.blocks = blocks.value as unknown[];
            messages.push(message);
          }
          return json(200, {
            ok: true,
            files: shared.map((f) => ({ id: f.id, name: f.filename, title: f.title ?? f.filename, mimetype: f.mimetype, size: f.length, ...(a.channel_id ? { channels: [a.channel_id] } : {}) })),
          });
        }
        default:
          return slackError('unknown_method', 404);
      }
    },
  };

  const server = await startFakeServer(api, settings, credentials);
  return {
    ...server,
    apiUrl: `${server.url}/api`,
    messages,
    files,
    close: async () => {
      await server.close();
      await new Promise<void>((resolve) => {
        uploadServer.close(() => resolve());
        uploadServer.closeAllConnections();
      });
    },
  };
}
