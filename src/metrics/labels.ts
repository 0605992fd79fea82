import { campaignNames, type CampaignName, type Executor } from '../warehouse/index.ts';
import type { Dimension } from './aggregate.ts';

/**
 * How dimension values read for people. A campaign keyed by the platform's id (see
 * src/warehouse/campaigns.ts) reads as its latest name; where another campaign has that name
 * too (another id, or a campaign known by name only), its id is added: "Spring sale (123)".
 * A campaign without a name reads as its id. Every other value reads as itself.
 */
export async function dimensionLabels(db: Executor, dimension: Dimension, values: Iterable<string>): Promise<Map<string, string>> {
  const all = [...new Set(values)];
  const labels = new Map(all.map((v) => [v, v]));
  if (dimension !== 'campaign' || all.length === 0) return labels;
  const byKey = await campaignNames(db, { keys: all });
  if (byKey.length === 0) return labels;
  // Every campaign that shares a name with one shown here, wherever it is: a label must not
  // change with the series a query happens to return.
  const named = await campaignNames(db, { names: [...new Set(byKey.map((c) => c.name).filter((n) => n !== ''))] });
  const idsOfName = new Map<string, Set<string>>();
  for (const c of [...byKey, ...named]) idsOfName.set(c.name, (idsOfName.get(c.name) ?? new Set()).add(c.key));
  const known = new Set(byKey.map((c) => c.key));
  // Values that are no id key are campaigns known by name: an id campaign of that name is told apart from them.
  const plainNames = new Set(all.filter((v) => !known.has(v)));
  const shared = (c: CampaignName) => (idsOfName.get(c.name)?.size ?? 0) > 1 || plainNames.has(c.name);
  const first = new Map(byKey.map((c) => [c.key, c.name === '' ? c.campaignId : shared(c) ? `${c.name} (${c.campaignId})` : c.name]));
  // One id in two accounts or sources with one name (rare: ids are the platform's) also names where it is.
  const counts = new Map<string, number>();
  for (const label of first.values()) counts.set(label, (counts.get(label) ?? 0) + 1);
  for (const c of byKey) {
    const label = first.get(c.key)!;
    labels.set(c.key, (counts.get(label) ?? 0) > 1 ? `${c.name || c.campaignId} (${c.connector} ${c.account} ${c.campaignId})` : label);
  }
  return labels;
}
