import type { Config, ConfigCheck, ConnectorConfig } from '../config/index.ts';
import { connectorMetrics } from '../config/index.ts';
import type { ConfigProblem } from '../core/errors.ts';
import { baseMetricNames, businessMetrics } from '../core/vocabulary.ts';
import { loadCatalogue } from './catalogue.ts';
import { closestName } from './formula/index.ts';

/**
 * Which connectors count for a base metric (config `metrics`), checked against the
 * vocabulary and the connectors; and the warning for a business metric that two connectors
 * write into one KPI with no choice made (GA4 and the shop both writing revenue).
 */

/** `metrics.<name>.from`: a base metric, connectors that exist and write it. */
export const checkMetricSources: ConfigCheck = (config) => {
  const problems: ConfigProblem[] = [];
  const byName = new Map(config.connectors.map((c) => [c.name, c] as const));
  for (const [metric, choice] of Object.entries(config.metrics)) {
    if (!baseMetricNames.has(metric)) {
      const close = closestName(metric, baseMetricNames);
      problems.push({ path: `metrics.${metric}`, message: `unknown base metric '${metric}'${close ? ` (did you mean '${close}'?)` : ''}: metrics chooses the connectors of a base metric such as revenue` });
      continue;
    }
    choice.from.forEach((name, i) => {
      const connector = byName.get(name);
      if (!connector) {
        const close = closestName(name, byName.keys());
        problems.push({ path: `metrics.${metric}.from[${i}]`, message: `unknown connector '${name}': connectors are named under connectors${close ? ` (did you mean '${close}'?)` : ''}` });
      } else if (!connectorMetrics(connector).includes(metric)) {
        problems.push({ path: `metrics.${metric}.from[${i}]`, message: `connector '${name}' does not write ${metric}, so counting ${metric} from it would count nothing` });
      }
    });
  }
  return problems;
};

/** Where in a connector's config it maps `metric`, for csv and http_json; the connector itself otherwise. */
function mappingPath(config: Config, connector: ConnectorConfig, metric: string): string {
  const at = `connectors[${config.connectors.indexOf(connector)}]`;
  if (connector.type === 'csv') return `${at}.metrics.${metric}`;
  if (connector.type === 'http_json') return `${at}.fields.metrics.${metric}`;
  return at;
}

/** Business metrics with two or more enabled writers feeding `kpi`, and no choice made. */
function summedTwice(config: Config, metrics: readonly string[], onlyConnectors: ReadonlySet<string> | undefined): Array<{ metric: string; writers: ConnectorConfig[] }> {
  return metrics
    .filter((m) => businessMetrics.has(m) && config.metrics[m] === undefined)
    .map((metric) => ({ metric, writers: config.connectors.filter((c) => c.enabled && (!onlyConnectors || onlyConnectors.has(c.name)) && connectorMetrics(c).includes(metric)) }))
    .filter((x) => x.writers.length >= 2);
}

const names = (list: readonly string[]): string => (list.length <= 1 ? (list[0] ?? '') : `${list.slice(0, -1).join(', ')} and ${list.at(-1)}`);

/** One warning per metric and set of writers, naming every KPI that sums them. */
export const warnDoubleCounting: ConfigCheck = (config) => {
  const catalogue = loadCatalogue(config.kpis);
  const found = new Map<string, { metric: string; writers: ConnectorConfig[]; kpis: string[] }>();
  for (const def of catalogue.list()) {
    const metrics = catalogue.compiled(def.name)?.baseMetrics ?? (baseMetricNames.has(def.name) ? [def.name] : []);
    const only = def.filter?.connector;
    const onlyConnectors = only === undefined ? undefined : new Set(typeof only === 'string' ? [only] : only);
    for (const { metric, writers } of summedTwice(config, [...metrics], onlyConnectors)) {
      const key = `${metric}\u0000${writers.map((w) => w.name).join(',')}`;
      const entry = found.get(key) ?? { metric, writers, kpis: [] };
      entry.kpis.push(def.name);
      found.set(key, entry);
    }
  }
  return [...found.values()].map(({ metric, writers, kpis }) => {
    const last = writers.at(-1)!;
    const listed = names(writers.map((w) => `${w.name} (${w.type})`));
    return {
      path: mappingPath(config, last, metric),
      message:
        `${metric} is written by ${listed}, and ${kpis.length === 1 ? 'KPI' : 'KPIs'} ${names(kpis)} would add them up, counting the same ${metric} twice; ` +
        `say which to count, e.g. metrics: { ${metric}: { from: [${last.name}] } }`,
    };
  });
};
