import { sql, type Kysely } from 'kysely';
import { combineRows, recordCampaigns, seenCampaigns, type Database, type DateString, type Executor, type FactRow, type WriteResult } from '../../src/warehouse/index.ts';

// Tests seed facts of any connectors, accounts and days at once; the pipeline writes them a
// slice at a time (replaceSlice), which also deletes what a source no longer has.

async function upsertBatch(db: Executor, rows: FactRow[], syncRunId: number | null): Promise<{ written: number; touched: DateString[] }> {
  const cols = {
    date: [] as string[],
    connector: [] as string[],
    account: [] as string[],
    campaign: [] as string[],
    campaignId: [] as string[],
    channel: [] as string[],
    metric: [] as string[],
    value: [] as string[],
    currency: [] as (string | null)[],
  };
  for (const r of rows) {
    cols.date.push(r.date);
    cols.connector.push(r.connector);
    cols.account.push(r.account);
    cols.campaign.push(r.campaign ?? '');
    cols.campaignId.push(r.campaignId ?? '');
    cols.channel.push(r.channel ?? '');
    cols.metric.push(r.metric);
    cols.value.push(String(r.value));
    cols.currency.push(r.currency ?? null);
  }
  // unnest keeps one statement per batch with 9 parameters, whatever the batch size,
  // and the WHERE leaves unchanged rows untouched so a re-sync writes nothing.
  const result = await sql<{ written: number; touched: DateString[] | null }>`
    with up as (
      insert into metric_facts (date, connector, account, campaign, campaign_id, channel, metric, value, currency, sync_run_id, updated_at)
      select t.date, t.connector, t.account, t.campaign, t.campaign_id, t.channel, t.metric, t.value, t.currency, ${syncRunId}::bigint, now()
      from unnest(${cols.date}::date[], ${cols.connector}::text[], ${cols.account}::text[], ${cols.campaign}::text[], ${cols.campaignId}::text[],
                  ${cols.channel}::text[], ${cols.metric}::text[], ${cols.value}::numeric[], ${cols.currency}::text[])
        as t(date, connector, account, campaign, campaign_id, channel, metric, value, currency)
      on conflict (connector, account, date, campaign_id, (case when campaign_id = '' then campaign else '' end), channel, metric) do update
        set campaign = excluded.campaign, value = excluded.value, currency = excluded.currency, sync_run_id = excluded.sync_run_id, updated_at = excluded.updated_at
        where metric_facts.value is distinct from excluded.value or metric_facts.currency is distinct from excluded.currency or metric_facts.campaign is distinct from excluded.campaign
      returning date
    )
    select count(*)::int as written, array_agg(distinct date::text) as touched from up
  `.execute(db);
  // Campaigns with an id get their name recorded, as a sync records it.
  const accounts = new Map<string, FactRow[]>();
  for (const r of rows) if (r.campaignId) accounts.set(`${r.connector}\u0000${r.account}`, [...(accounts.get(`${r.connector}\u0000${r.account}`) ?? []), r]);
  for (const list of accounts.values()) await recordCampaigns(db, list[0]!.connector, list[0]!.account, seenCampaigns(list));
  const row = result.rows[0];
  return { written: Number(row?.written ?? 0), touched: row?.touched ?? [] };
}

/**
 * Idempotent upsert: writing the same rows twice leaves one copy; a changed value replaces
 * the old one. One transaction per batch, so a crash leaves whole batches or none.
 */
export async function upsertFacts(db: Kysely<Database>, rows: Iterable<FactRow>, options: { syncRunId?: number; batchSize?: number } = {}): Promise<WriteResult> {
  const combined = combineRows(rows);
  const size = options.batchSize ?? 5_000;
  const out: WriteResult = { written: 0, unchanged: 0, deleted: 0, touched: new Set() };
  for (let i = 0; i < combined.length; i += size) {
    const batch = combined.slice(i, i + size);
    const { written, touched } = await db.transaction().execute((trx) => upsertBatch(trx, batch, options.syncRunId ?? null));
    out.written += written;
    out.unchanged += batch.length - written;
    for (const d of touched) out.touched.add(d);
  }
  return out;
}
