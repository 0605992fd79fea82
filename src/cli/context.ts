import path from 'node:path';
import { loadConfig, type Config } from '../config/index.ts';
import { configChecks } from '../checks.ts';
import { migrateToLatest, openWarehouse, type Warehouse } from '../warehouse/index.ts';
import type { CliIo } from './io.ts';

export function loadCheckedConfig(file: string, io: CliIo): Config {
  return loadConfig(file, { env: io.env, checks: configChecks });
}

/** DATABASE_URL (or warehouse.url) selects server Postgres; otherwise the embedded database under dataDir. */
export async function openConfiguredWarehouse(config: Config, io: CliIo, options: { migrate?: boolean } = {}): Promise<Warehouse> {
  const url = config.warehouse.url || io.env.DATABASE_URL || undefined;
  const wh = await openWarehouse({ url, dataDir: path.resolve(io.cwd, config.dataDir) });
  if (options.migrate !== false) {
    try {
      await migrateToLatest(wh.db);
    } catch (err) {
      await wh.close();
      throw err;
    }
  }
  return wh;
}
