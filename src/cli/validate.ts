import path from 'node:path';
import { ExitCode, line, type CliIo } from './io.ts';
import { loadCheckedConfig } from './context.ts';

export async function validateCommand(io: CliIo, file: string): Promise<number> {
  const config = loadCheckedConfig(file, io);
  const shown = path.relative(io.cwd, file) || file;
  const count = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  line(
    io,
    `${shown}: valid (${[
      count(config.connectors.length, 'connector'),
      count(config.kpis.length, 'custom KPI'),
      count(config.goals.length, 'goal'),
      count(config.okrs.length, 'OKR'),
      count(config.alerts.length, 'alert rule'),
      count(Object.keys(config.channels).length, 'channel'),
    ].join(', ')})`,
  );
  return ExitCode.ok;
}
