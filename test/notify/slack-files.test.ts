import { randomBytes } from 'node:crypto';
import pngjs from 'pngjs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.ts';
import { CredentialStore } from '../../src/sandbox/index.ts';
import { startSlackApiFake } from '../../src/sandbox/slack-api.ts';
import { renderDigestSlack, SlackBotChannel } from '../../src/notify/index.ts';
import { closedAfterEach, failure } from '../helpers/async.ts';
import { captureLogs } from '../helpers/logs.ts';
import { digest, quietLogger } from './helpers.ts';

const { PNG } = pngjs;
const fake = closedAfterEach(startSlackApiFake);

/** A bot token, random so that finding it anywhere means it leaked. */
function botToken(): string {
  return `bottok-1111111111-2222222222222-${randomBytes(12).toString('hex')}`;
}

describe('Slack bot channel: the digest with its sparklines as files', () => {
  it('uploads one PNG per KPI and shares them in one message whose blocks are the digest; the token stays out of logs and never goes to the upload host', async () => {
    const token = botToken();
    const slack = await fake({ credentials: new CredentialStore([token]), settings: { channels: ['C0KPI0001'] } });
    const { lines, logger } = captureLogs();
    const channel = new SlackBotChannel({ name: 'exec', token, channel: 'C0KPI0001', baseUrl: slack.apiUrl, minIntervalMs: 0, logger });
    const d = digest();
    await channel.sendDigest(d);

    // The three calls of the upload flow for each file, then one completeUploadExternal.
    expect(slack.requests.map((r) => r.path)).toEqual([
      '/api/files.getUploadURLExternal',
      '/api/files.getUploadURLExternal',
      '/api/files.getUploadURLExternal',
      '/api/files.completeUploadExternal',
    ]);
    for (const r of slack.requests) expect(r.headers.authorization).toBe(`Bearer ${token}`);
    expect(slack.requests[0]!.body).toEqual({ filename: 'signups.png', length: expect.stringMatching(/^\d+$/), alt_txt: 'Sign-ups trend' });

    // What the channel shows: one message, the digest's own blocks, with the three images.
    expect(slack.messages).toHaveLength(1);
    const message = slack.messages[0]!;
    expect(message).toMatchObject({ method: 'files.completeUploadExternal', channel: 'C0KPI0001' });
    expect(message.blocks).toEqual(renderDigestSlack(d).blocks);
    expect(message.args.initial_comment).toBeUndefined();
    expect(message.files.map((f) => [f.filename, f.title, f.mimetype])).toEqual([
      ['signups.png', 'Sign-ups trend', 'image/png'],
      ['revenue.png', 'Revenue trend', 'image/png'],
      ['cpa.png', 'Cost per acquisition trend', 'image/png'],
    ]);
    expect(JSON.parse(String(message.args.files))).toEqual(message.files.map((f) => ({ id: f.id, title: f.title })));
    for (const file of message.files) {
      const image = PNG.sync.read(file.bytes!);
      expect([image.width, image.height]).toEqual([240, 64]);
      expect(file.bytes!.length).toBe(file.length);
      // The pre-signed upload URL is on another host: it needs no token and gets none.
      expect(file.uploadAuthorization).toBeUndefined();
    }
    // Drawn, not blank: some pixel is opaque.
    const first = PNG.sync.read(message.files[0]!.bytes!);
    expect(first.data.some((v, i) => i % 4 === 3 && v === 255)).toBe(true);

    expect(lines.join('\n')).toContain('digest sent to Slack with its sparklines');
    for (const line of lines) expect(line).not.toContain(token);
  });

  it('a revoked token is a ConfigError that names the token field and the files:write scope, without the token, in errors or logs', async () => {
    const token = botToken();
    const credentials = new CredentialStore([token]);
    credentials.revoke(token);
    const slack = await fake({ credentials, settings: { channels: ['C0KPI0001'] } });
    const { lines, logger } = captureLogs();
    const channel = new SlackBotChannel({ name: 'exec', token, channel: 'C0KPI0001', baseUrl: slack.apiUrl, minIntervalMs: 0, logger });
    const err = await failure(channel.sendDigest(digest()));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe('channels.exec.token: Slack refused the bot token: token_revoked (check the token and its files:write scope (for the digest’s sparkline images))');
    expect(slack.messages).toEqual([]);
    for (const text of [err.message, String(err.stack), JSON.stringify(err), ...lines]) expect(text).not.toContain(token);
  });

  it('an upload that fails for now is retried whole, and the channel still shows one message', async () => {
    const token = botToken();
    const slack = await fake({ credentials: new CredentialStore([token]), settings: { channels: ['C0KPI0001'] } });
    slack.faults.push({ kind: '503', path: '/api/files.completeUploadExternal' });
    const channel = new SlackBotChannel({ name: 'exec', token, channel: 'C0KPI0001', baseUrl: slack.apiUrl, minIntervalMs: 0, baseDelayMs: 1, logger: quietLogger });
    await channel.sendDigest(digest());
    expect(slack.requests.filter((r) => r.path === '/api/files.completeUploadExternal').map((r) => r.status)).toEqual([503, 200]);
    expect(slack.messages).toHaveLength(1);
    expect(slack.messages[0]!.files).toHaveLength(3);
  });

  it('a channel given by #name gets the digest as text through chat.postMessage (Slack shares files only by channel ID), and says so once', async () => {
    const token = botToken();
    const slack = await fake({ credentials: new CredentialStore([token]), settings: { channels: ['#kpis'] } });
    const { lines, logger } = captureLogs();
    const channel = new SlackBotChannel({ name: 'exec', token, channel: '#kpis', baseUrl: slack.apiUrl, minIntervalMs: 0, logger });
    const d = digest();
    await channel.sendDigest(d);
    await channel.sendDigest(d);
    expect(slack.requests.map((r) => r.path)).toEqual(['/api/chat.postMessage', '/api/chat.postMessage']);
    expect(slack.messages[0]).toMatchObject({ method: 'chat.postMessage', channel: '#kpis', text: renderDigestSlack(d).text, blocks: renderDigestSlack(d).blocks, files: [] });
    expect(lines.filter((l) => l.includes('without sparkline images'))).toHaveLength(1);
  });
});
