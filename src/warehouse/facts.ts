import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, DateString, Executor } from './tables.ts';
import { escapeArrayText } from './unnest.ts';
import { recordCampaigns, seenCampaigns } from './campaigns.ts';

/** One base-metric value of one day: what a connector's normalize step makes of a record. */
export interface Fact {
  date: DateString;
  /** The campaign's name (its current one, where the source also gives an id). */
  campaign?: string;
  /**
   * The platform's id of the campaign, where the source has one: the fact is then keyed by
   * it, and the name is recorded as the campaign's latest (src/warehouse/campaigns.ts).
   */
  campaignId?: string;
  channel?: string;
  metric: string;
  value: number;
  currency?: string | null;
}

/** A fact with the connector and account it came from: a row of metric_facts. */
export interface FactRow extends Fact {
  connector: string;
  account: string;
}

export interface WriteResult {
  /** Rows inserted or whose value changed. */
  written: number;
  /** Rows that were already stored with the same value. */
  unchanged: number;
  deleted: number;
  /** Dates whose facts changed (written or deleted), for recompute. */
  touched: Set<DateString>;
}

/**
 * Base metrics are additive, so rows that land on one key (two pages of one day, a
 * dimension the warehouse does not keep) are summed rather than overwriting each other.
 * Postgres also refuses an upsert that touches one key twice in a statement.
 */
export function combineRows(rows: Iterable<FactRow>): FactRow[] {
  const out: FactRow[] = [];
  // Keyed by everything but the metric; each group lists its [metric, index in out] pairs. A
  // source record gives several metrics of one (date, campaign, channel) in a row, so the key
  // string is built and hashed once per record, not once per metric: a key per row was about
  // 1 µs a row, most of the Node time of writing a day.
  const groups = new Map<string, Array<string | number>>();
  let prev: FactRow | undefined;
  let group: Array<string | number> = [];
  let repeats: Map<number, number[]> | undefined;
  for (const row of rows) {
    if (
      prev === undefined ||
      row.date !== prev.date ||
      row.campaign !== prev.campaign ||
      row.campaignId !== prev.campaignId ||
      row.channel !== prev.channel ||
      row.account !== prev.account ||
      row.connector !== prev.connector
    ) {
      // A campaign with an id is that id whatever it is called (two names of one id on one day are one campaign).
      const key = row.campaignId
        ? `${row.connector}\u0000${row.account}\u0000${row.date}\u0000${row.campaignId}\u0000\u0000${row.channel ?? ''}`
        : `${row.connector}\u0000${row.account}\u0000${row.date}\u0000\u0000${row.campaign ?? ''}\u0000${row.channel ?? ''}`;
      const known = groups.get(key);
      if (known) group = known;
      else groups.set(key, (group = []));
    }
    prev = row;
    let i = -1;
    for (let j = 0; j < group.length; j += 2) {
      if (group[j] === row.metric) {
        i = group[j + 1] as number;
        break;
      }
    }
    if (i === -1) {
      group.push(row.metric, out.length);
      // A row already in the stored shape is kept as it is; plain literals, not spreads (slow path).
      out.push(
        row.campaign !== undefined && row.campaignId !== undefined && row.channel !== undefined && row.currency !== undefined
          ? row
          : {
              date: row.date,
              connector: row.connector,
              account: row.account,
              campaign: row.campaign ?? '',
              campaignId: row.campaignId ?? '',
              channel: row.channel ?? '',
              metric: row.metric,
              value: row.value,
              currency: row.currency ?? null,
            },
      );
    } else {
      repeats ??= new Map();
      const values = repeats.get(i);
      if (values) values.push(row.value);
      else repeats.set(i, [out[i]!.value, row.value]);
    }
  }
  for (const [i, values] of repeats ?? []) {
    const r = out[i]!;
    out[i] = { date: r.date, connector: r.connector, account: r.account, campaign: r.campaign, campaignId: r.campaignId, channel: r.channel, metric: r.metric, value: exactSum(values), currency: r.currency };
  }
  return out;
}

const PLAIN_DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/**
 * The sum of `values` as exact decimals (the digits JavaScript prints for each), so the same
 * records give the same stored value whatever order they arrived in: float addition is not
 * associative, and pages or chunks that split a day differently would otherwise store
 * 5189.080000000001 one day and 5189.08 the next, and rewrite an unchanged row.
 */
function exactSum(values: readonly number[]): number {
  const parts = values.map((v) => PLAIN_DECIMAL.exec(String(v)));
  if (parts.some((p) => p === null)) return [...values].sort((a, b) => a - b).reduce((sum, v) => sum + v, 0);
  const scale = Math.max(...parts.map((p) => p![3]?.length ?? 0));
  let total = 0n;
  for (const p of parts) {
    const digits = BigInt(`${p![2]}${(p![3] ?? '').padEnd(scale, '0')}`);
    total += p![1] ? -digits : digits;
  }
  const negative = total < 0n;
  const digits = (negative ? -total : total).toString().padStart(scale + 1, '0');
  return Number(`${negative ? '-' : ''}${scale ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits}`);
}

interface SliceScope {
  connector: string;
  account: string;
  /** Every date the source was read for; facts on them that the source no longer has are removed. */
  dates: DateString[];
}

interface ReplaceSliceOptions {
  syncRunId?: number;
  batchSize?: number;
  /** The rows are combined already (combineRows): each key once. */
  combined?: boolean;
  /**
   * Runs in the slice's transaction once its facts are written: bookkeeping (a checkpoint, run
   * counters) that must commit together with the data, or not at all.
   */
  within?: (trx: Transaction<Database>, result: WriteResult) => Promise<void>;
}

/**
 * The key of a fact (the unique index metric_facts_key, migration 011): a campaign with an id
 * is its id, whatever it is called, so a renamed campaign's rows are updated in place (their
 * campaign column takes the new name) rather than joined by rows under the new name.
 */
const FACT_KEY = sql.raw(`(connector, account, date, campaign_id, (case when campaign_id = '' then campaign else '' end), channel, metric)`);

/** A slice is usually one day of one account: one statement for all of it. */
const SLICE_BATCH = 50_000;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
/** First key of the advisory locks on slices (the second is a hash of connector and account); held by each day's commit. */
export const SLICE_LOCK = 0x6b7069;

/** A Postgres array literal of the given (escaped) texts, each quoted. */
function textArray(values: string[]): string {
  // The quotes go in as the separator: no string per element, and an element without quotes
  // or backslashes (nearly all) is passed on as it is.
  return values.length === 0 ? '{}' : `{"${values.join('","')}"}`;
}

/**
 * The slice's columns as Postgres array literals, built here rather than by the driver, which
 * escapes every element with two regular-expression replaces (1.2 s of Node CPU in a 1M-row
 * sync). Connector and account are the same for the whole slice and go as single values.
 * Dates are checked against the slice's ISO dates and numbers print as numeric literals, so
 * neither needs escaping.
 */
function sliceArrays(rows: FactRow[]) {
  const n = rows.length;
  const date = new Array<string>(n);
  const campaign = new Array<string>(n);
  const campaignId = new Array<string>(n);
  const channel = new Array<string>(n);
  const metric = new Array<string>(n);
  const value = new Array<number | string>(n);
  const currency = new Array<string>(n);
  // Few currencies, mostly none: each quoted once, not once per row.
  let lastCurrency: string | null | undefined = null;
  let lastElement = 'NULL';
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    date[i] = r.date;
    campaign[i] = escapeArrayText(r.campaign ?? '');
    campaignId[i] = escapeArrayText(r.campaignId ?? '');
    channel[i] = escapeArrayText(r.channel ?? '');
    metric[i] = escapeArrayText(r.metric);
    value[i] = typeof r.value === 'number' ? r.value : `"${escapeArrayText(String(r.value))}"`;
    if (r.currency !== lastCurrency) {
      lastCurrency = r.currency;
      lastElement = r.currency == null ? 'NULL' : `"${escapeArrayText(r.currency)}"`;
    }
    currency[i] = lastElement;
  }
  return { date: `{${date.join(',')}}`, campaign: textArray(campaign), campaignId: textArray(campaignId), channel: textArray(channel), metric: textArray(metric), value: `{${value.join(',')}}`, currency: `{${currency.join(',')}}` };
}

/**
 * The rows as a relation s(date, campaign, campaign_id, channel, metric, value, currency). The unnests are
 * in the select list, which steps them in lockstep (ProjectSet); unnest(a, b, ...) in FROM
 * first copies every row into a tuplestore: 28 against 30 ms of CPU to insert a day of 5,035 rows.
 */
function sliceSource(rows: FactRow[]) {
  const a = sliceArrays(rows);
  return sql`(select unnest(${a.date}::date[]) as date, unnest(${a.campaign}::text[]) as campaign, unnest(${a.campaignId}::text[]) as campaign_id, unnest(${a.channel}::text[]) as channel,
    unnest(${a.metric}::text[]) as metric, unnest(${a.value}::numeric[]) as value, unnest(${a.currency}::text[]) as currency) s`;
}

/**
 * Makes the stored facts of (connector, account, dates) exactly `rows`, in one transaction:
 * restated values replace old ones, rows the source dropped are deleted, and a reader never
 * sees half a day.
 */
export async function replaceSlice(db: Kysely<Database>, scope: SliceScope, rows: Iterable<FactRow>, options: ReplaceSliceOptions = {}): Promise<WriteResult> {
  const combined = options.combined ? (Array.isArray(rows) ? (rows as FactRow[]) : [...rows]) : combineRows(rows);
  const dates = new Set(scope.dates);
  for (const d of dates) if (!ISO_DATE.test(d)) throw new Error(`slice date "${d}" is not YYYY-MM-DD`);
  for (const r of combined) {
    if (r.connector !== scope.connector || r.account !== scope.account || !dates.has(r.date)) {
      throw new Error(`row ${r.connector}/${r.account}/${r.date}/${r.metric} is outside the slice being replaced`);
    }
  }
  const size = options.batchSize ?? SLICE_BATCH;
  const sliceDates = [...dates];
  const runId = options.syncRunId ?? null;
  const inSlice = sql`connector = ${scope.connector} and account = ${scope.account} and date = any(${sliceDates}::date[])`;
  const countSlice = async (trx: Transaction<Database>) => Number((await sql<{ n: number }>`select count(*)::int as n from metric_facts where ${inSlice}`.execute(trx)).rows[0]?.n ?? 0);

  return db.transaction().execute(async (trx) => {
    const out: WriteResult = { written: 0, unchanged: 0, deleted: 0, touched: new Set() };
    // Writers of one (connector, account) take turns, so what the count below sees holds until
    // the commit. A statement of its own: a statement's snapshot is taken before any lock it waits for.
    await sql`select pg_advisory_xact_lock(${SLICE_LOCK}::int, hashtext(${`${scope.connector}\n${scope.account}`}))`.execute(trx);
    const before = await countSlice(trx);
    let dropped: boolean;
    if (before === 0) {
      // An empty slice (a first load, a new day) takes a plain insert: ON CONFLICT costs a
      // speculative insertion and one more WAL record per row, a third of the statement's time.
      // Keys cannot collide: the rows are combined, and the lock keeps other writers out.
      for (let i = 0; i < combined.length; i += size) {
        const batch = combined.slice(i, i + size);
        await sql`
          insert into metric_facts (date, connector, account, campaign, campaign_id, channel, metric, value, currency, sync_run_id, updated_at)
          select s.date, ${scope.connector}::text, ${scope.account}::text, s.campaign, s.campaign_id, s.channel, s.metric, s.value, s.currency, ${runId}::bigint, now()
          from ${sliceSource(batch)}
        `.execute(trx);
        for (const r of batch) out.touched.add(r.date);
      }
      out.written = combined.length;
      dropped = false;
    } else {
      // Only rows that differ from the stored slice reach the upsert. An ON CONFLICT that
      // finds the same value still locks the row (a WAL record and a dirtied page per row,
      // every page of the table after a checkpoint); EXCEPT compares as a hash or sort set
      // operation, linear whatever the planner thinks of the slice, and writes nothing.
      // Set operations treat NULLs as equal and numerics by value, like IS DISTINCT FROM.
      for (let i = 0; i < combined.length; i += size) {
        const batch = combined.slice(i, i + size);
        const result = await sql<{ written: number; touched: DateString[] | null }>`
          with up as (
            insert into metric_facts (date, connector, account, campaign, campaign_id, channel, metric, value, currency, sync_run_id, updated_at)
            select c.date, ${scope.connector}::text, ${scope.account}::text, c.campaign, c.campaign_id, c.channel, c.metric, c.value, c.currency, ${runId}::bigint, now()
            from (
              select s.date, s.campaign, s.campaign_id, s.channel, s.metric, s.value, s.currency from ${sliceSource(batch)}
              except
              select date, campaign, campaign_id, channel, metric, value, currency from metric_facts where ${inSlice}
            ) c
            on conflict ${FACT_KEY} do update
              set campaign = excluded.campaign, value = excluded.value, currency = excluded.currency, sync_run_id = excluded.sync_run_id, updated_at = excluded.updated_at
              where metric_facts.value is distinct from excluded.value or metric_facts.currency is distinct from excluded.currency
                or metric_facts.campaign is distinct from excluded.campaign
            returning date
          )
          select count(*)::int as written, array_agg(distinct date::text) as touched from up
        `.execute(trx);
        const row = result.rows[0];
        out.written += Number(row?.written ?? 0);
        for (const d of row?.touched ?? []) out.touched.add(d);
      }
      // Every row just written is in the slice now, so the slice holds rows the source dropped
      // exactly when it holds more rows than were written. With nothing written, every row was
      // stored already and the count from before decides; otherwise count again.
      dropped = before > combined.length || (out.written > 0 && (await countSlice(trx)) > combined.length);
    }
    out.unchanged = combined.length - out.written;

    // Dropped rows in two steps, each linear whatever the planner believes: the stored keys not
    // just written (EXCEPT runs as a hash set operation), then those rows by key. One NOT EXISTS
    // against the unnest was planned as a merge join on (date, metric) only, or with a fresh
    // table's missing statistics as a nested loop: quadratic in the campaigns of a day.
    let deleted: { rows: Array<{ date: DateString }> } = { rows: [] };
    if (dropped) {
      const keys = { date: [] as string[], campaign: [] as string[], campaignId: [] as string[], channel: [] as string[], metric: [] as string[] };
      for (const r of combined) {
        keys.date.push(r.date);
        keys.campaign.push(r.campaign ?? '');
        keys.campaignId.push(r.campaignId ?? '');
        keys.channel.push(r.channel ?? '');
        keys.metric.push(r.metric);
      }
      const gone = await sql<{ date: DateString; campaign: string; campaign_id: string; channel: string; metric: string }>`
        select s.date, s.campaign, s.campaign_id, s.channel, s.metric from metric_facts s
        where s.connector = ${scope.connector} and s.account = ${scope.account} and s.date = any(${sliceDates}::date[])
        except all
        select k.date, k.campaign, k.campaign_id, k.channel, k.metric
        from unnest(${keys.date}::date[], ${keys.campaign}::text[], ${keys.campaignId}::text[], ${keys.channel}::text[], ${keys.metric}::text[]) as k(date, campaign, campaign_id, channel, metric)
      `.execute(trx);
      deleted = await sql<{ date: DateString }>`
        delete from metric_facts f
        using unnest(${gone.rows.map((g) => String(g.date))}::date[], ${gone.rows.map((g) => g.campaign)}::text[], ${gone.rows.map((g) => g.campaign_id)}::text[], ${gone.rows.map((g) => g.channel)}::text[], ${gone.rows.map((g) => g.metric)}::text[])
          as g(date, campaign, campaign_id, channel, metric)
        where f.connector = ${scope.connector} and f.account = ${scope.account}
          and f.date = g.date and f.campaign = g.campaign and f.campaign_id = g.campaign_id and f.channel = g.channel and f.metric = g.metric
        returning f.date::text as date
      `.execute(trx);
    }
    out.deleted = deleted.rows.length;
    for (const r of deleted.rows) out.touched.add(r.date);
    // The campaigns' names commit with their facts: a reader never sees an id without its name.
    await recordCampaigns(trx, scope.connector, scope.account, seenCampaigns(combined));
    await options.within?.(trx, out);
    return out;
  });
}

/** Rows stored for (connector, account) on each of `dates` that has any. */
export async function storedRowsByDate(db: Executor, connector: string, account: string, dates: readonly DateString[]): Promise<Map<DateString, number>> {
  if (dates.length === 0) return new Map();
  const { rows } = await sql<{ date: DateString; n: number }>`
    select date::text as date, count(*)::int as n from metric_facts
    where connector = ${connector} and account = ${account} and date = any(${[...dates]}::date[])
    group by date
  `.execute(db);
  return new Map(rows.map((r) => [r.date, Number(r.n)]));
}

/** Whether (connector, account) has any stored fact in [from, to]. */
export async function hasStoredRows(db: Executor, connector: string, account: string, from: DateString, to: DateString): Promise<boolean> {
  const { rows } = await sql`select 1 from metric_facts where connector = ${connector} and account = ${account} and date between ${from}::date and ${to}::date limit 1`.execute(db);
  return rows.length > 0;
}
