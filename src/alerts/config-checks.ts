import { DIGEST_REPORT, INHIBITING_KINDS, type Config, type ConfigCheck } from '../config/index.ts';
import type { ConfigProblem } from '../core/errors.ts';
import { builtinKpis } from '../metrics/catalogue.ts';
import { closestName } from '../metrics/formula/index.ts';
import { baseMetricNames } from '../core/vocabulary.ts';

function unknown(what: string, name: string, known: Iterable<string>, where: string): string {
  const close = closestName(name, known);
  return `unknown ${what} '${name}'${where}${close ? ` (did you mean '${close}'?)` : ''}`;
}

/** Alert rules and the reports against the KPIs, goals, connectors, channels and mute windows they name. */
const checkAlerts: ConfigCheck = (config: Config) => {
  const kpis = new Set([...baseMetricNames, ...builtinKpis.map((k) => k.name), ...config.kpis.map((k) => k.name)]);
  const channels = new Set(Object.keys(config.channels));
  const goals = new Set(config.goals.map((g) => g.name));
  const connectors = new Set(config.connectors.map((c) => c.name));
  const windows = new Set(Object.keys(config.alerting.muteWindows));
  const problems: ConfigProblem[] = [];
  const seen = new Map<string, number>();
  const inhibiting = config.alerts.filter((r) => INHIBITING_KINDS.has(r.condition.kind)).map((r) => r.name);

  config.alerts.forEach((rule, i) => {
    const at = `alerts[${i}]`;
    const first = seen.get(rule.name);
    if (first !== undefined) problems.push({ path: `${at}.name`, message: `alert rule '${rule.name}' is defined more than once (also alerts[${first}])` });
    else seen.set(rule.name, i);
    if (rule.series && !kpis.has(rule.series.kpi)) problems.push({ path: `${at}.series.kpi`, message: unknown('KPI', rule.series.kpi, kpis, ': not a base metric, a built-in KPI or one in kpis') });
    rule.channels.forEach((c, j) => {
      if (!channels.has(c)) problems.push({ path: `${at}.channels[${j}]`, message: unknown('channel', c, channels, channels.size ? ': channels are named under channels' : ': no channels are configured') });
    });
    rule.muteWindows.forEach((w, j) => {
      if (!windows.has(w)) problems.push({ path: `${at}.muteWindows[${j}]`, message: unknown('mute window', w, windows, ': mute windows are named under alerting.muteWindows') });
    });
    const c = rule.condition;
    if (c.kind === 'goal') {
      c.goals?.forEach((g, j) => {
        if (!goals.has(g)) problems.push({ path: `${at}.condition.goals[${j}]`, message: unknown('goal', g, goals, ': goals are named under goals') });
      });
      if (!c.goals && goals.size === 0) problems.push({ path: `${at}.condition`, message: 'a goal rule needs goals, and none are configured' });
    }
    if (c.kind === 'anomaly' && c.minVolume?.kpi && !kpis.has(c.minVolume.kpi)) {
      problems.push({ path: `${at}.condition.minVolume.kpi`, message: unknown('KPI', c.minVolume.kpi, kpis, '') });
    }
    if ((c.kind === 'freshness' || c.kind === 'sync_failure' || c.kind === 'quarantine_rate' || c.kind === 'token_expiry') && c.connectors) {
      c.connectors.forEach((name, j) => {
        if (!connectors.has(name)) problems.push({ path: `${at}.condition.connectors[${j}]`, message: unknown('connector', name, connectors, ': connectors are named under connectors') });
      });
    }
    rule.inhibitedBy?.forEach((name, j) => {
      const source = config.alerts.find((r) => r.name === name);
      if (!source) problems.push({ path: `${at}.inhibitedBy[${j}]`, message: unknown('alert rule', name, inhibiting, inhibiting.length ? ': inhibitedBy names sync_failure or freshness rules' : ': no sync_failure or freshness rule is configured') });
      else if (!INHIBITING_KINDS.has(source.condition.kind)) problems.push({ path: `${at}.inhibitedBy[${j}]`, message: `'${name}' is a ${source.condition.kind} rule; only sync_failure and freshness rules inhibit others` });
    });
    if (c.kind === 'delivery_failure') {
      c.watch?.forEach((name, j) => {
        if (!channels.has(name)) problems.push({ path: `${at}.condition.watch[${j}]`, message: unknown('channel', name, channels, ': channels are named under channels') });
      });
    }
  });

  problems.push(...reportProblems(config, kpis, channels));
  return problems;
};

/** Each report (the old `digest:` section's too) against the KPIs and channels it names; names are unique. */
function reportProblems(config: Config, kpis: ReadonlySet<string>, channels: ReadonlySet<string>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const seen = new Map<string, string>();
  for (const report of config.reports) {
    const at = report.path;
    const first = seen.get(report.name);
    if (first !== undefined) {
      const why = at === 'digest' || first === 'digest' ? ` (the digest section is the report named '${DIGEST_REPORT}'; move it under reports or rename this one)` : '';
      problems.push({ path: at === 'digest' ? 'digest' : `${at}.name`, message: `report '${report.name}' is defined more than once (also ${first})${why}` });
    } else seen.set(report.name, at);
    report.channels.forEach((c, j) => {
      if (!channels.has(c)) problems.push({ path: `${at}.channels[${j}]`, message: unknown('channel', c, channels, channels.size ? ': channels are named under channels' : ': no channels are configured') });
    });
    report.kpis?.forEach((k, j) => {
      if (!kpis.has(k)) problems.push({ path: `${at}.kpis[${j}]`, message: unknown('KPI', k, kpis, '') });
    });
  }
  return problems;
}

export const alertChecks: readonly ConfigCheck[] = [checkAlerts];
