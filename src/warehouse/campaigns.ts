import { sql, type RawBuilder } from 'kysely';
import type { DateString, Executor } from './tables.ts';

/**
 * Campaign identity. A source that has campaign ids (Google Ads, Meta Ads, Mailchimp, a CSV or
 * JSON source with an id mapped) keys its facts by the id; the campaign's name is an attribute,
 * its latest kept in the `campaigns` table. A rename neither splits a campaign's history (its
 * rows are updated in place, and every day of it is shown under the latest name) nor merges it
 * with another campaign of that name. Facts without an id (a source that has none, facts stored
 * before migration 011) stay keyed by name.
 */

/** The separator in a campaign key; connector names are slugs, so the connector part never holds one. */
const SEP = ':';

/**
 * How a campaign keyed by id is named in the 'campaign' dimension (kpi_points.dimension_value,
 * alert instances): ids are unique within a connector and account only. Campaigns keyed by
 * name keep their name there, as before.
 */
export function campaignKey(connector: string, account: string, campaignId: string): string {
  return `${connector}${SEP}${account}${SEP}${campaignId}`;
}

/**
 * The campaign dimension's value of a fact row aliased `alias` (see campaignKey). Without
 * parameters, so the expression can be grouped by and selected as the same expression.
 */
export function campaignKeySql(alias: string): RawBuilder<string> {
  const col = (c: string) => sql.ref(`${alias}.${c}`);
  return sql<string>`(case when ${col('campaign_id')} = '' then ${col('campaign')} else ${idKeySql(alias)} end)`;
}

/** campaignKey of a row with connector, account and campaign_id (a fact keyed by id, a campaigns row); parameter-free too. */
export function idKeySql(alias: string): RawBuilder<string> {
  const col = (c: string) => sql.ref(`${alias}.${c}`);
  return sql<string>`${col('connector')} || ${sql.lit(SEP)} || ${col('account')} || ${sql.lit(SEP)} || ${col('campaign_id')}`;
}

/** What a slice tells about one campaign: its name as of the last day it appears on, and its days. */
export interface SeenCampaign {
  campaignId: string;
  name: string;
  first: DateString;
  last: DateString;
}

/** The campaigns of rows with an id; the name kept is the one of the latest day (the last row of it). */
export function seenCampaigns(rows: Iterable<{ date: DateString; campaign?: string | undefined; campaignId?: string | undefined }>): SeenCampaign[] {
  const seen = new Map<string, SeenCampaign>();
  for (const r of rows) {
    if (!r.campaignId) continue;
    const known = seen.get(r.campaignId);
    if (!known) seen.set(r.campaignId, { campaignId: r.campaignId, name: r.campaign ?? '', first: r.date, last: r.date });
    else {
      if (r.date < known.first) known.first = r.date;
      if (r.date >= known.last) {
        known.last = r.date;
        known.name = r.campaign ?? '';
      }
    }
  }
  return [...seen.values()];
}

/**
 * Records the campaigns a slice saw. The name follows the latest day: a sync of recent days
 * after a rename renames the campaign (and with it, in reports, all its history), while
 * reloading an old file that still has the old name does not undo it. Rows that would not
 * change are left alone (no dead tuple per campaign per synced day).
 */
export async function recordCampaigns(db: Executor, connector: string, account: string, campaigns: readonly SeenCampaign[]): Promise<void> {
  if (campaigns.length === 0) return;
  await sql`
    insert into campaigns as c (connector, account, campaign_id, name, first_seen, last_seen, updated_at)
    select ${connector}::text, ${account}::text, s.id, s.name, s.first, s.last, now()
    from unnest(${campaigns.map((c) => c.campaignId)}::text[], ${campaigns.map((c) => c.name)}::text[], ${campaigns.map((c) => c.first)}::date[], ${campaigns.map((c) => c.last)}::date[]) as s(id, name, first, last)
    on conflict (connector, account, campaign_id) do update set
      name = case when excluded.last_seen >= c.last_seen then excluded.name else c.name end,
      first_seen = least(c.first_seen, excluded.first_seen),
      last_seen = greatest(c.last_seen, excluded.last_seen),
      updated_at = now()
    where (excluded.last_seen >= c.last_seen and excluded.name <> c.name) or excluded.first_seen < c.first_seen or excluded.last_seen > c.last_seen
  `.execute(db);
}

export interface CampaignName {
  connector: string;
  account: string;
  campaignId: string;
  /** The dimension value its facts are summed under (campaignKey). */
  key: string;
  name: string;
}

/** Every campaign known by id whose latest name or id is one of `names`, or whose key is one of `keys`. */
export async function campaignNames(db: Executor, query: { keys?: readonly string[]; names?: readonly string[] }): Promise<CampaignName[]> {
  const keys = [...(query.keys ?? [])];
  const names = [...(query.names ?? [])];
  if (keys.length === 0 && names.length === 0) return [];
  const { rows } = await sql<{ connector: string; account: string; campaign_id: string; key: string; name: string }>`
    select connector, account, campaign_id, ${idKeySql('c')} as key, name from campaigns c
    where ${idKeySql('c')} = any(${keys}::text[]) or c.name = any(${names}::text[])
    order by connector, account, campaign_id
  `.execute(db);
  return rows.map((r) => ({ connector: r.connector, account: r.account, campaignId: r.campaign_id, key: r.key, name: r.name }));
}
