import { describe, expect, it } from 'vitest';
import { ConfigError, TransientError } from '../../src/core/errors.ts';
import { SlackBotChannel, SlackWebhookChannel, type SlackMessage } from '../../src/notify/index.ts';
import { closedAfterEach, failure } from '../helpers/async.ts';
import { captureLogs } from '../helpers/logs.ts';
import { alert, digest, fakeClock, quietLogger, reply, replyJson, startHttp, webhookPath } from './helpers.ts';

const serve = closedAfterEach(startHttp);

describe('SlackWebhookChannel', () => {
  it('posts the Block Kit JSON to the webhook', async () => {
    const server = await serve((res) => reply(res, 200, 'ok'));
    const { path } = webhookPath();
    const channel = new SlackWebhookChannel({ url: server.base + path, logger: quietLogger });
    await channel.send(alert({ status: 'resolved', endsAt: '2024-05-06T14:35:00Z', summary: 's'.repeat(10_000) }));

    expect(server.requests).toHaveLength(1);
    const req = server.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe(path);
    expect(req.headers['content-type']).toContain('application/json');
    const body = JSON.parse(req.body) as SlackMessage;
    expect(body.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: '[RESOLVED] CTR too low' } });
    const att = body.attachments![0]!;
    expect(att.color).toBe('#2eb886');
    const summary = att.blocks[0]!;
    expect(summary.type === 'section' && summary.text?.text).toBe(`${'s'.repeat(2999)}…`);
    const fields = att.blocks.find((b) => b.type === 'section' && b.fields);
    expect(fields?.type === 'section' && fields.fields?.map((f) => f.text.split('\n')[0])).toEqual(['*Value*', '*Threshold*', '*Previous*', '*Change*']);
    expect(body.text.length).toBeLessThanOrEqual(3000);
  });

  it('an answer trickled a byte at a time gives up at timeoutMs, instead of holding the delivery (and every later message to the webhook) for ever', async () => {
    const server = await serve((res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const drip = setInterval(() => res.write('o'), 20);
      res.on('close', () => clearInterval(drip));
    });
    const channel = new SlackWebhookChannel({ url: server.base + webhookPath().path, timeoutMs: 300, maxRetries: 0, minIntervalMs: 0, logger: quietLogger });
    const err = await failure(channel.send(alert()));
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toBe('Slack webhook "slack" failed after 1 attempts: no whole answer within 300 ms');
  });

  it('an answer that never ends is not read past 1 MB (it would fill the memory), and is no Slack answer', async () => {
    const server = await serve((res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(16 * 1024, 'o');
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
      };
      res.on('drain', pump);
      pump();
    });
    const channel = new SlackWebhookChannel({ url: server.base + webhookPath().path, maxRetries: 0, minIntervalMs: 0, logger: quietLogger });
    const err = await failure(channel.send(alert()));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe('channels.slack.url: answered HTTP 200 with more than 1 MB, which is not Slack; check the URL');
  });

  it('waits for Retry-After on 429, then retries', async () => {
    const clock = fakeClock();
    const server = await serve((res, n) => (n === 0 ? reply(res, 429, 'rate_limited', { 'retry-after': '2' }) : reply(res, 200, 'ok')), clock);
    const channel = new SlackWebhookChannel({ url: server.base + webhookPath().path, clock, logger: quietLogger });
    await channel.send(alert());
    expect(server.requests).toHaveLength(2);
    expect(clock.sleeps).toContain(2000);
    expect(server.requests[1]!.clockAt! - server.requests[0]!.clockAt!).toBeGreaterThanOrEqual(2000);
  });

  it('retries 5xx with growing backoff and succeeds', async () => {
    const clock = fakeClock();
    const server = await serve((res, n) => (n < 2 ? reply(res, 503, 'unavailable') : reply(res, 200, 'ok')), clock);
    const channel = new SlackWebhookChannel({ url: server.base + webhookPath().path, clock, baseDelayMs: 1000, minIntervalMs: 0, logger: quietLogger });
    await channel.send(alert());
    expect(server.requests).toHaveLength(3);
    expect(clock.sleeps).toHaveLength(2);
    expect(clock.sleeps[0]).toBeGreaterThanOrEqual(500);
    expect(clock.sleeps[0]).toBeLessThanOrEqual(1000);
    expect(clock.sleeps[1]).toBeGreaterThanOrEqual(1000);
    expect(clock.sleeps[1]).toBeLessThanOrEqual(2000);
  });

  it('gives up on persistent 5xx with a TransientError that does not reveal the URL, in errors or logs', async () => {
    const clock = fakeClock();
    const { lines, logger } = captureLogs();
    const server = await serve((res) => reply(res, 500, 'boom'), clock);
    const { path, secret } = webhookPath();
    const channel = new SlackWebhookChannel({ name: 'alerts', url: server.base + path, clock, maxRetries: 3, logger });
    const err = await failure(channel.send(alert()));
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toBe('Slack webhook "alerts" failed after 4 attempts: HTTP 500 boom');
    expect(server.requests).toHaveLength(4);
    expect(lines.length).toBeGreaterThan(0);
    for (const text of [err.message, String(err.stack), JSON.stringify(err), ...lines]) expect(text).not.toContain(secret);
  });

  it('turns a network failure into a TransientError without the URL', async () => {
    const server = await serve((res) => reply(res, 200, 'ok'));
    const base = server.base;
    await server.close();
    const { path, secret } = webhookPath();
    const channel = new SlackWebhookChannel({ url: base + path, clock: fakeClock(), maxRetries: 1, logger: quietLogger });
    const err = await failure(channel.send(alert()));
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.message).not.toContain(secret);
    expect(err.message).not.toContain(base);
  });

  it.each([
    [400, 'invalid_payload', 'bug in kpi-pipeline'],
    [403, 'invalid_token', 'revoked'],
    [404, 'no_service', 'webhook URL is wrong'],
  ])('turns %i %s into a ConfigError that says what Slack answered, without retrying', async (status, answer, hint) => {
    const server = await serve((res) => reply(res, status, answer));
    const { path, secret } = webhookPath();
    const channel = new SlackWebhookChannel({ name: 'alerts', url: server.base + path, clock: fakeClock(), logger: quietLogger });
    const err = await failure(channel.send(alert()));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain(`channels.alerts.url: Slack rejected the message: HTTP ${status} ${answer}`);
    expect(err.message).toContain(hint);
    expect(err.message).not.toContain(secret);
    expect(server.requests).toHaveLength(1);
  });

  it('spaces two messages to one webhook at least 1 s apart, across channel objects (virtual clock)', async () => {
    const clock = fakeClock();
    const server = await serve((res) => reply(res, 200, 'ok'), clock);
    const url = server.base + webhookPath().path;
    const a = new SlackWebhookChannel({ url, clock, logger: quietLogger });
    const b = new SlackWebhookChannel({ url, clock, logger: quietLogger });
    await Promise.all([a.send(alert({ id: '1' })), b.send(alert({ id: '2' }))]);
    expect(server.requests).toHaveLength(2);
    expect(clock.sleeps).toEqual([1000]);
    expect(server.requests[1]!.clockAt! - server.requests[0]!.clockAt!).toBeGreaterThanOrEqual(1000);
  });

  it('spaces two messages to one webhook at least 1 s apart in real time, but not messages to different webhooks', async () => {
    const server = await serve((res) => reply(res, 200, 'ok'));
    const url = server.base + webhookPath().path;
    const other = server.base + webhookPath().path;
    const started = performance.now();
    await Promise.all([
      new SlackWebhookChannel({ url, logger: quietLogger }).send(alert({ id: '1' })),
      new SlackWebhookChannel({ url, logger: quietLogger }).send(alert({ id: '2' })),
      new SlackWebhookChannel({ url: other, logger: quietLogger }).send(alert({ id: '3' })),
    ]);
    const same = server.requests.filter((r) => url.endsWith(r.path));
    const diff = server.requests.find((r) => other.endsWith(r.path))!;
    expect(same).toHaveLength(2);
    // setTimeout may fire a millisecond early against performance.now(); the gap is measured from the first reply.
    expect(same[1]!.at - same[0]!.at).toBeGreaterThanOrEqual(999);
    expect(diff.at - started).toBeLessThan(500);
  });

  it('does not post the same outbox row twice', async () => {
    const server = await serve((res) => reply(res, 200, 'ok'));
    const channel = new SlackWebhookChannel({ url: server.base + webhookPath().path, clock: fakeClock(), logger: quietLogger });
    await channel.send(alert({ id: 'same' }));
    await channel.send(alert({ id: 'same' }));
    expect(server.requests).toHaveLength(1);
  });

  it('sends the digest', async () => {
    const server = await serve((res) => reply(res, 200, 'ok'));
    const channel = new SlackWebhookChannel({ url: server.base + webhookPath().path, logger: quietLogger });
    await channel.sendDigest(digest());
    const body = JSON.parse(server.requests[0]!.body) as SlackMessage;
    expect(body.text).toBe('Weekly marketing digest: Week 19 (6–12 May 2024)');
    expect(body.blocks.length).toBeGreaterThan(3);
  });
});

describe('SlackBotChannel', () => {
  const token = 'slack-bot-test-token';

  it('posts to chat.postMessage with the token and channel', async () => {
    const server = await serve((res) => replyJson(res, 200, { ok: true, ts: '1.2' }));
    const channel = new SlackBotChannel({ token, channel: 'C123', baseUrl: `${server.base}/api/`, logger: quietLogger });
    await channel.send(alert());
    const req = server.requests[0]!;
    expect(req.path).toBe('/api/chat.postMessage');
    expect(req.headers.authorization).toBe(`Bearer ${token}`);
    const body = JSON.parse(req.body) as SlackMessage & { channel: string };
    expect(body.channel).toBe('C123');
    expect(body.attachments?.[0]?.color).toBe('#d92d20');
  });

  it('retries ok:false ratelimited after Retry-After', async () => {
    const clock = fakeClock();
    const server = await serve(
      (res, n) => (n === 0 ? replyJson(res, 200, { ok: false, error: 'ratelimited' }, { 'retry-after': '3' }) : replyJson(res, 200, { ok: true })),
      clock,
    );
    const channel = new SlackBotChannel({ token, channel: 'C123', baseUrl: server.base, clock, logger: quietLogger });
    await channel.send(alert());
    expect(server.requests).toHaveLength(2);
    expect(clock.sleeps).toContain(3000);
  });

  it.each([
    ['invalid_auth', 'channels.bot.token'],
    ['channel_not_found', 'channels.bot.channel'],
  ])('turns ok:false %s into a ConfigError at %s, without the token', async (error, path) => {
    const server = await serve((res) => replyJson(res, 200, { ok: false, error }));
    const channel = new SlackBotChannel({ name: 'bot', token, channel: 'C123', baseUrl: server.base, clock: fakeClock(), logger: quietLogger });
    const err = await failure(channel.send(alert()));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain(`${path}: `);
    expect(err.message).toContain(error);
    expect(err.message).not.toContain(token);
    expect(server.requests).toHaveLength(1);
  });

  it('retries internal_error and HTTP 5xx, then gives up with a TransientError', async () => {
    const clock = fakeClock();
    const server = await serve((res, n) => (n % 2 === 0 ? replyJson(res, 200, { ok: false, error: 'internal_error' }) : reply(res, 502, 'bad gateway')), clock);
    const channel = new SlackBotChannel({ token, channel: 'C123', baseUrl: server.base, clock, maxRetries: 2, logger: quietLogger });
    const err = await failure(channel.send(alert()));
    expect(err).toBeInstanceOf(TransientError);
    expect(server.requests).toHaveLength(3);
  });
});
