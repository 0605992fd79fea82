import { ExitCode, line, type CliIo } from './io.ts';
import { loadCheckedConfig, openConfiguredWarehouse } from './context.ts';
import { migrateToLatest } from '../warehouse/index.ts';

export async function migrateCommand(io: CliIo, file: string): Promise<number> {
  const config = loadCheckedConfig(file, io);
  const wh = await openConfiguredWarehouse(config, io, { migrate: false });
  try {
    const { applied, latest } = await migrateToLatest(wh.db);
    line(io, applied.length ? `applied ${applied.join(', ')} to ${wh.kind} (${wh.location})` : `${wh.kind} (${wh.location}) is up to date at ${latest}`);
    return ExitCode.ok;
  } finally {
    await wh.close();
  }
}
