import path from 'node:path';
import { loadConfig, type Config } from '../config/index.ts';
import { configChecks, configWarnings } from '../config-checks.ts';
import { checkConnectionUrls } from '../config/connection-urls.ts';
import { migrateToLatest, openWarehouse, type Warehouse } from '../warehouse/index.ts';
import type { CliIo } from './io.ts';

export function loadCheckedConfig(file: string, io: CliIo): Config {
  const config = loadConfig(file, { env: io.env, checks: configChecks, warnings: configWarnings });
  // The URLs openConfiguredWarehouse and redisUrlOf (src/app.ts, too heavy to load here) choose.
  checkConnectionUrls({
    [config.warehouse.url ? 'warehouse.url' : 'DATABASE_URL']: config.warehouse.url || io.env.DATABASE_URL,
    [io.env.REDIS_URL ? 'REDIS_URL' : 'redis.url']: io.env.REDIS_URL || config.redis.url,
  });
  return config;
}

/** DATABASE_URL (or warehouse.url) selects server Postgres; otherwise the embedded database under dataDir. */
export async function openConfiguredWarehouse(config: Config, io: CliIo, options: { migrate?: boolean; fresh?: boolean } = {}): Promise<Warehouse> {
  const url = config.warehouse.url || io.env.DATABASE_URL || undefined;
  // Run through the process holding the embedded database: its open database, which it closes.
  if (io.host && !url && io.host.warehouse.location === path.resolve(io.cwd, config.dataDir, 'pglite')) return { ...io.host.warehouse, close: async () => {} };
  const wh = await openWarehouse({ url, dataDir: path.resolve(io.cwd, config.dataDir), ...(options.fresh ? { fresh: true } : {}) });
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
