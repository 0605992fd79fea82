import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';

export interface CaughtMessage {
  kind: 'slack' | 'email';
  file: string;
}

export interface Catcher {
  /** Point a Slack webhook channel here. */
  slackUrl: string;
  smtp: { host: string; port: number };
  received: CaughtMessage[];
  close(): Promise<void>;
}

/**
 * Stands in for Slack and an SMTP relay in the demo: whatever the pipeline sends is written
 * to `dir` (Slack payloads as JSON, mails as .eml), so a newcomer can open what went out.
 */
export async function startCatcher(dir: string): Promise<Catcher> {
  mkdirSync(dir, { recursive: true });
  const received: CaughtMessage[] = [];
  const stamp = () => new Date().toISOString().replace(/[:.]/g, '-');

  const http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const file = path.join(dir, `slack-${stamp()}-${received.length + 1}.json`);
      let body = Buffer.concat(chunks).toString('utf8');
      try {
        body = JSON.stringify(JSON.parse(body), null, 2);
      } catch {
        // keep what came, as it came
      }
      writeFileSync(file, body);
      received.push({ kind: 'slack', file });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));

  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const file = path.join(dir, `email-${stamp()}-${received.length + 1}.eml`);
        writeFileSync(file, Buffer.concat(chunks));
        received.push({ kind: 'email', file });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  const smtpPort = (smtp.server.address() as AddressInfo).port;

  return {
    slackUrl: `http://127.0.0.1:${(http.address() as AddressInfo).port}/services/demo/webhook`,
    smtp: { host: '127.0.0.1', port: smtpPort },
    received,
    async close() {
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
    },
  };
}
