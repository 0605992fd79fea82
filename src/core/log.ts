import { pino, type Logger } from 'pino';
import { redactSecrets } from './secrets.ts';

export type { Logger };

/**
 * Structured JSON logs. Known secret values are scrubbed from every line before it is
 * written, whatever field they hide in; common credential fields are redacted by name too.
 */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const destination = options.destination ?? process.stderr;
  const scrubbing = {
    write(line: string) {
      destination.write(redactSecrets(line));
    },
  };
  return pino(
    {
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      base: { service: 'kpi-pipeline' },
      redact: {
        paths: ['*.authorization', '*.Authorization', '*.headers.authorization', '*.password', '*.token', '*.apiKey', '*.secret'],
        censor: '[redacted]',
      },
    },
    scrubbing,
  );
}

let root: Logger | undefined;

export function logger(): Logger {
  root ??= createLogger();
  return root;
}
