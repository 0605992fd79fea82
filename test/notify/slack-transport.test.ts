import { describe, expect, it } from 'vitest';
import { ConfigError, TransientError } from '../../src/core/errors.ts';
import { testClock } from '../../src/core/resilience/index.ts';
import { SlackBotChannel, SlackWebhookChannel } from '../../src/notify/index.ts';
import { closedAfterEach, failure } from '../helpers/async.ts';
import { captureLogs } from '../helpers/logs.ts';
import { alert, quietLogger, reply, startHttp, webhookPath } from './helpers.ts';

/*
 * Slack posts go through the shared HTTP client (src/core/http) with no retries and no
 * redirects of its own: what a hostile or broken endpoint can do to a delivery.
 */

const serve = closedAfterEach(startHttp);

describe('Slack on the shared HTTP client', () => {
  it('never follows a redirect, not even to the same host: a redirected POST would arrive as a GET without the message', async () => {
    const server = await serve((res, n) => (n === 0 ? reply(res, 302, '', { location: '/services/elsewhere' }) : reply(res, 200, 'ok')));
    const channel = new SlackWebhookChannel({ name: 'alerts', url: server.base + webhookPath().path, clock: testClock(), logger: quietLogger });
    const err = await failure(channel.send(alert()));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe('channels.alerts.url: Slack rejected the message: HTTP 302');
    expect(server.requests.map((r) => r.method)).toEqual(['POST']);
  });

  it('stops reading an answer past 1 MB and says the URL is not Slack, without retrying', async () => {
    const server = await serve((res) => reply(res, 200, 'x'.repeat(2 * 1024 * 1024)));
    const channel = new SlackWebhookChannel({ name: 'alerts', url: server.base + webhookPath().path, clock: testClock(), logger: quietLogger });
    const err = await failure(channel.send(alert()));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe('channels.alerts.url: answered HTTP 200 with more than 1 MB, which is not Slack; check the URL');
    expect(server.requests).toHaveLength(1);
  });

  it('times out a webhook that never answers, retries, and ends failed for now with the reason', async () => {
    const server = await serve(() => {
      // Never answers.
    });
    const clock = testClock();
    const channel = new SlackWebhookChannel({ name: 'alerts', url: server.base + webhookPath().path, clock, timeoutMs: 200, maxRetries: 1, minIntervalMs: 0, logger: quietLogger });
    const err = await failure(channel.send(alert()));
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toBe('Slack webhook "alerts" failed after 2 attempts: no whole answer within 200 ms');
    expect(server.requests).toHaveLength(2);
    // One backoff between the two: 1 s with equal jitter (CHANNEL_SEND).
    expect(clock.sleeps).toHaveLength(1);
    expect(clock.sleeps[0]).toBeGreaterThanOrEqual(500);
    expect(clock.sleeps[0]).toBeLessThanOrEqual(1_000);
  });

  it('keeps the webhook path, the secret part of its URL, out of every log line, debug included', async () => {
    const { lines, logger } = captureLogs();
    const server = await serve((res, n) => (n === 0 ? reply(res, 503, 'busy') : reply(res, 200, 'ok')));
    const { path, secret } = webhookPath();
    const channel = new SlackWebhookChannel({ url: server.base + path, clock: testClock(), logger });
    await channel.send(alert());
    expect(server.requests).toHaveLength(2);
    expect(lines.some((l) => l.includes('"msg":"http request"'))).toBe(true);
    for (const line of lines) expect(line).not.toContain(secret);
  });

  it('sends the bot token to the configured API only: a redirect elsewhere is an answer, not a hop', async () => {
    const other = await serve((res) => reply(res, 200, '{"ok":true}'));
    const api = await serve((res) => reply(res, 307, '', { location: `${other.base}/api/chat.postMessage` }));
    const channel = new SlackBotChannel({ name: 'bot', token: 'bottok-redirect-test', channel: 'C1', baseUrl: `${api.base}/api`, clock: testClock(), logger: quietLogger });
    const err = await failure(channel.send(alert()));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe('channels.bot.baseUrl: chat.postMessage answered HTTP 307 without a Slack API reply; check baseUrl');
    expect(other.requests).toHaveLength(0);
  });
});
