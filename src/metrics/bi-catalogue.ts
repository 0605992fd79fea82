import type { Kysely } from 'kysely';
import type { OkrConfig } from '../config/index.ts';
import type { KpiUnit } from '../core/vocabulary.ts';
import { replaceConfigTables, type ConfigTableRows, type Database } from '../warehouse/index.ts';
import { loadCatalogue } from './catalogue.ts';
import { kpiSourceRows, type CompletenessConfig } from './completeness.ts';
import type { MetricsConfig } from './context.ts';

/**
 * The parts of the configuration the BI views need (migration 014): the KPI catalogue with how
 * each value is shown, and each OKR's key results. Only the file holds them, and a BI tool reads
 * the database alone, so they are copied there whenever a process loads the configuration.
 */

/** Currencies Grafana has a unit of its own for; any other is shown with its code after the value. */
const GRAFANA_CURRENCIES = new Set(['USD', 'EUR', 'GBP', 'JPY', 'CHF', 'SEK', 'NOK', 'DKK', 'PLN', 'CZK', 'BRL', 'INR', 'KRW', 'ZAR', 'ISK', 'IDR', 'PHP', 'VND', 'RUB', 'UAH']);

/** A display unit in Grafana's vocabulary: percent values are fractions (percentunit), money is the reporting currency. */
export function displayFormat(unit: KpiUnit, currency: string): string {
  if (unit === 'percent') return 'percentunit';
  if (unit === 'currency') return GRAFANA_CURRENCIES.has(currency) ? `currency${currency}` : `suffix: ${currency}`;
  return unit === 'count' ? 'short' : 'none';
}

/** The kpi_catalogue and okr_key_results rows `config` says. */
function biCatalogueRows(config: MetricsConfig & { okrs?: readonly OkrConfig[] }): Pick<ConfigTableRows, 'kpi_catalogue' | 'okr_key_results'> {
  const currency = config.reporting.currency;
  const kpis = loadCatalogue(config.kpis)
    .list()
    .map((d, position) => ({
      kpi: d.name,
      position,
      label: d.label,
      unit: d.unit,
      direction: d.direction,
      format: displayFormat(d.unit, currency),
      currency: d.unit === 'currency' ? currency : null,
      description: d.description ?? null,
      formula: d.formula,
      source: d.source,
      updated_at: new Date(),
    }));
  const keyResults = (config.okrs ?? []).flatMap((o) => o.keyResults.map((k, position) => ({ okr: o.name, objective: o.objective, position, goal: k.goal, weight: k.weight })));
  return { kpi_catalogue: kpis, okr_key_results: keyResults };
}

/** Replaces kpi_catalogue and okr_key_results with what `config` says, in one transaction (writers queue, see replaceConfigTables). */
export async function storeBiCatalogue(db: Kysely<Database>, config: MetricsConfig & { okrs?: readonly OkrConfig[] }): Promise<void> {
  await replaceConfigTables(db, biCatalogueRows(config));
}

/**
 * What a process does with a configuration it loaded, before it computes or judges anything:
 * which connectors feed each KPI (the kpi_values view's `complete`), and the catalogue and
 * OKRs the BI views read. All three in one transaction: processes with different files
 * writing at once leave one file's tables, never a mix.
 */
export async function storeConfigTables(db: Kysely<Database>, config: CompletenessConfig & { okrs?: readonly OkrConfig[] }): Promise<void> {
  await replaceConfigTables(db, { kpi_sources: kpiSourceRows(config), ...biCatalogueRows(config) });
}
