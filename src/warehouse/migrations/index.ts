import type { Migration, MigrationProvider } from 'kysely';
import * as m001 from './001-facts-and-runs.ts';
import * as m002 from './002-kpis.ts';
import * as m003 from './003-source-files.ts';
import * as m004 from './004-alerts.ts';
import * as m005 from './005-kpi-points.ts';
import * as m006 from './006-kpi-days.ts';
import * as m007 from './007-held-days.ts';
import * as m008 from './008-notify-failures.ts';
import * as m009 from './009-stream-state.ts';
import * as m010 from './010-completeness.ts';
import * as m011 from './011-campaigns.ts';
import * as m012 from './012-channel-health.ts';
import * as m013 from './013-report-sends.ts';
import * as m014 from './014-bi-views.ts';
import * as m015 from './015-request-counts.ts';
import * as m016 from './016-firing-index.ts';
import * as m017 from './017-exact-day-sums.ts';
import * as m018 from './018-goal-definitions.ts';

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
  '007-held-days': m007,
  '008-notify-failures': m008,
  '009-stream-state': m009,
  '010-completeness': m010,
  '011-campaigns': m011,
  '012-channel-health': m012,
  '013-report-sends': m013,
  '014-bi-views': m014,
  '015-request-counts': m015,
  '016-firing-index': m016,
  '017-exact-day-sums': m017,
  '018-goal-definitions': m018,
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};

export const latestMigration = Object.keys(migrations).at(-1)!;
