import type { Migration, MigrationProvider } from 'kysely';
import * as m001 from './001-facts-and-runs.ts';
import * as m002 from './002-kpis.ts';
import * as m003 from './003-source-files.ts';
import * as m004 from './004-alerts.ts';
import * as m005 from './005-kpi-points.ts';
import * as m006 from './006-kpi-days.ts';

/**
 * Migrations are imported, not read from a folder at run time, so they work the same from
 * source, from a bundle, and in tests. Add new ones at the end; never edit an applied one.
 */
const migrations: Record<string, Migration> = {
  '001-facts-and-runs': m001,
  '002-kpis': m002,
  '003-source-files': m003,
  '004-alerts': m004,
  '005-kpi-points': m005,
  '006-kpi-days': m006,
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};

export const latestMigration = Object.keys(migrations).at(-1)!;
