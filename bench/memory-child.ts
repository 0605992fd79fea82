import { readFileSync } from 'node:fs';
import { runSync, type DateWindow } from '../src/connectors/index.ts';
import { openWarehouse } from '../src/warehouse/index.ts';
import { nullLogger } from './lib/env.ts';
import { adsConfig, adsConnector } from './lib/google-ads.ts';

/**
 * One sync in a process of its own, so its peak RSS is the sync's and nothing else's (the
 * fake source runs in the parent). Prints one JSON line: peak RSS, rows, time.
 */
interface Args {
  databaseUrl: string;
  adsUrl: string;
  tokenUrl: string;
  window: DateWindow;
}

function vmHwmKb(): number | null {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const startRssKb = process.resourceUsage().maxRSS;
const wh = await openWarehouse({ url: args.databaseUrl, poolSize: 10 });
try {
  const t0 = performance.now();
  const result = await runSync({ db: wh.db, connector: adsConnector(), config: adsConfig(args.adsUrl, args.tokenUrl), log: nullLogger(), window: args.window, trigger: 'bench' });
  const ms = performance.now() - t0;
  if (!result.ok) throw new Error(`sync failed: ${String((result.error as Error)?.message ?? result.error)}`);
  process.stdout.write(
    `${JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS, vmHwmKb: vmHwmKb(), startRssKb, rowsWritten: result.run.rows_written, rowsRead: result.run.rows_read, ms })}\n`,
  );
} finally {
  await wh.close();
}
