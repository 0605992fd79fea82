import type { Kysely } from 'kysely';
import type { Config } from '../config/index.ts';
import type { Database } from '../warehouse/index.ts';
import type { Viewer } from './html.ts';

/** What a page is rendered with: the warehouse, the configuration in force now, who asks, and the clock. */
export interface PageContext {
  db: Kysely<Database>;
  config: Config;
  viewer: Viewer;
  now: Date;
}
