import { randomUUID } from 'node:crypto';
import { DateTime } from 'luxon';
import { sql, type Kysely } from 'kysely';
import type { AlertRule } from '../config/index.ts';
import { ConfigError, errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { assessGoals, kpiSeries, loadCatalogue, periodOf, shiftPeriod, type GoalsConfig, type Period } from '../metrics/index.ts';
import { redactSecrets } from '../secrets.ts';
import type { Database, DateString } from '../warehouse/index.ts';
import { createChannel, type ChannelConfigInput } from './config.ts';
import type { Clock } from './delivery.ts';
import { renderDigestEmail } from './email-render.ts';
import type { Channel, Digest, DigestGoal, KpiLine } from './types.ts';

export interface DigestSettings {
  schedule?: string;
  timezone: string;
  channels: readonly string[];
  grain: 'week' | 'month';
  title?: string | undefined;
  kpis?: readonly string[] | undefined;
  periods: number;
}

/** What the digest needs from the configuration; a loaded Config is one. */
export interface DigestConfig extends GoalsConfig {
  northStar?: string | undefined;
  digest?: DigestSettings | undefined;
  alerts: ReadonlyArray<Pick<AlertRule, 'name' | 'title'>>;
  alerting: { link?: string | undefined };
  channels: Readonly<Record<string, ChannelConfigInput>>;
}

function settingsOf(config: DigestConfig): DigestSettings {
  return config.digest ?? { timezone: config.reporting.timezone, channels: [], grain: 'week', periods: 12 };
}

/** The period a digest sent at `asOf` reports on: the last complete week or month in its zone. */
export function digestPeriod(config: DigestConfig, asOf: Date): Period {
  const s = settingsOf(config);
  const today = DateTime.fromJSDate(asOf).setZone(s.timezone).toISODate()!;
  const current = periodOf(today, s.grain, config.reporting.weekStart);
  return periodOf(shiftPeriod(current.start, s.grain, -1), s.grain, config.reporting.weekStart);
}

function periodLabel(p: Period, grain: 'week' | 'month'): string {
  const start = DateTime.fromISO(p.start, { zone: 'UTC' });
  const end = DateTime.fromISO(p.end, { zone: 'UTC' });
  if (grain === 'month') return start.toFormat('LLLL yyyy', { locale: 'en-US' });
  const range =
    start.month === end.month ? `${start.day}–${end.toFormat('d LLL yyyy', { locale: 'en-US' })}` : `${start.toFormat('d LLL', { locale: 'en-US' })} – ${end.toFormat('d LLL yyyy', { locale: 'en-US' })}`;
  return `Week ${start.weekNumber}, ${range}`;
}

/**
 * The digest for the last complete week (or month) as of `asOf`: the North Star and KPIs
 * against the period before with their recent trend, goals and OKRs, and the alerts firing now.
 */
export async function buildDigest(db: Kysely<Database>, config: DigestConfig, asOf: Date): Promise<Digest> {
  const s = settingsOf(config);
  const period = digestPeriod(config, asOf);
  const previousStart = shiftPeriod(period.start, s.grain, -1);
  const catalogue = loadCatalogue(config.kpis);
  const chosen = s.kpis ? [...s.kpis] : [...catalogue.list('config'), ...catalogue.list('builtin')].map((d) => d.name);
  const names = [...new Set([...(config.northStar ? [config.northStar] : []), ...chosen])];

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

  const lineOf = (name: string): KpiLine => {
    const def = catalogue.get(name);
    const values = byKpi.get(name);
    const value = values?.get(period.start) ?? null;
    const previous = values?.get(previousStart) ?? null;
    return {
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
  };
  // Without an explicit list, KPIs with no value in either period would only be noise.
  const kpis = chosen
    .filter((n) => n !== config.northStar)
    .map(lineOf)
    .filter((l) => s.kpis !== undefined || l.value !== null || l.previous !== null);

  const goals = await assessGoals(db, config, period.end);
  const goalLine = new Map<string, DigestGoal>(goals.goals.map((g) => [g.goal, { name: g.goal, progress: g.progress ?? 0, expected: g.expected, status: g.status }]));

  const titles = new Map(config.alerts.map((r) => [r.name, r.title ?? r.name]));
  const firing = titles.size === 0 ? [] : await db
    .selectFrom('alert_instances')
    .select(['rule', 'instance', 'last_summary', 'firing_since'])
    .where('episode', 'is not', null)
    .where('rule', 'in', [...titles.keys()])
    .orderBy('firing_since')
    .execute();

  return {
    title: s.title ?? (s.grain === 'week' ? 'Weekly KPI digest' : 'Monthly KPI digest'),
    periodLabel: periodLabel(period, s.grain),
    timeZone: s.timezone,
    ...(config.northStar ? { northStar: lineOf(config.northStar) } : {}),
    kpis,
    goals: [...goalLine.values()],
    okrs: goals.okrs.map((o) => ({
      objective: o.objective,
      progress: o.progress,
      status: o.status,
      keyResults: o.keyResults.map((kr) => goalLine.get(kr.goal) ?? { name: kr.goal, progress: kr.progress ?? 0, expected: 0, status: kr.status }),
    })),
    firing: firing.map((f) => ({
      ruleName: `${titles.get(f.rule) ?? f.rule}${f.instance ? ` (${f.instance})` : ''}`,
      summary: f.last_summary ?? '',
      since: new Date(f.firing_since ?? asOf).toISOString(),
    })),
    ...(config.alerting.link ? { link: config.alerting.link } : {}),
  };
}

export interface DigestFiles {
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

export interface SendDigestOptions {
  /** When the digest is sent; it reports on the last complete period before it. */
  now?: Date;
  /** Default: digest.channels. */
  channels?: readonly string[];
  /** Channel objects by name, instead of building them from config. */
  using?: Readonly<Record<string, Channel>>;
  /** Send even if this period's digest already went out to a channel (`kpi digest --send`). */
  force?: boolean;
  owner?: string;
  log?: Logger;
  clock?: Clock;
}

export interface SendDigestResult {
  digest: Digest;
  sent: string[];
  /** Already sent for this period, or being sent by another replica. */
  skipped: string[];
  failed: Array<{ channel: string; error: string }>;
}

const CLAIM_MS = 10 * 60_000;

/**
 * Sends the digest to its channels, once per period and channel however many schedulers
 * fire: a row in digest_sends is claimed before the send, and a failed or abandoned one is
 * taken up again by the next run.
 */
export async function sendDigest(db: Kysely<Database>, config: DigestConfig, options: SendDigestOptions = {}): Promise<SendDigestResult> {
  const now = options.now ?? new Date();
  const s = settingsOf(config);
  const names = options.channels ?? s.channels;
  if (names.length === 0) throw new ConfigError([{ path: 'digest.channels', message: 'no channels to send the digest to; add a digest section with channels' }]);
  const owner = options.owner ?? `digest-${randomUUID()}`;
  const period = digestPeriod(config, now);
  const digest = await buildDigest(db, config, now);
  const result: SendDigestResult = { digest, sent: [], skipped: [], failed: [] };

  for (const name of names) {
    const until = new Date(now.getTime() + CLAIM_MS);
    const claimed = await sql<{ channel: string }>`
      insert into digest_sends (grain, period_start, channel, status, claimed_by, claimed_until, attempts)
      values (${s.grain}, ${period.start}::date, ${name}, 'sending', ${owner}, ${until}, 1)
      on conflict (grain, period_start, channel) do update
        set status = 'sending', claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until, attempts = digest_sends.attempts + 1
        where ${options.force === true} or digest_sends.status = 'failed' or (digest_sends.status = 'sending' and digest_sends.claimed_until < ${now})
      returning channel`.execute(db);
    if (claimed.rows.length === 0) {
      result.skipped.push(name);
      continue;
    }
    try {
      const channel = options.using?.[name] ?? channelFromConfig(config, name, options);
      await channel.sendDigest(digest);
      await db.updateTable('digest_sends').set({ status: 'sent', sent_at: now, claimed_by: null, claimed_until: null, error: null }).where('grain', '=', s.grain).where('period_start', '=', period.start).where('channel', '=', name).execute();
      result.sent.push(name);
      options.log?.info({ channel: name, period: period.start }, 'digest sent');
    } catch (err) {
      const error = redactSecrets(errorMessage(err));
      await db.updateTable('digest_sends').set({ status: 'failed', error: error.slice(0, 2000), claimed_by: null, claimed_until: null }).where('grain', '=', s.grain).where('period_start', '=', period.start).where('channel', '=', name).execute();
      result.failed.push({ channel: name, error });
      options.log?.warn({ channel: name, err: error }, 'digest could not be sent');
    }
  }
  return result;
}

function channelFromConfig(config: DigestConfig, name: string, options: SendDigestOptions): Channel {
  const cfg = config.channels[name];
  if (!cfg) throw new ConfigError([{ path: 'digest.channels', message: `no channel named '${name}' is configured` }]);
  return createChannel(cfg, { name, ...(options.log ? { logger: options.log } : {}), ...(options.clock ? { clock: options.clock } : {}) });
}
