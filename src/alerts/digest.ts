import { dashboardLink } from './report-link.ts';
import { DateTime } from 'luxon';
import type { Kysely } from 'kysely';
import { DIGEST_REPORT, dimensionLabel, type AlertRule, type Report } from '../config/index.ts';
import { ConfigError } from '../core/errors.ts';
import { withoutAliases } from '../metrics/aliases.ts';
import { dimensionLabels } from '../metrics/labels.ts';
import { changeTone, type Significance } from '../notify/index.ts';
import { assessGoals, kpiSeries, loadCatalogue, periodOf, shiftPeriod, type GoalsConfig, type Period } from '../metrics/index.ts';
import type { Database, DateString } from '../warehouse/index.ts';
import type { ChannelConfigInput } from '../notify/channels.ts';
import { renderDigestEmail } from '../notify/email-render.ts';
import type { Digest, DigestGoal, DigestKpi } from '../notify/types.ts';

/** What the digest needs from the configuration; a loaded Config is one. */
export interface DigestConfig extends GoalsConfig {
  /** significantChange: a change smaller than this is shown neither good nor bad. */
  reporting: GoalsConfig['reporting'] & { significantChange?: Significance };
  northStar?: string | undefined;
  /** Every scheduled report, the old `digest:` section's included (src/config/reports.ts). */
  reports: readonly Report[];
  alerts: ReadonlyArray<Pick<AlertRule, 'name' | 'title'>>;
  alerting: { link?: string | undefined };
  channels: Readonly<Record<string, ChannelConfigInput>>;
}

/**
 * The report called `name`; without one, the `digest` report, or the only report there is.
 * With no report configured at all, a weekly digest of every KPI that goes nowhere (for
 * `kpi digest` to print).
 */
export function reportNamed(config: DigestConfig, name?: string): Report {
  const names = config.reports.map((r) => r.name);
  if (name !== undefined) {
    const found = config.reports.find((r) => r.name === name);
    if (found) return found;
    throw new ConfigError([{ path: 'reports', message: `no report named '${name}'${names.length ? `; the reports are ${names.join(', ')}` : '; none is configured (add them under reports)'}` }]);
  }
  const chosen = config.reports.find((r) => r.name === DIGEST_REPORT) ?? (config.reports.length === 1 ? config.reports[0] : undefined);
  if (chosen) return chosen;
  if (config.reports.length > 1) throw new ConfigError([{ path: 'reports', message: `several reports are configured (${names.join(', ')}); name one with --report` }]);
  return { name: DIGEST_REPORT, path: 'digest', northStar: true, grain: 'week', schedule: '', timezone: config.reporting.timezone, channels: [], periods: 12 };
}

/** The period a report sent at `asOf` covers: the last whole day, week or month in its zone. */
export function reportPeriod(config: DigestConfig, report: Report, asOf: Date): Period {
  const today = DateTime.fromJSDate(asOf).setZone(report.timezone).toISODate()!;
  const current = periodOf(today, report.grain, config.reporting.weekStart);
  return periodOf(shiftPeriod(current.start, report.grain, -1), report.grain, config.reporting.weekStart);
}

function periodLabel(p: Period, grain: Report['grain']): string {
  const start = DateTime.fromISO(p.start, { zone: 'UTC' });
  const end = DateTime.fromISO(p.end, { zone: 'UTC' });
  if (grain === 'day') return start.toFormat('cccc d LLLL yyyy', { locale: 'en-US' });
  if (grain === 'month') return start.toFormat('LLLL yyyy', { locale: 'en-US' });
  const range =
    start.month === end.month ? `${start.day}–${end.toFormat('d LLL yyyy', { locale: 'en-US' })}` : `${start.toFormat('d LLL', { locale: 'en-US' })} – ${end.toFormat('d LLL yyyy', { locale: 'en-US' })}`;
  return `Week ${start.weekNumber}, ${range}`;
}

const GRAIN_WORD = { day: 'Daily', week: 'Weekly', month: 'Monthly' } as const;

function defaultTitle(report: Report): string {
  return report.name === DIGEST_REPORT ? `${GRAIN_WORD[report.grain]} KPI digest` : `${GRAIN_WORD[report.grain]} KPI report: ${report.name}`;
}

/** The KPIs a report shows: the North Star (unless it opts out), then its kpis (every config and built-in KPI without them). */
export function reportKpis(config: DigestConfig, report: Report): { chosen: string[]; names: string[] } {
  const catalogue = loadCatalogue(config.kpis);
  const chosen = report.kpis ? [...report.kpis] : [...catalogue.list('config'), ...catalogue.list('builtin')].map((d) => d.name);
  const star = report.northStar && config.northStar ? [config.northStar] : [];
  // One line per number: an alias (Blended CAC and CAC) would show the same value twice.
  const names = withoutAliases(catalogue, [...new Set([...star, ...chosen])]);
  return { chosen: chosen.filter((n) => names.includes(n)), names };
}

/** The default report's build (the `digest`, or the only report): see buildReport. */
export function buildDigest(db: Kysely<Database>, config: DigestConfig, asOf: Date, period?: Period): Promise<Digest> {
  const report = reportNamed(config);
  return buildReport(db, config, report, asOf, period ?? reportPeriod(config, report, asOf));
}

/**
 * A report for the last whole period as of `asOf`, or for `period` (a retried send): the
 * North Star and KPIs against the period before with their recent trend, goals and OKRs,
 * and the alerts firing at `asOf`.
 */
export async function buildReport(db: Kysely<Database>, config: DigestConfig, report: Report, asOf: Date, period: Period = reportPeriod(config, report, asOf)): Promise<Digest> {
  const s = report;
  const previousStart = shiftPeriod(period.start, s.grain, -1);
  const catalogue = loadCatalogue(config.kpis);
  const { chosen, names } = reportKpis(config, report);
  const star = report.northStar ? config.northStar : undefined;

  const from = shiftPeriod(period.start, s.grain, -(Math.max(2, s.periods) - 1));
  const points = names.length > 0 ? await kpiSeries(db, config, { kpi: names, grain: s.grain, from, to: period.end }) : [];
  const byKpi = new Map<string, Map<DateString, number | null>>();
  for (const p of points) {
    const m = byKpi.get(p.kpi) ?? new Map<DateString, number | null>();
    m.set(p.periodStart, p.value);
    byKpi.set(p.kpi, m);
  }
  const starts: DateString[] = [];
  for (let start = from; start <= period.start; start = shiftPeriod(start, s.grain, 1)) starts.push(start);

  const lineOf = (name: string): DigestKpi => {
    const def = catalogue.get(name);
    const values = byKpi.get(name);
    const value = values?.get(period.start) ?? null;
    const previous = values?.get(previousStart) ?? null;
    const line: DigestKpi = {
      name,
      label: def?.label ?? name,
      unit: def?.unit ?? 'ratio',
      ...(def?.unit === 'currency' ? { currency: config.reporting.currency } : {}),
      value,
      previous,
      changePct: value !== null && previous !== null && previous !== 0 ? ((value - previous) / Math.abs(previous)) * 100 : null,
      direction: def?.direction ?? 'higher',
      series: starts.map((st) => values?.get(st) ?? null),
    };
    return { ...line, tone: changeTone(line, config.reporting.significantChange) };
  };
  // Without an explicit list, KPIs with no value in either period would only be noise.
  const kpis = chosen
    .filter((n) => n !== star)
    .map(lineOf)
    .filter((l) => s.kpis !== undefined || l.value !== null || l.previous !== null);

  // Goals as report and alerts see them at the same moment: one assessment, as of the send
  // (on complete data), not as of the period's end.
  const goals = await assessGoals(db, config, asOf);
  const goalLine = new Map<string, DigestGoal>(goals.goals.map((g) => [g.goal, { name: g.goal, progress: g.progress ?? 0, expected: g.expected, status: g.status }]));

  const titles = new Map(config.alerts.map((r) => [r.name, r.title ?? r.name]));
  const firing = titles.size === 0 ? [] : await db
    .selectFrom('alert_instances')
    .select(['rule', 'instance', 'last_summary', 'firing_since'])
    .where('episode', 'is not', null)
    .where('rule', 'in', [...titles.keys()])
    .orderBy('firing_since')
    .execute();
  // A campaign series is keyed by its id ("gads:acc:901"): people read its latest name, as the alerts say it.
  const campaigns = await dimensionLabels(db, 'campaign', firing.map((f) => valueOf(f.instance, 'campaign')).filter((v) => v !== undefined));

  return {
    title: s.title ?? defaultTitle(report),
    periodLabel: periodLabel(period, s.grain),
    timeZone: s.timezone,
    ...(star ? { northStar: lineOf(star) } : {}),
    kpis,
    goals: [...goalLine.values()],
    okrs: goals.okrs.map((o) => ({
      objective: o.objective,
      progress: o.progress,
      status: o.status,
      keyResults: o.keyResults.map((kr) => goalLine.get(kr.goal) ?? { name: kr.goal, progress: kr.progress ?? 0, expected: 0, status: kr.status }),
    })),
    firing: firing.map((f) => ({
      ruleName: `${titles.get(f.rule) ?? f.rule}${f.instance ? ` (${instanceWords(config, f.instance, campaigns)})` : ''}`,
      summary: f.last_summary ?? '',
      since: new Date(f.firing_since ?? asOf).toISOString(),
    })),
    ...(dashboardLink(config) ? { link: dashboardLink(config)! } : {}),
  };
}

/** The value of a rule's series id ("campaign=gads:acc:901") when it is of `dimension`. */
function valueOf(instance: string, dimension: string): string | undefined {
  return instance.startsWith(`${dimension}=`) ? instance.slice(dimension.length + 1) : undefined;
}

/** A rule's series id ("connector=google-ads") in words ("Google Ads"); a campaign by its label. */
function instanceWords(config: DigestConfig, instance: string, campaigns: ReadonlyMap<string, string>): string {
  const at = instance.indexOf('=');
  const dimension = instance.slice(0, at);
  const value = instance.slice(at + 1);
  if (dimension === 'connector' || dimension === 'channel') return dimensionLabel(config.connectors, dimension, value);
  return dimension === 'campaign' ? `campaign ${campaigns.get(value) ?? value}` : instance.replace('=', ' ');
}

interface DigestFiles {
  /** The email's HTML with its images referenced by file name. */
  html: string;
  text: string;
  subject: string;
  images: Array<{ filename: string; content: Buffer }>;
}

/** The digest as files for a folder (`kpi digest --out`): what the email shows, readable in a browser. */
export function digestFiles(digest: Digest): DigestFiles {
  const mail = renderDigestEmail(digest);
  let html = mail.html;
  const used = new Set<string>();
  const images = mail.attachments.map((a, i) => {
    let filename = a.filename;
    if (used.has(filename)) filename = filename.replace(/\.png$/, `-${i + 1}.png`);
    used.add(filename);
    html = html.split(`cid:${a.cid}`).join(filename);
    return { filename, content: a.content };
  });
  return { html, text: mail.text, subject: mail.subject, images };
}
