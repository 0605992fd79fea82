import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import { errorMessage } from '../core/errors.ts';
import { pendingMigrations, ping, type Database } from '../warehouse/index.ts';

export interface Check {
  ok: boolean;
  /** Said to whoever asks: a fixed reason, never the error behind it. */
  detail?: string;
  /**
   * The error behind a failed check, for the log only: a driver's message can name the
   * database host, port, user and database, which an unauthenticated probe must not show.
   */
  error?: string;
}

interface Readiness {
  ready: boolean;
  checks: Record<string, Check>;
  /** One sentence per failed check, for people reading the 503. */
  problems: string[];
}

interface ReadinessSources {
  db: Kysely<Database>;
  /** Only in queue mode; embedded mode has no Redis to check. */
  redis?: Redis | null;
  /** What start-up is still doing ("waiting for Postgres at db:5432/kpi"); not ready until it is done. */
  starting?: string | null;
  timeoutMs?: number;
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** INFO rather than CONFIG GET: managed Redis services often refuse CONFIG. */
export function evictionPolicy(info: string): string | null {
  return /^maxmemory_policy:(\S+)/m.exec(info)?.[1] ?? null;
}

async function checkRedis(redis: Redis, ms: number): Promise<Check> {
  try {
    const policy = evictionPolicy(await within(redis.info('memory'), ms, 'redis'));
    if (policy !== 'noeviction') {
      return { ok: false, detail: `maxmemory-policy is ${policy ?? 'unknown'}; BullMQ needs noeviction or Redis may drop queued jobs` };
    }
    return { ok: true };
  } catch (err) {
    return { ok: false, detail: 'redis unreachable', error: errorMessage(err) };
  }
}

async function checkDatabase(db: Kysely<Database>, ms: number): Promise<Check> {
  try {
    await within(ping(db), ms, 'database');
    return { ok: true };
  } catch (err) {
    return { ok: false, detail: 'database unreachable', error: errorMessage(err) };
  }
}

async function checkMigrations(db: Kysely<Database>, ms: number): Promise<Check> {
  try {
    const pending = await within(pendingMigrations(db), ms, 'database');
    return pending.length === 0 ? { ok: true } : { ok: false, detail: `pending migrations: ${pending.join(', ')} (run kpi migrate)` };
  } catch (err) {
    return { ok: false, detail: 'cannot read the applied migrations', error: errorMessage(err) };
  }
}

export async function readiness(sources: ReadinessSources): Promise<Readiness> {
  // The other checks would only repeat what start-up is waiting for, or report what it has
  // yet to do (migrations it is about to apply).
  if (sources.starting) {
    const detail = `starting: ${sources.starting}`;
    return { ready: false, checks: { startup: { ok: false, detail } }, problems: [detail] };
  }
  const ms = sources.timeoutMs ?? 2_000;
  const checks: Record<string, Check> = {};
  const [database, migrations, redis] = await Promise.all([
    checkDatabase(sources.db, ms),
    checkMigrations(sources.db, ms),
    sources.redis ? checkRedis(sources.redis, ms) : Promise.resolve(null),
  ]);
  checks.database = database;
  // Unreachable database already says why; migrations would only repeat it.
  if (database.ok) checks.migrations = migrations;
  if (redis) checks.redis = redis;
  const problems = Object.values(checks).flatMap((c) => (c.ok || !c.detail ? [] : [c.detail]));
  return { ready: problems.length === 0, checks, problems };
}
