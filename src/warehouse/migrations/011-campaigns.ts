import { sql, type Kysely } from 'kysely';

/**
 * Campaigns keyed by the platform's id where the source has one (see src/warehouse/campaigns.ts).
 *
 * - metric_facts.campaign_id: the platform's id of the fact's campaign, '' when the source has
 *   none. A fact with an id is that campaign whatever it is called: its key is the id, and
 *   `campaign` keeps the name the source gave when the day was written (the latest name is in
 *   `campaigns`). So a rename updates the same rows instead of adding new ones, and two
 *   campaigns with one name stay two. Facts without an id stay keyed by their name.
 *   The key is a unique index on an expression (a primary key takes columns only); ON
 *   CONFLICT names the same expression (src/warehouse/facts.ts).
 * - campaigns: one row per (connector, account, campaign id) with its latest name and the first
 *   and last day it had facts.
 *
 * Facts stored before stay as they are: keyed by name, with campaign_id ''. No fact is
 * rewritten, so no day's facts version moves and every stored KPI value stays as it was.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('metric_facts').addColumn('campaign_id', 'text', (c) => c.notNull().defaultTo('')).execute();
  await db.schema.alterTable('metric_facts').dropConstraint('metric_facts_pkey').execute();
  // Key order as before (connector, account, date first): it serves the write path, a slice at a time.
  await sql`
    create unique index metric_facts_key on metric_facts
      (connector, account, date, campaign_id, (case when campaign_id = '' then campaign else '' end), channel, metric)
  `.execute(db);
  await db.schema
    .createTable('campaigns')
    .addColumn('connector', 'text', (c) => c.notNull())
    .addColumn('account', 'text', (c) => c.notNull())
    .addColumn('campaign_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('first_seen', 'date', (c) => c.notNull())
    .addColumn('last_seen', 'date', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('campaigns_pkey', ['connector', 'account', 'campaign_id'])
    .execute();
  // Labels are looked up by name too (two ids with one name are told apart).
  await db.schema.createIndex('campaigns_name').on('campaigns').column('name').execute();
}

/**
 * Back to name keys: facts keyed by id take their campaign's latest name. Rows that then share
 * a key (two ids with one name, or an id whose name a name-keyed fact has) are summed into
 * one, as the old key would have stored them; only accounts that have facts keyed by id move.
 */
export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    create temporary table facts_by_name as
    select f.date, f.connector, f.account,
      case when f.campaign_id = '' then f.campaign else coalesce(c.name, f.campaign) end as campaign,
      f.channel, f.metric, sum(f.value) as value, min(f.currency) as currency, max(f.sync_run_id) as sync_run_id, max(f.updated_at) as updated_at
    from metric_facts f
    left join campaigns c on f.campaign_id <> '' and c.connector = f.connector and c.account = f.account and c.campaign_id = f.campaign_id
    where (f.connector, f.account) in (select distinct connector, account from metric_facts where campaign_id <> '')
    group by 1, 2, 3, 4, 5, 6
  `.execute(db);
  await sql`delete from metric_facts where (connector, account) in (select distinct connector, account from facts_by_name)`.execute(db);
  await sql`drop index metric_facts_key`.execute(db);
  await db.schema.alterTable('metric_facts').dropColumn('campaign_id').execute();
  await sql`
    insert into metric_facts (date, connector, account, campaign, channel, metric, value, currency, sync_run_id, updated_at)
    select date, connector, account, campaign, channel, metric, value, currency, sync_run_id, updated_at from facts_by_name
  `.execute(db);
  await db.schema.alterTable('metric_facts').addPrimaryKeyConstraint('metric_facts_pkey', ['connector', 'account', 'date', 'campaign', 'channel', 'metric']).execute();
  await sql`drop table facts_by_name`.execute(db);
  await db.schema.dropTable('campaigns').execute();
}
