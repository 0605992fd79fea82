import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/core/log.ts';

/** A debug-level logger whose lines are kept, to check what was (and was not) logged. */
export function captureLogs(): { lines: string[]; logger: Logger } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  return { lines, logger: createLogger({ level: 'debug', destination }) };
}
