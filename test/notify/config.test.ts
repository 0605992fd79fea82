import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.ts';
import { EmailChannel, SlackBotChannel, SlackWebhookChannel, channelConfigSchema, createChannel } from '../../src/notify/index.ts';
import { alert, quietLogger, reply, startHttp, startSmtp, webhookPath, type HttpServer } from './helpers.ts';

let server: HttpServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('channelConfigSchema', () => {
  it('accepts the three channel types and fills defaults', () => {
    const email = channelConfigSchema.parse({ type: 'email', host: 'smtp.example.com', from: 'kpi@example.com', to: ['ops@example.com'] });
    expect(email).toMatchObject({ type: 'email', port: 587 });
    expect(channelConfigSchema.parse({ type: 'slack', url: 'https://hooks.slack.com/services/T/B/x' }).type).toBe('slack');
    expect(channelConfigSchema.parse({ type: 'slack_bot', token: 'bottok-1', channel: 'C1' }).type).toBe('slack_bot');
  });

  it('rejects unknown types, unknown keys and missing fields', () => {
    expect(channelConfigSchema.safeParse({ type: 'teams', url: 'https://x' }).success).toBe(false);
    expect(channelConfigSchema.safeParse({ type: 'slack', url: 'https://x', colour: 'red' }).success).toBe(false);
    expect(channelConfigSchema.safeParse({ type: 'email', host: 'h', from: 'a@b', to: [] }).success).toBe(false);
    expect(channelConfigSchema.safeParse({ type: 'email', host: 'h', from: 'a@b', to: ['c@d'], user: 'u' }).success).toBe(false);
  });
});

describe('createChannel', () => {
  it('builds each kind of channel', () => {
    expect(createChannel({ type: 'slack', url: 'https://hooks.slack.com/services/T/B/x' }, { logger: quietLogger })).toBeInstanceOf(SlackWebhookChannel);
    expect(createChannel({ type: 'slack_bot', token: 'bottok-1', channel: 'C1' }, { logger: quietLogger })).toBeInstanceOf(SlackBotChannel);
    const email = createChannel({ type: 'email', name: 'ops-mail', host: 'h', port: 465, from: 'a@b', to: ['c@d'] }, { logger: quietLogger });
    expect(email).toBeInstanceOf(EmailChannel);
    expect(email.name).toBe('ops-mail');
    expect(email.kind).toBe('email');
  });

  it('throws a ConfigError naming the channel and field, without echoing the secret', () => {
    const secret = 'not a url but a secret 12345';
    try {
      createChannel({ type: 'slack', url: secret }, { name: 'alerts' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toBe('channels.alerts.url: expected an http(s) URL');
      expect((err as Error).message).not.toContain(secret);
    }
  });

  it('gives a working webhook channel', async () => {
    server = await startHttp((res) => reply(res, 200, 'ok'));
    const ch = createChannel({ type: 'slack', url: server.base + webhookPath().path }, { name: 'alerts', logger: quietLogger });
    await ch.send(alert());
    expect(server.requests).toHaveLength(1);
  });

  it('gives a working email channel', async () => {
    const smtp = await startSmtp();
    try {
      const received = smtp.next();
      const ch = createChannel({ type: 'email', host: '127.0.0.1', port: smtp.port, from: 'kpi@example.com', to: ['ops@example.com'] }, { logger: quietLogger });
      await ch.send(alert());
      expect((await received).subject).toBe('[FIRING] CTR too low (critical)');
    } finally {
      await smtp.close();
    }
  });
});
