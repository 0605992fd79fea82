import type { KpiConfig } from '../config/index.ts';
import { ConfigError, type ConfigProblem } from '../core/errors.ts';
import { checkFormulas, type CompiledKpi, type FormulaNode } from './formula/index.ts';
import type { Filter } from './filters.ts';
import { baseMetrics, baseMetricNames, type KpiDirection, type KpiUnit } from '../core/vocabulary.ts';


interface KpiDefinition {
  name: string;
  label: string;
  /** For a base metric, its own name: the metric summed over the period. */
  formula: string;
  /** Percent values are fractions (0.05 is 5%); currency is the reporting currency. */
  unit: KpiUnit;
  direction: KpiDirection;
  description?: string;
  /** Only facts matching this count towards the KPI, wherever it is used. */
  filter?: Filter;
  source: 'metric' | 'builtin' | 'config';
}

type Builtin = Omit<KpiDefinition, 'source'>;

const rate = (name: string, label: string, formula: string, direction: KpiDirection = 'higher', description?: string): Builtin => ({
  name,
  label,
  formula,
  unit: 'percent',
  direction,
  ...(description ? { description } : {}),
});
const money = (name: string, label: string, formula: string, direction: KpiDirection, description?: string): Builtin => ({
  name,
  label,
  formula,
  unit: 'currency',
  direction,
  ...(description ? { description } : {}),
});

/**
 * The marketing KPIs every installation gets. Each is a ratio of period sums of base
 * metrics; a config KPI of the same name replaces one, and config KPIs may reference them.
 */
export const builtinKpis: readonly KpiDefinition[] = (
  [
    rate('ctr', 'Click-through rate', 'clicks / impressions'),
    money('cpc', 'Cost per click', 'spend / clicks', 'lower'),
    money('cpm', 'Cost per mille', 'spend / impressions * 1000', 'lower', 'cost of a thousand ad impressions'),
    rate('conversion_rate', 'Conversion rate (site)', 'key_events / sessions', 'higher', 'GA4 key events per session'),
    rate('click_conversion_rate', 'Conversion rate (ads)', 'conversions / clicks', 'higher', 'ad-platform conversions per click'),
    money('cpa', 'Cost per acquisition', 'spend / conversions', 'lower'),
    money('cac', 'Customer acquisition cost', 'spend / new_customers', 'lower'),
    { name: 'roas', label: 'Return on ad spend', formula: 'conversion_value / spend', unit: 'ratio', direction: 'higher' },
    rate('roi', 'Return on investment', '(revenue - spend) / spend'),
    // Shops report orders; sites measured by GA4 only have transactions.
    money('aov', 'Average order value', 'revenue / coalesce(orders, transactions)', 'higher', 'revenue per order (transactions where no orders are reported)'),
    money('revenue_per_user', 'Revenue per user', 'revenue / users', 'higher'),
    {
      name: 'purchase_frequency',
      label: 'Purchase frequency',
      formula: 'coalesce(orders, transactions) / customers',
      unit: 'ratio',
      direction: 'higher',
      description: 'orders per buying customer in the period',
    },
    // Revenue per customer with the period as the window: it needs no assumption about
    // margin or lifetime. Installations that know both override `clv` in config, e.g.
    // `aov * purchase_frequency * (gross_margin / revenue) * 24` for a two-year lifetime
    // on a monthly grain.
    money('clv', 'Customer lifetime value', 'revenue / customers', 'higher', 'revenue per buying customer over the period'),
    rate('bounce_rate', 'Bounce rate', '1 - engaged_sessions / sessions', 'lower', 'share of sessions that were not engaged (GA4)'),
    rate('engagement_rate', 'Engagement rate', 'engaged_sessions / sessions'),
    rate('open_rate', 'Email open rate', 'email_unique_opens / email_delivered'),
    rate('click_rate', 'Email click rate', 'email_unique_clicks / email_delivered'),
    rate('click_to_open_rate', 'Email click-to-open rate', 'email_unique_clicks / email_unique_opens'),
    rate('unsubscribe_rate', 'Email unsubscribe rate', 'email_unsubscribes / email_delivered', 'lower'),
    rate('email_bounce_rate', 'Email bounce rate', 'email_bounces / email_sent', 'lower'),
    rate('lead_conversion_rate', 'Lead conversion rate', 'qualified_leads / leads', 'higher', 'leads that became opportunities'),
    rate('lead_to_customer_rate', 'Lead-to-customer rate', 'new_customers / leads', 'higher', 'leads that became customers'),
    rate('organic_ctr', 'Organic search CTR', 'search_clicks / search_impressions'),
    {
      name: 'avg_search_position',
      label: 'Average search position',
      formula: 'search_position_sum / search_impressions',
      unit: 'ratio',
      direction: 'lower',
      description: 'impression-weighted average position in organic search',
    },
  ] satisfies Builtin[]
).map((k) => ({ ...k, source: 'builtin' as const }));

const LOWER_IS_BETTER_METRICS = new Set(['spend', 'email_bounces', 'email_hard_bounces', 'email_soft_bounces', 'email_unsubscribes', 'email_spam_reports', 'search_position_sum']);

const metricKpis: readonly KpiDefinition[] = baseMetrics.map((m) => ({
  name: m.name,
  label: m.name.charAt(0).toUpperCase() + m.name.slice(1).replace(/_/g, ' '),
  formula: m.name,
  unit: m.money ? 'currency' : 'count',
  direction: LOWER_IS_BETTER_METRICS.has(m.name) ? 'lower' : 'higher',
  description: m.description,
  source: 'metric',
}));

/** Every KPI an installation can use: base metrics, built-ins, and its config's KPIs. */
export class Catalogue {
  readonly #definitions: ReadonlyMap<string, KpiDefinition>;
  readonly #compiled: ReadonlyMap<string, CompiledKpi>;
  readonly #additive = new Map<string, boolean>();

  constructor(definitions: ReadonlyMap<string, KpiDefinition>, compiled: ReadonlyMap<string, CompiledKpi>) {
    this.#definitions = definitions;
    this.#compiled = compiled;
  }

  /** Only KPIs whose formulas compiled: a KPI with a config problem is never evaluated. */
  get(name: string): KpiDefinition | undefined {
    return baseMetricNames.has(name) || this.#compiled.has(name) ? this.#definitions.get(name) : undefined;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Undefined for a base metric, which needs no formula. */
  compiled(name: string): CompiledKpi | undefined {
    return this.#compiled.get(name);
  }

  /** Base metrics first, then built-ins, then config KPIs (in config order). */
  list(source?: KpiDefinition['source']): KpiDefinition[] {
    return [...this.#definitions.values()].filter((d) => (source === undefined || d.source === source) && this.has(d.name));
  }

  /**
   * Whether the KPI over a window equals the sum of its values over the periods in it
   * (spend does, CTR does not). Goals accumulate such KPIs from zero and forecast them
   * by adding up future periods.
   */
  isAdditive(name: string): boolean {
    if (baseMetricNames.has(name)) return true;
    const cached = this.#additive.get(name);
    if (cached !== undefined) return cached;
    const kpi = this.#compiled.get(name);
    // Set before walking: compiled KPIs are acyclic, but this keeps a bug from recursing forever.
    this.#additive.set(name, false);
    const result = kpi !== undefined && this.#additiveNode(kpi.ast);
    this.#additive.set(name, result);
    return result;
  }

  #additiveNode(node: FormulaNode): boolean {
    switch (node.kind) {
      case 'number':
        return false;
      case 'ref':
        return this.isAdditive(node.name);
      case 'unary':
        return this.#additiveNode(node.operand);
      case 'binary':
        if (node.op === '+' || node.op === '-') return this.#additiveNode(node.left) && this.#additiveNode(node.right);
        if (node.op === '*') return (node.left.kind === 'number' && this.#additiveNode(node.right)) || (node.right.kind === 'number' && this.#additiveNode(node.left));
        return node.right.kind === 'number' && this.#additiveNode(node.left);
      case 'call':
        return (node.fn === 'sum' || node.fn === 'avg') && node.args[0] !== undefined && this.#additiveNode(node.args[0]);
    }
  }
}

interface CatalogueCheck {
  catalogue: Catalogue;
  /** Each with the config path of the KPI to fix (`kpis[2].formula`). */
  problems: ConfigProblem[];
}

const NAME_PROBLEM = /same name as a base metric|is not a valid KPI name|defined more than once/;

/** Builds the catalogue for a config's KPIs and says everything wrong with them at once. */
export function checkCatalogue(kpis: readonly KpiConfig[]): CatalogueCheck {
  const problems: ConfigProblem[] = [];
  const indexOf = new Map<string, number>();
  kpis.forEach((k, i) => {
    const first = indexOf.get(k.name);
    if (first === undefined) indexOf.set(k.name, i);
    else problems.push({ path: `kpis[${i}].name`, message: `KPI '${k.name}' is defined more than once (also kpis[${first}])` });
  });

  const definitions = new Map<string, KpiDefinition>();
  for (const m of metricKpis) definitions.set(m.name, m);
  for (const b of builtinKpis) definitions.set(b.name, b);
  const custom = [...indexOf.values()].map((i) => kpis[i]!);
  for (const k of custom) {
    // A clash with a base metric is reported below; the metric keeps its meaning.
    if (baseMetricNames.has(k.name)) continue;
    definitions.set(k.name, {
      name: k.name,
      label: k.label ?? definitions.get(k.name)?.label ?? k.name,
      formula: k.formula,
      unit: k.unit,
      direction: k.direction,
      ...(k.description !== undefined ? { description: k.description } : {}),
      ...(k.filter !== undefined ? { filter: k.filter } : {}),
      source: 'config',
    });
  }

  // Config KPIs first, so a cycle through a built-in is reported on the config KPI that made it.
  const customNames = new Set(custom.map((k) => k.name));
  const defs = [...custom.map((k) => ({ name: k.name, formula: k.formula })), ...builtinKpis.filter((b) => !customNames.has(b.name))];
  const { compiled, problems: formulaProblems } = checkFormulas(defs, baseMetricNames);
  for (const p of formulaProblems) {
    const i = indexOf.get(p.kpi);
    // A built-in only fails through a broken config KPI it uses, which is reported already.
    if (i === undefined) continue;
    const field = p.column === undefined && NAME_PROBLEM.test(p.message) ? 'name' : 'formula';
    const message = p.message.startsWith(`KPI '${p.kpi}'`) ? p.message : `KPI '${p.kpi}': ${p.message}`;
    problems.push({ path: `kpis[${i}].${field}`, message });
  }
  // In config order, so the list reads top to bottom like the file.
  const at = (p: ConfigProblem) => Number(/^kpis\[(\d+)\]/.exec(p.path)?.[1] ?? 0);
  problems.sort((a, b) => at(a) - at(b));
  return { catalogue: new Catalogue(definitions, compiled), problems };
}

const cache = new WeakMap<readonly KpiConfig[], Catalogue>();

/** The catalogue for running: throws the ConfigError that the config check would have reported. */
export function loadCatalogue(kpis: readonly KpiConfig[] = []): Catalogue {
  const cached = cache.get(kpis);
  if (cached) return cached;
  const { catalogue, problems } = checkCatalogue(kpis);
  if (problems.length > 0) throw new ConfigError(problems);
  cache.set(kpis, catalogue);
  return catalogue;
}

/** A catalogue KPI by name, or a ConfigError naming the unknown one. */
export function requireKpi(catalogue: Catalogue, name: string): KpiDefinition {
  const def = catalogue.get(name);
  if (!def) throw new ConfigError(`unknown KPI '${name}': not a base metric, a built-in KPI or one in config.kpis`);
  return def;
}
