import { PostgresAdapter, PostgresDialect, sql, type DialectAdapter, type PostgresDialectConfig, type DatabaseIntrospector, type DatabaseMetadata, type DatabaseMetadataOptions, type Kysely, type SchemaMetadata, type TableMetadata } from 'kysely';
import type pg from 'pg';
import { poolBulkLoader, type BulkLoader } from './copy.ts';

/**
 * Kysely's Postgres introspector scans every schema of the database and calls
 * has_schema_privilege by schema name on each; a schema dropped by another session while the
 * scan runs (tests, tenants, a DBA's cleanup) makes that call fail with "schema ... does not
 * exist", and with it the migration. The migrator only asks about the connection's own schema,
 * so this one looks only there, and checks schemas by oid, which cannot name a dropped one.
 */
class SchemaScopedIntrospector implements DatabaseIntrospector {
  readonly #db: Kysely<any>;

  constructor(db: Kysely<any>) {
    this.#db = db;
  }

  async getSchemas(): Promise<SchemaMetadata[]> {
    const { rows } = await sql<{ name: string }>`
      select nspname as name from pg_catalog.pg_namespace
      where nspname !~ '^pg_' and nspname <> 'information_schema' and has_schema_privilege(oid, 'USAGE')
    `.execute(this.#db);
    return rows.map((r) => ({ name: r.name }));
  }

  async getTables(options: DatabaseMetadataOptions = { withInternalKyselyTables: false }): Promise<TableMetadata[]> {
    const { rows } = await sql<{ schema: string; table: string; kind: string; column: string; type: string; typeSchema: string; notNull: boolean; hasDefault: boolean; comment: string | null; serial: string | null }>`
      select ns.nspname as schema, c.relname as table, c.relkind as kind, a.attname as column,
             typ.typname as "type", tns.nspname as "typeSchema", a.attnotnull as "notNull", a.atthasdef as "hasDefault",
             col_description(a.attrelid, a.attnum) as comment,
             pg_get_serial_sequence(quote_ident(ns.nspname) || '.' || quote_ident(c.relname), a.attname) as serial
      from pg_catalog.pg_class c
      join pg_catalog.pg_namespace ns on ns.oid = c.relnamespace
      join pg_catalog.pg_attribute a on a.attrelid = c.oid
      join pg_catalog.pg_type typ on typ.oid = a.atttypid
      join pg_catalog.pg_namespace tns on tns.oid = typ.typnamespace
      where ns.nspname = current_schema() and c.relkind in ('r', 'v', 'p') and a.attnum >= 0 and not a.attisdropped
      order by c.relname, a.attnum
    `.execute(this.#db);
    const tables = new Map<string, TableMetadata & { columns: TableMetadata['columns'][number][] }>();
    for (const row of rows) {
      if (!options.withInternalKyselyTables && (row.table === 'kysely_migration' || row.table === 'kysely_migration_lock')) continue;
      let table = tables.get(row.table);
      if (!table) {
        table = { name: row.table, schema: row.schema, isView: row.kind === 'v', columns: [] };
        tables.set(row.table, table);
      }
      table.columns.push({
        name: row.column,
        dataType: row.type,
        dataTypeSchema: row.typeSchema,
        isNullable: !row.notNull,
        hasDefaultValue: row.hasDefault,
        isAutoIncrementing: row.serial !== null,
        ...(row.comment !== null ? { comment: row.comment } : {}),
      });
    }
    return [...tables.values()];
  }

  async getMetadata(options?: DatabaseMetadataOptions): Promise<DatabaseMetadata> {
    return { tables: await this.getTables(options) };
  }
}

/** The adapter carries the bulk loader, so code holding only a Kysely (or a transaction, or a plugin's copy of it) can find it. */
class BulkLoadingAdapter extends PostgresAdapter {
  constructor(readonly bulk: BulkLoader) {
    super();
  }
}

/** How the warehouse talks to a Postgres server: kysely's dialect, with the two additions above. */
export class WarehouseDialect extends PostgresDialect {
  readonly #bulk: BulkLoader;

  constructor(config: PostgresDialectConfig & { pool: pg.Pool }) {
    super(config);
    this.#bulk = poolBulkLoader(config.pool);
  }

  override createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SchemaScopedIntrospector(db);
  }

  override createAdapter(): DialectAdapter {
    return new BulkLoadingAdapter(this.#bulk);
  }
}

/** COPY for a warehouse on a Postgres server; null on PGlite, which has none. */
export function bulkLoaderOf(db: Kysely<any>): BulkLoader | null {
  const adapter = db.getExecutor().adapter;
  return adapter instanceof BulkLoadingAdapter ? adapter.bulk : null;
}
