import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Table from 'cli-table3';
import { DateTime } from 'luxon';
import { parseDuration, type Config } from '../config/index.ts';
import { errorMessage } from '../errors.ts';
import { createLogger } from '../log.ts';
import { listAlertStates } from '../metrics/alerts/index.ts';
import { loadCatalogue } from '../metrics/index.ts';
import {
  addSilence,
  buildDigest,
  createChannel,
  digestFiles,
  endSilence,
  formatMatcher,
  formatValue,
  listSilences,
  matchesAll,
  parseMatcher,
  sendDigest,
  type AlertNotification,
  type Matcher,
  type Unit,
} from '../notify/index.ts';
import { redactSecrets } from '../secrets.ts';
import { loadCheckedConfig, openConfiguredWarehouse } from './context.ts';
import { ExitCode, line, type CliIo } from './io.ts';
import { shorten } from './runs.ts';

function zoneOf(config: Config): string {
  return config.alerting.timezone ?? config.reporting.timezone;
}

function when(d: Date | null, zone: string): string {
  return d ? DateTime.fromJSDate(d).setZone(zone).toFormat('yyyy-MM-dd HH:mm') : '';
}

// Commands print to the terminal; logs of the channels they use would only interleave with that.
const quiet = () => createLogger({ level: 'silent' });

function unitOf(config: Config, rule: Config['alerts'][number]): { unit: Unit; currency?: string } {
  const c = rule.condition;
  if (c.kind === 'goal' || c.kind === 'quarantine_rate') return { unit: 'percent' };
  if (!rule.series) return { unit: 'count' };
  const def = loadCatalogue(config.kpis).get(rule.series.kpi);
  return def?.unit === 'currency' ? { unit: 'currency', currency: config.reporting.currency } : { unit: def?.unit ?? 'ratio' };
}

export async function alertsListCommand(io: CliIo, file: string, options: { json?: boolean }): Promise<number> {
  const config = loadCheckedConfig(file, io);
  if (config.alerts.length === 0) {
    line(io, 'no alert rules configured (add them under alerts:)');
    return ExitCode.ok;
  }
  const wh = await openConfiguredWarehouse(config, io);
  try {
    const states = await listAlertStates(wh.db, config);
    if (options.json) {
      line(io, JSON.stringify(states, null, 2));
      return ExitCode.ok;
    }
    const zone = zoneOf(config);
    const rules = new Map(config.alerts.map((r) => [r.name, r]));
    const table = new Table({ head: ['rule', 'kind', 'severity', 'series', 'state', 'since', 'last value', 'firing since', 'reason'], style: { head: [], border: [] } });
    for (const s of states) {
      const u = unitOf(config, rules.get(s.rule)!);
      table.push([s.rule, s.kind, s.severity, s.state ? s.instance || '(all)' : '', s.state ?? 'not evaluated yet', when(s.since, zone), s.state ? formatValue(s.lastValue, u.unit, u.currency) : '', when(s.firingSince, zone), shorten(s.reason, 70)]);
    }
    line(io, `times in ${zone}`);
    line(io, table.toString());
    return ExitCode.ok;
  } finally {
    await wh.close();
  }
}

export async function alertsTestChannelCommand(io: CliIo, file: string, name: string): Promise<number> {
  const config = loadCheckedConfig(file, io);
  const cfg = config.channels[name];
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
    ...(config.alerting.link ? { link: config.alerting.link } : {}),
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
  matcher: string[];
  for: string;
  comment?: string;
  hold?: boolean;
}

export async function alertsSilenceCommand(io: CliIo, file: string, options: SilenceOptions): Promise<number> {
  let matchers: Matcher[];
  try {
    matchers = options.matcher.map(parseMatcher);
  } catch (err) {
    io.stderr.write(`error: ${errorMessage(err)}\n`);
    return ExitCode.usage;
  }
  const ms = parseDuration(options.for);
  if (!ms) {
    io.stderr.write(`error: --for expects a duration such as 30m, 2h or 1d, got "${options.for}"\n`);
    return ExitCode.usage;
  }
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
    const table = new Table({ head: ['id', 'matchers', 'starts', 'ends', 'action', 'comment', 'by'], style: { head: [], border: [] } });
    for (const s of silences) table.push([String(s.id), s.matchers.map(formatMatcher).join(', '), when(s.startsAt, zone), when(s.endsAt, zone), s.action, shorten(s.comment, 50), s.createdBy]);
    line(io, `times in ${zone}`);
    line(io, table.toString());
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
      io.stderr.write(`no active silence with id ${id}\n`);
      return ExitCode.failed;
    }
    line(io, `silence ${id} ended`);
    return ExitCode.ok;
  } finally {
    await wh.close();
  }
}

export interface DigestOptions {
  send?: boolean;
  out?: string;
  asOf?: string;
}

export async function digestCommand(io: CliIo, file: string, options: DigestOptions): Promise<number> {
  const config = loadCheckedConfig(file, io);
  const wh = await openConfiguredWarehouse(config, io);
  try {
    const zone = config.digest?.timezone ?? config.reporting.timezone;
    // A date means that day at noon where the digest is read; the digest covers the period before it.
    const asOf = options.asOf ? DateTime.fromISO(`${options.asOf}T12:00:00`, { zone }).toJSDate() : new Date();
    const digest = await buildDigest(wh.db, config, asOf);
    const files = digestFiles(digest);
    if (options.out) {
      const dir = path.resolve(io.cwd, options.out);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'digest.html'), files.html);
      writeFileSync(path.join(dir, 'digest.txt'), files.text);
      for (const image of files.images) writeFileSync(path.join(dir, image.filename), image.content);
      line(io, `wrote ${digest.periodLabel} to ${options.out}: digest.html, digest.txt${files.images.length ? ` and ${files.images.length} images` : ''}`);
    }
    if (!options.send) {
      if (!options.out) io.stdout.write(files.text);
      return ExitCode.ok;
    }
    const result = await sendDigest(wh.db, config, { now: asOf, force: true, log: quiet() });
    for (const name of result.sent) line(io, `sent the digest to ${name}`);
    for (const f of result.failed) io.stderr.write(`could not send the digest to ${f.channel}: ${f.error}\n`);
    return result.failed.length > 0 ? ExitCode.failed : ExitCode.ok;
  } finally {
    await wh.close();
  }
}
