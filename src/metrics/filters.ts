import { sql, type RawBuilder } from 'kysely';
import { idKeySql } from '../warehouse/index.ts';

const filterKeys = ['account', 'campaign', 'channel', 'connector'] as const;
export type FilterKey = (typeof filterKeys)[number];

/** Fact columns a KPI, a goal or a query may be restricted to; a list means any of them. */
export type Filter = Partial<Record<FilterKey, string | readonly string[]>>;

/**
 * A filter in one canonical shape (keys and values sorted, no duplicates), so two filters
 * that mean the same share one aggregate column. `null` matches no fact at all: what
 * `{channel: email}` inside `{channel: paid_search}` leaves.
 */
export type NormalFilter = ReadonlyArray<readonly [FilterKey, readonly string[]]>;

export const NO_FILTER: NormalFilter = [];

export function normalizeFilter(filter: Filter | undefined): NormalFilter | null {
  const out: Array<readonly [FilterKey, readonly string[]]> = [];
  for (const key of filterKeys) {
    const raw = filter?.[key];
    if (raw === undefined) continue;
    const values = [...new Set(typeof raw === 'string' ? [raw] : raw)].sort();
    if (values.length === 0) return null;
    out.push([key, values]);
  }
  return out;
}

/** Facts that match both. A KPI referenced from a filtered KPI is seen through both filters. */
export function intersectFilters(a: NormalFilter | null, b: NormalFilter | null): NormalFilter | null {
  if (a === null || b === null) return null;
  const out: Array<readonly [FilterKey, readonly string[]]> = [];
  for (const key of filterKeys) {
    const x = a.find(([k]) => k === key)?.[1];
    const y = b.find(([k]) => k === key)?.[1];
    if (x === undefined && y === undefined) continue;
    const values = x === undefined ? y! : y === undefined ? x : x.filter((v) => y.includes(v));
    if (values.length === 0) return null;
    out.push([key, values]);
  }
  return out;
}

export function filterKey(filter: NormalFilter | null): string {
  return JSON.stringify(filter);
}

/**
 * Facts of the campaigns `values` name: by name where facts are keyed by name; by latest name,
 * id or key (campaignKey) where they have an id, so a filter on a campaign's name follows it
 * through a rename. The subquery does not depend on the row: it runs once, as a hashed set.
 */
function campaignCondition(values: readonly string[]): RawBuilder<boolean> {
  const list = [...values];
  return sql<boolean>`(case when f.campaign_id = '' then f.campaign = any(${list}::text[]) else (f.connector, f.account, f.campaign_id) in (
    select c.connector, c.account, c.campaign_id from campaigns c
    where c.name = any(${list}::text[]) or c.campaign_id = any(${list}::text[]) or ${idKeySql('c')} = any(${list}::text[])
  ) end)`;
}

/** A condition on metric_facts aliased `f`; keys come from the fixed list above, never from input. */
export function filterCondition(filter: NormalFilter): RawBuilder<boolean> {
  if (filter.length === 0) return sql<boolean>`true`;
  return sql<boolean>`(${sql.join(
    filter.map(([key, values]) => (key === 'campaign' ? campaignCondition(values) : sql`${sql.ref(`f.${key}`)} = any(${[...values]}::text[])`)),
    sql` and `,
  )})`;
}
