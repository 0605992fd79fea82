import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { createLogger } from '../../src/core/log.ts';
import type { WaitingClock as Clock } from '../../src/core/resilience/index.ts';
import type { AlertNotification, Digest, DigestKpi } from '../../src/notify/index.ts';

export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** performance.now() when the whole body had arrived. */
  at: number;
  /** clock.now() of the test's clock, when one was given. */
  clockAt?: number;
}

export interface HttpServer {
  base: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

type Handler = (res: ServerResponse, n: number, req: SeenRequest) => void;

/** A real HTTP server on 127.0.0.1; `handler` gets the 0-based request number. */
export async function startHttp(handler: Handler, clock?: Clock): Promise<HttpServer> {
  const requests: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seen: SeenRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: performance.now(),
        clockAt: clock?.now(),
      };
      requests.push(seen);
      handler(res, requests.length - 1, seen);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function reply(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain', ...headers });
  res.end(body);
}

export function replyJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** A webhook path shaped like Slack's, with a random secret part to look for in errors and logs. */
export function webhookPath(): { path: string; secret: string } {
  const secret = randomBytes(12).toString('hex');
  return { path: `/services/T0001/B0001/${secret}`, secret };
}

/** Virtual time: sleeps are recorded and advance the clock at once. */
export function fakeClock(start = 1_000_000): Clock & { sleeps: number[] } {
  let t = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
  };
}

export const quietLogger = createLogger({ destination: new Writable({ write: (_c, _e, cb) => cb() }) });

export interface SmtpCatcher {
  port: number;
  messages: ParsedMail[];
  /** Resolves with the next message received. */
  next(): Promise<ParsedMail>;
  close(): Promise<void>;
}

/** A real SMTP server on 127.0.0.1 (no TLS, auth optional) that parses what it receives. */
export async function startSmtp(options: Partial<SMTPServerOptions> = {}): Promise<SmtpCatcher> {
  const messages: ParsedMail[] = [];
  const waiters: Array<(m: ParsedMail) => void> = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      // keepCidLinks: by default mailparser inlines cid: images as data URLs, hiding what we test.
      simpleParser(stream, { keepCidLinks: true })
        .then((mail) => {
          messages.push(mail);
          waiters.shift()?.(mail);
          callback();
        })
        .catch((err: unknown) => callback(err as Error));
    },
    ...options,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  return {
    port,
    messages,
    next: () => new Promise<ParsedMail>((resolve) => waiters.push(resolve)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export function alert(overrides: Partial<AlertNotification> = {}): AlertNotification {
  return {
    id: 'outbox-42',
    status: 'firing',
    ruleName: 'CTR too low',
    severity: 'critical',
    summary: 'Click-through rate (Paid search) 1.2% is below 2.0% on 2024-05-05',
    labels: { channel: 'paid_search', account: 'acme' },
    instances: [{ series: 'Click-through rate, Paid search', value: 0.012, threshold: 0.02, previous: 0.018, changePct: -33.3, unit: 'percent' }],
    startsAt: '2024-05-06T12:30:00Z',
    link: 'https://dash.example.com/kpi/ctr',
    timeZone: 'Europe/Berlin',
    ...overrides,
  };
}

export function kpi(overrides: Partial<DigestKpi> = {}): DigestKpi {
  return {
    name: 'revenue',
    label: 'Revenue',
    unit: 'currency',
    currency: 'EUR',
    value: 12500,
    previous: 11000,
    changePct: 13.6,
    direction: 'higher',
    series: [9000, 9500, null, 10200, 11000, 12500],
    ...overrides,
  };
}

export function digest(overrides: Partial<Digest> = {}): Digest {
  return {
    title: 'Weekly marketing digest',
    periodLabel: 'Week 19 (6–12 May 2024)',
    timeZone: 'Europe/Berlin',
    northStar: kpi({ name: 'signups', label: 'Sign-ups', unit: 'count', currency: undefined, value: 1234, previous: 1100, changePct: 12.2, series: [900, 950, 1010, 1100, 1234] }),
    kpis: [kpi(), kpi({ name: 'cpa', label: 'Cost per acquisition', direction: 'lower', value: 42.5, previous: 40, changePct: 6.25, series: [38, 39, 40, 42.5] })],
    goals: [{ name: 'Q2 revenue', progress: 0.52, expected: 0.6, status: 'at_risk' }],
    okrs: [
      {
        objective: 'Grow the paid funnel',
        progress: 0.7,
        status: 'on_track',
        keyResults: [{ name: 'Sign-ups to 1,500/week', progress: 0.82, expected: 0.75, status: 'on_track' }],
      },
    ],
    firing: [{ ruleName: 'CTR too low', summary: 'CTR (paid_search) 1.2% is below 2%', since: '2024-05-10T08:00:00Z' }],
    link: 'https://dash.example.com/',
    ...overrides,
  };
}
