import { createServer, type AddressInfo } from 'node:net';
import pngjs from 'pngjs';
import { describe, expect, it } from 'vitest';
import { ConfigError, TransientError } from '../../src/core/errors.ts';
import { EmailChannel, renderDigestEmail, renderEmail, type EmailChannelOptions } from '../../src/notify/index.ts';
import { closedAfterEach, failure } from '../helpers/async.ts';
import { alert, digest, quietLogger, startSmtp } from './helpers.ts';

const { PNG } = pngjs;

const smtp = closedAfterEach(startSmtp);

function channel(port: number, overrides: Partial<EmailChannelOptions> = {}): EmailChannel {
  return new EmailChannel({
    host: '127.0.0.1',
    port,
    secure: false,
    from: 'KPI alerts <kpi@example.com>',
    to: ['ops@example.com', 'cmo@example.com'],
    timeoutMs: 5000,
    logger: quietLogger,
    ...overrides,
  });
}

function smtpError(message: string, responseCode: number): Error {
  return Object.assign(new Error(message), { responseCode });
}

describe('renderEmail', () => {
  it('puts status, rule and severity in the subject', () => {
    expect(renderEmail(alert()).subject).toBe('[FIRING] CTR too low (critical)');
    expect(renderEmail(alert({ status: 'resolved' })).subject).toBe('[RESOLVED] CTR too low');
    expect(renderEmail(alert({ ruleName: 'a\r\nBcc: x@evil' })).subject).toBe('[FIRING] a Bcc: x@evil (critical)');
  });

  it('escapes HTML and leaves out columns no instance has', () => {
    const { html } = renderEmail(alert({ summary: '<script>x</script>', instances: [{ series: 'a&b', value: 5, unit: 'count' }] }));
    expect(html).toContain('&lt;script&gt;x&lt;/script&gt;');
    expect(html).toContain('a&amp;b');
    expect(html).not.toContain('Threshold');
  });
});

describe('EmailChannel', () => {
  it('delivers an alert with subject, HTML table, plain text and the times in the zone', async () => {
    const server = await smtp();
    const received = server.next();
    await channel(server.port).send(alert({ status: 'resolved', endsAt: '2024-05-06T14:35:00Z' }));
    const mail = await received;

    expect(mail.subject).toBe('[RESOLVED] CTR too low');
    expect(mail.messageId).toBe('<alert-outbox-42@kpi-pipeline>');
    expect(mail.headers.get('x-kpi-alert-id')).toBe('outbox-42');
    const to = Array.isArray(mail.to) ? mail.to : [mail.to];
    expect(to.flatMap((a) => a?.value.map((v) => v.address))).toEqual(['ops@example.com', 'cmo@example.com']);

    const html = String(mail.html);
    expect(html).toContain('RESOLVED');
    expect(html).toContain('#2eb886');
    expect(html).toMatch(/<th[^>]*>Threshold<\/th>/);
    expect(html).toMatch(/<td[^>]*>1\.2%<\/td>/);
    expect(html).toContain('Started: 2024-05-06 14:30 GMT+2 (Europe/Berlin)');

    // A percent KPI changes by percentage points: 1.2% against 1.8% is −0.60 pp, not −33.3%.
    expect(mail.text).toBe(
      [
        '[RESOLVED] CTR too low',
        '',
        'Click-through rate (Paid search) 1.2% is below 2.0% on 2024-05-05',
        '',
        '- Click-through rate, Paid search, value 1.2%, threshold 2.0%, previous 1.8%, change −0.60 pp',
        '',
        'Labels: channel=paid_search, account=acme',
        'Started: 2024-05-06 14:30 GMT+2 (Europe/Berlin)',
        'Resolved: 2024-05-06 16:35 GMT+2 (Europe/Berlin) (lasted 2h 5m)',
        'Dashboard: https://dash.example.com/kpi/ctr',
        '',
      ].join('\n'),
    );
  });

  it('delivers the digest with the sparklines as inline CID images that decode to the requested size', async () => {
    const server = await smtp();
    const received = server.next();
    await channel(server.port).sendDigest(digest());
    const mail = await received;

    expect(mail.subject).toBe('Weekly marketing digest — Week 19 (6–12 May 2024)');
    expect(mail.text).toContain('Revenue: EUR 12,500.00 (+13.6%; previous EUR 11,000.00)');
    expect(mail.text).toContain('- Q2 revenue: 52% (expected 60%), at risk');
    const html = String(mail.html);
    const cids = [...html.matchAll(/<img src="cid:([^"]+)"/g)].map((m) => m[1]);
    // North star plus two KPIs.
    expect(cids).toHaveLength(3);
    expect(mail.attachments).toHaveLength(3);
    for (const cid of cids) {
      const att = mail.attachments.find((a) => a.cid === cid);
      expect(att, `attachment for cid ${cid}`).toBeDefined();
      expect(att!.contentType).toBe('image/png');
      expect(att!.contentDisposition).toBe('inline');
      const png = PNG.sync.read(att!.content);
      expect([png.width, png.height]).toEqual([120, 32]);
    }
    expect(html).toContain('Grow the paid funnel');
    expect(html).toContain('bgcolor="#f79009"'); // the at-risk goal's bar
  });

  it('renders sparklines at the size asked for', () => {
    const { html, attachments } = renderDigestEmail(digest(), { sparkline: { width: 200, height: 40 } });
    expect(html).toContain('width="200" height="40"');
    const png = PNG.sync.read(attachments[0]!.content);
    expect([png.width, png.height]).toEqual([200, 40]);
  });

  it('turns a permanent 5xx rejection into a ConfigError', async () => {
    const server = await smtp({ onRcptTo: (_address, _session, cb) => cb(smtpError('Mailbox unavailable', 550)) });
    const err = await failure(channel(server.port).send(alert()));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('550');
    expect(err.message).toContain('channels.email');
  });

  it('turns a 4xx deferral into a TransientError', async () => {
    const server = await smtp({ onMailFrom: (_address, _session, cb) => cb(smtpError('Try again later', 451)) });
    const err = await failure(channel(server.port).send(alert()));
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toContain('451');
  });

  it('turns a refused login into a ConfigError without the password', async () => {
    const server = await smtp({ allowInsecureAuth: true, onAuth: (_auth, _session, cb) => cb(smtpError('Invalid username or password', 535)) });
    const pass = 'smtp-pass-9f8e7d6c';
    const err = await failure(channel(server.port, { user: 'kpi', pass }).send(alert()));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('refused the login');
    expect(err.message).not.toContain(pass);
  });

  it('gives up on a server that answers a line at a time for ever (each line resets the socket timeout), closing the connection', async () => {
    let closed!: () => void;
    const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
    const server = createServer((socket) => {
      socket.on('error', () => {});
      socket.write('220 mail.example.com ESMTP\r\n');
      // The answer to EHLO never ends: "250-" announces one more line, every 20 ms.
      socket.once('data', () => {
        const drip = setInterval(() => socket.write('250-PIPELINING\r\n'), 20);
        socket.on('close', () => {
          clearInterval(drip);
          closed();
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const err = await failure(channel((server.address() as AddressInfo).port, { timeoutMs: 200 }).send(alert()));
      expect(err).toBeInstanceOf(TransientError);
      expect(err.message).toBe('SMTP delivery failed: no whole answer within 600 ms (3 times timeoutMs)');
      await connectionClosed;
    } finally {
      server.close();
    }
  });

  it('turns a refused connection into a TransientError', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const err = await failure(channel(port).send(alert()));
    expect(err).toBeInstanceOf(TransientError);
  });
});
