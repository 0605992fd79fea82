import { dashboardLink } from '../alerts/report-link.ts';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import Table from 'cli-table3';
import type { Kysely } from 'kysely';
import { DateTime } from 'luxon';
import type { Config } from '../config/index.ts';
import { errorMessage } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { effectiveRules, hasHistory, listAlertStates, listHistory, type HistoryEntry } from '../alerts/index.ts';
import { loadCatalogue } from '../metrics/index.ts';
import { closestName } from '../metrics/formula/index.ts';
import { addSilence, buildReport, deliveryFailures, describeFailures, digestFiles, digestRetries, digestsWaiting, endSilence, formatMatcher, listSilences, matcherProblem, matchesAll, reportLabel, reportNamed, sendDigest, type Matcher } from '../alerts/index.ts';
import { createChannel, formatValue, type AlertNotification } from '../notify/index.ts';
import { redactSecrets } from '../core/secrets.ts';
import type { KpiUnit } from '../core/vocabulary.ts';
import type { Database } from '../warehouse/index.ts';
import { writableDir, type Since } from './args.ts';
import { loadCheckedConfig, openConfiguredWarehouse } from './context.ts';
import { ExitCode, line, type CliIo } from './io.ts';
import { shorten } from './runs.ts';
import { dataTable } from './table.ts';

function zoneOf(config: Config): string {
  return config.alerting.timezone ?? config.reporting.timezone;
}

function when(d: Date | null, zone: string): string {
  return d ? DateTime.fromJSDate(d).setZone(zone).toFormat('yyyy-MM-dd HH:mm') : '';
}

// Commands print to the terminal; logs of the channels they use would only interleave with that.
const quiet = () => createLogger({ level: 'silent' });

function unitOf(config: Config, rule: Config['alerts'][number]): { unit: KpiUnit; currency?: string } {
  const c = rule.condition;
  if (c.kind === 'goal' || c.kind === 'quarantine_rate') return { unit: 'percent' };
  if (!rule.series) return { unit: 'count' };
  const def = loadCatalogue(config.kpis).get(rule.series.kpi);
  return def?.unit === 'currency' ? { unit: 'currency', currency: config.reporting.currency } : { unit: def?.unit ?? 'ratio' };
}

// How far back `kpi alerts list` shows failed deliveries.
const FAILURES_SHOWN_MS = 7 * 86_400_000;

/** Notifications and digests that failed for good lately, and digests waiting for a retry; nothing when there are none. */
async function deliveryProblems(db: Kysely<Database>, zone: string): Promise<string[]> {
  const now = new Date();
  const failures = await deliveryFailures(db, new Date(now.getTime() - FAILURES_SHOWN_MS), now);
  const retrying = await digestRetries(db);
  if (failures.length === 0 && retrying.length === 0) return [];
  const table = new Table({ head: ['channel', 'failed', 'last', 'last error'], style: { head: [], border: [] } });
  for (const f of failures) table.push([f.channel, describeFailures(f), when(f.lastAt, zone), shorten(f.lastError, 70)]);
  for (const r of retrying) table.push([r.channel, `${reportLabel(r.report)} of ${r.periodStart}: attempt ${r.attempts} failed, retrying at ${when(r.at, zone)}`, '', shorten(r.error, 70)]);
  return ['delivery failures in the last 7 days (failed for good unless retrying):', table.toString()];
}

/**
 * Reports not sent for a period because a KPI they show is not complete yet (a source that
 * never finished its first sync keeps them waiting for good): which, for what, and to whom.
 */
async function waitingReports(db: Kysely<Database>, config: Config, zone: string): Promise<string[]> {
  const waiting = await digestsWaiting(db, config.reports.map((r) => r.name));
  if (waiting.length === 0) return [];
  const table = dataTable(['report', 'period', 'channels', 'waiting for', 'looked at again']);
  for (const w of waiting) table.push([w.report, `${w.grain} of ${w.periodStart}`, w.channels.join(', '), shorten(w.reason, 90), when(w.at, zone)]);
  return ['reports not sent yet, waiting for complete data:', table.toString()];
}

export async function alertsListCommand(io: CliIo, file: string, options: { json?: boolean }): Promise<number> {
  const config = loadCheckedConfig(file, io);
  if (config.alerts.length === 0 && config.reports.length === 0) {
    line(io, 'no alert rules configured (add them under alerts:)');
    return ExitCode.ok;
  }
  const wh = await openConfiguredWarehouse(config, io);
  try {
    // With the built-in channel-failing rule, when it is on.
    const rules = effectiveRules(config);
    const states = await listAlertStates(wh.db, { alerts: rules });
    if (options.json) {
      line(io, JSON.stringify(states, null, 2));
      return ExitCode.ok;
    }
    const zone = zoneOf(config);
    const problems = [...(await deliveryProblems(wh.db, zone)), ...(await waitingReports(wh.db, config, zone))];
    if (config.alerts.length === 0) {
      line(io, 'no alert rules configured (add them under alerts:)');
      for (const text of problems) line(io, text);
      return ExitCode.ok;
    }
    const byName = new Map(rules.map((r) => [r.name, r]));
    const table = dataTable(['rule', 'kind', 'severity', 'series', 'state', 'since', 'last value', 'firing since', 'reason']);
    for (const s of states) {
      const u = unitOf(config, byName.get(s.rule)!);
      table.push([s.rule, s.kind, s.severity, s.state ? s.instance || '(all)' : '', s.state ?? 'not evaluated yet', when(s.since, zone), s.state ? formatValue(s.lastValue, u.unit, u.currency) : '', when(s.firingSince, zone), shorten(s.reason, 70)]);
    }
    line(io, `times in ${zone}`);
    line(io, table.toString());
    for (const text of problems) line(io, text);
    return ExitCode.ok;
  } finally {
    await wh.close();
  }
}

export interface HistoryOptions {
  rule?: string;
  since?: Since;
  json?: boolean;
}

// How far back `kpi alerts history` goes without --since.
const HISTORY_DEFAULT_MS = 7 * 86_400_000;

function historyRow(e: HistoryEntry, zone: string): string[] {
  const when = DateTime.fromJSDate(e.at).setZone(zone).toFormat('yyyy-MM-dd HH:mm:ss');
  const series = e.instance || '(all)';
  if (e.kind === 'transition') return [when, e.rule, series, `${e.from} → ${e.to}`, '', shorten(e.reason, 90)];
  return [when, e.rule, series, `${e.event} via ${e.channel}`, e.result, shorten(e.detail, 90)];
}

/** Every transition and notification with its delivery result, newest first; exit 2 for a rule that never was. */
export async function alertsHistoryCommand(io: CliIo, file: string, options: HistoryOptions): Promise<number> {
  const config = loadCheckedConfig(file, io);
  const zone = zoneOf(config);
  const now = new Date();
  const since = !options.since
    ? new Date(now.getTime() - HISTORY_DEFAULT_MS)
    : 'ms' in options.since
      ? new Date(now.getTime() - options.since.ms)
      : DateTime.fromISO(options.since.day, { zone }).startOf('day').toJSDate();
  const wh = await openConfiguredWarehouse(config, io);
  try {
    const names = effectiveRules(config).map((r) => r.name);
    // A rule removed from the config still has its history; a name that never was is a typo.
    if (options.rule !== undefined && !names.includes(options.rule) && !(await hasHistory(wh.db, options.rule))) {
      const close = closestName(options.rule, names);
      io.stderr.write(`error: unknown rule '${options.rule}'${close ? ` (did you mean '${close}'?)` : ''}; ${names.length ? `configured: ${names.join(', ')}` : 'none are configured (add them under alerts:)'}\n`);
      return ExitCode.usage;
    }
    const { entries, olderLeftOut } = await listHistory(wh.db, { since, ...(options.rule !== undefined ? { rule: options.rule } : {}) });
    if (options.json) {
      line(io, JSON.stringify(entries, null, 2));
      if (olderLeftOut) io.stderr.write(`older entries left out: the list holds what came after ${when(olderLeftOut, zone)} (${zone}); narrow it with --since or --rule\n`);
      return ExitCode.ok;
    }
    const scope = `${options.rule ? `of ${options.rule} ` : ''}since ${when(since, zone)} (${zone})`;
    if (entries.length === 0) {
      line(io, `no alert history ${scope}`);
      return ExitCode.ok;
    }
    const table = dataTable(['time', 'rule', 'series', 'event', 'result', 'detail']);
    for (const e of entries) table.push(historyRow(e, zone));
    line(io, `alert history ${scope}, newest first`);
    line(io, table.toString());
    if (olderLeftOut) line(io, `older entries left out: the list holds what came after ${when(olderLeftOut, zone)} (${zone}); narrow it with --since or --rule`);
    return ExitCode.ok;
  } finally {
    await wh.close();
  }
}

export async function alertsTestChannelCommand(io: CliIo, file: string, name: string): Promise<number> {
  const config = loadCheckedConfig(file, io);
  // Own keys only: `valueOf` or `__proto__` would otherwise find what every object inherits.
  const cfg = Object.hasOwn(config.channels, name) ? config.channels[name] : undefined;
  if (!cfg) {
    const known = Object.keys(config.channels);
    io.stderr.write(`no channel named '${name}'; ${known.length ? `configured: ${known.join(', ')}` : 'none are configured (add them under channels:)'}\n`);
    return ExitCode.usage;
  }
  const now = new Date();
  const message: AlertNotification = {
    id: `test-${now.getTime()}`,
    status: 'firing',
    ruleName: 'Test notification',
    severity: 'info',
    summary: `A test from kpi-pipeline to channel '${name}': if you can read this, alerts reach this channel.`,
    labels: { channel: name },
    instances: [{ series: 'test', value: 1, unit: 'count' }],
    startsAt: now.toISOString(),
    ...(dashboardLink(config) ? { link: dashboardLink(config)! } : {}),
    timeZone: zoneOf(config),
  };
  try {
    const channel = createChannel(cfg, { name, logger: quiet() });
    await channel.send(message);
    line(io, `sent a test notification to ${name} (${channel.kind})`);
    return ExitCode.ok;
  } catch (err) {
    io.stderr.write(`could not send a test notification to ${name}: ${redactSecrets(errorMessage(err))}\n`);
    return ExitCode.failed;
  }
}

export interface SilenceOptions {
  /** Parsed and checked by the command line. */
  matcher: Matcher[];
  /** How long, in milliseconds. */
  for: number;
  comment?: string;
  hold?: boolean;
}

export async function alertsSilenceCommand(io: CliIo, file: string, options: SilenceOptions): Promise<number> {
  const { matcher: matchers, for: ms } = options;
  const config = loadCheckedConfig(file, io);
  const wh = await openConfiguredWarehouse(config, io);
  try {
    const now = new Date();
    const s = await addSilence(wh.db, { matchers, startsAt: now, endsAt: new Date(now.getTime() + ms), action: options.hold ? 'hold' : 'drop', comment: options.comment ?? '', createdBy: io.env.USER ?? '' });
    const firing = (await listAlertStates(wh.db, config)).filter((i) => i.firingSince && matchesAll(matchers, i.labels));
    const zone = zoneOf(config);
    line(io, `silence ${s.id}: ${matchers.map(formatMatcher).join(', ')} until ${when(s.endsAt, zone)} (${zone}); notifications are ${s.action === 'hold' ? 'held until it ends' : 'dropped'}`);
    line(io, firing.length ? `matches ${firing.length} firing series: ${firing.map((f) => `${f.rule}${f.instance ? `{${f.instance}}` : ''}`).join(', ')}` : 'matches no series that is firing now');
    return ExitCode.ok;
  } finally {
    await wh.close();
  }
}

export async function alertsSilencesCommand(io: CliIo, file: string, options: { all?: boolean }): Promise<number> {
  const config = loadCheckedConfig(file, io);
  const wh = await openConfiguredWarehouse(config, io);
  try {
    const silences = await listSilences(wh.db, { all: options.all === true });
    if (silences.length === 0) {
      line(io, options.all ? 'no silences' : 'no active silences');
      return ExitCode.ok;
    }
    const zone = zoneOf(config);
    const table = dataTable(['id', 'matchers', 'starts', 'ends', 'action', 'comment', 'by']);
    for (const s of silences) table.push([String(s.id), s.matchers.map(formatMatcher).join(', '), when(s.startsAt, zone), when(s.endsAt, zone), s.action, shorten(s.comment, 50), s.createdBy]);
    line(io, `times in ${zone}`);
    line(io, table.toString());
    for (const s of silences) {
      for (const m of s.matchers) {
        const problem = matcherProblem(m);
        if (problem) line(io, `silence ${s.id} matches nothing: ${problem}`);
      }
    }
    return ExitCode.ok;
  } finally {
    await wh.close();
  }
}

export async function alertsUnsilenceCommand(io: CliIo, file: string, id: number): Promise<number> {
  const config = loadCheckedConfig(file, io);
  const wh = await openConfiguredWarehouse(config, io);
  try {
    if (!(await endSilence(wh.db, id))) {
      // Like an unknown connector or channel: the argument names nothing that can be ended.
      io.stderr.write(`no active silence with id ${id}\n`);
      return ExitCode.usage;
    }
    line(io, `silence ${id} ended`);
    return ExitCode.ok;
  } finally {
    await wh.close();
  }
}

export interface DigestOptions {
  /** Which report (reports[].name); default the digest, or the only report. */
  report?: string;
  send?: boolean;
  out?: string;
  asOf?: string;
}

export async function digestCommand(io: CliIo, file: string, options: DigestOptions): Promise<number> {
  const config = loadCheckedConfig(file, io);
  const wh = await openConfiguredWarehouse(config, io);
  try {
    const report = reportNamed(config, options.report);
    // A date means that day at noon where the report is read; it covers the period before it.
    const asOf = options.asOf ? DateTime.fromISO(`${options.asOf}T12:00:00`, { zone: report.timezone }).toJSDate() : new Date();
    const digest = await buildReport(wh.db, config, report, asOf);
    const files = digestFiles(digest);
    if (options.out) {
      const dir = writableDir('--out', options.out, io.cwd);
      writeFileSync(path.join(dir, 'digest.html'), files.html);
      writeFileSync(path.join(dir, 'digest.txt'), files.text);
      for (const image of files.images) writeFileSync(path.join(dir, image.filename), image.content);
      line(io, `wrote ${digest.periodLabel} to ${options.out}: digest.html, digest.txt${files.images.length ? ` and ${files.images.length} images` : ''}`);
    }
    if (!options.send) {
      if (!options.out) io.stdout.write(files.text);
      return ExitCode.ok;
    }
    const result = await sendDigest(wh.db, config, { report: report.name, now: asOf, force: true, log: quiet() });
    for (const name of result.sent) line(io, `sent ${reportLabel(report.name)} to ${name}`);
    for (const f of result.failed) io.stderr.write(`could not send ${reportLabel(report.name)} to ${f.channel}: ${f.error}\n`);
    return result.failed.length > 0 ? ExitCode.failed : ExitCode.ok;
  } finally {
    await wh.close();
  }
}
