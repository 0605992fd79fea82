import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Kysely, Migrator, sql } from 'kysely';
import pg from 'pg';
import { ConfigError, TransientError } from '../core/errors.ts';
import { lockDataDir, type DataDirLock } from './data-dir-lock.ts';
import { WarehouseDialect } from './dialect.ts';
import { migrationProvider, latestMigration } from './migrations/index.ts';
import type { Database } from './tables.ts';

export type WarehouseKind = 'postgres' | 'pglite';

export interface Warehouse {
  db: Kysely<Database>;
  kind: WarehouseKind;
  /** Where it is, without credentials: a host/database or a folder. */
  location: string;
  /** The embedded database's folder lock (none for a server or in memory). */
  lock?: DataDirLock;
  close(): Promise<void>;
}

interface OpenOptions {
  /** Postgres connection string; when absent the embedded database is used. */
  url?: string | undefined;
  /** Folder for the embedded database; `memory://` keeps it in memory (tests). */
  dataDir?: string;
  /**
   * An embedded database to start from instead of an empty one (a PGlite `dumpDataDir`): tests
   * start from one migrated once per run, which spares each a database initialisation.
   */
  loadDataDir?: Blob;
  /** Postgres schema to work in (tests give each file its own). */
  schema?: string;
  poolSize?: number;
  /** The command holding the embedded database, as other processes are told (default: this process's command line). */
  holder?: string;
  /** Start the embedded database empty (`kpi demo --fresh`): its folder is emptied once this process holds the lock, never before. */
  fresh?: boolean;
}

const DATE_OID = 1082;
const NUMERIC_OID = 1700;
const INT8_OID = 20;

/**
 * Dates stay 'YYYY-MM-DD' strings: a JS Date would shift them by the process's time zone.
 * Numerics and bigints become numbers, the same on both databases.
 */
const parsers: Record<number, (value: string) => unknown> = {
  [DATE_OID]: (v) => v,
  [NUMERIC_OID]: (v) => Number(v),
  [INT8_OID]: (v) => Number(v),
};

function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return 'postgres';
  }
}

export async function openWarehouse(options: OpenOptions = {}): Promise<Warehouse> {
  if (options.url) {
    if (!/^postgres(ql)?:\/\//.test(options.url)) {
      throw new ConfigError('DATABASE_URL must be a postgres:// connection string');
    }
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: 10_000,
      ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
      types: {
        getTypeParser: ((oid: number, format?: string) => parsers[oid] ?? pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
      },
    });
    // A client losing its connection must not crash the process: an idle one is dropped by the
    // pool, a checked-out one (inside a transaction) fails its query, and the next query reconnects.
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    const db = new Kysely<Database>({ dialect: new WarehouseDialect({ pool }) });
    return { db, kind: 'postgres', location: describeUrl(options.url), close: () => db.destroy() };
  }

  const dir = options.dataDir ?? './data';
  const inMemory = dir.startsWith('memory://');
  const pgDir = inMemory ? undefined : path.resolve(dir, 'pglite');
  // Before anything touches the folder: a second process on it would corrupt it.
  const lock = pgDir ? await lockDataDir(path.resolve(dir), options.holder) : undefined;
  try {
    if (pgDir && options.fresh) rmSync(pgDir, { recursive: true, force: true });
    if (pgDir) mkdirSync(pgDir, { recursive: true });
    // Imported here: PGlite is half a megabyte of JavaScript (and the largest module under the
    // tsx loader), which a process on server Postgres never needs.
    const [{ PGlite }, { PGliteDialect }] = await Promise.all([import('@electric-sql/pglite'), import('kysely-pglite-dialect')]);
    const client = new PGlite({ ...(pgDir ? { dataDir: pgDir } : {}), ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}), parsers });
    await client.waitReady;
    const db = new Kysely<Database>({ dialect: new PGliteDialect(client) });
    const close = async () => {
      try {
        await db.destroy();
      } finally {
        lock?.release();
      }
    };
    return { db, kind: 'pglite', location: pgDir ?? 'memory', ...(lock ? { lock } : {}), close };
  } catch (err) {
    lock?.release();
    throw err;
  }
}

interface MigrateResult {
  applied: string[];
  latest: string;
}

/**
 * Kysely looks for its bookkeeping tables in every schema unless told which one; pinning it
 * to the connection's own schema keeps databases that host several schemas (tests, tenants) apart.
 */
async function migratorFor(db: Kysely<Database>): Promise<Migrator> {
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  return new Migrator({ db, provider: migrationProvider, migrationTableSchema: rows[0]?.schema ?? 'public' });
}

export async function migrateToLatest(db: Kysely<Database>): Promise<MigrateResult> {
  const migrator = await migratorFor(db);
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new TransientError(`migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? String(error)}`, { cause: error });
  }
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName), latest: latestMigration };
}

/** Whether every known migration has been applied (readiness). */
export async function pendingMigrations(db: Kysely<Database>): Promise<string[]> {
  const migrator = await migratorFor(db);
  const all = await migrator.getMigrations();
  return all.filter((m) => !m.executedAt).map((m) => m.name);
}

/**
 * A refusal from Postgres that waiting will not change: wrong credentials (SQLSTATE class 28)
 * or no such database (3D000). Start-up gives up on these at once rather than wait them out.
 */
export function isLastingRefusal(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('28') || code === '3D000');
}

export async function ping(db: Kysely<Database>): Promise<void> {
  await sql`select 1`.execute(db);
}
