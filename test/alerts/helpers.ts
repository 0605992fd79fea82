import { sql, type Kysely } from 'kysely';
import { parseConfig, type Config } from '../../src/config/index.ts';
import { configChecks } from '../../src/config-checks.ts';
import type { AlertNotification, Channel, Digest } from '../../src/notify/index.ts';
import type { Database, FactRow } from '../../src/warehouse/index.ts';

/** A config from YAML, checked like `kpi validate` does. */
export function configFrom(yaml: string, env: NodeJS.ProcessEnv = {}): Config {
  return parseConfig(yaml, 'kpi.yaml', { env, checks: configChecks });
}

export const at = (iso: string): Date => new Date(iso);

/** Facts of one paid-search-like source on the given days. */
export function days(source: Partial<FactRow> & { channel?: string }, values: Record<string, Record<string, number>>): FactRow[] {
  const out: FactRow[] = [];
  for (const [date, metrics] of Object.entries(values)) {
    for (const [metric, value] of Object.entries(metrics)) {
      out.push({ date, connector: source.connector ?? 'gads', account: source.account ?? 'acc', campaign: source.campaign ?? 'brand', channel: source.channel ?? 'paid_search', metric, value, currency: source.currency ?? 'USD' });
    }
  }
  return out;
}

export async function clearAlerts(db: Kysely<Database>): Promise<void> {
  await sql`truncate metric_facts, sync_runs, quarantine, alert_instances, alert_transitions, alert_outbox, alert_silences, digest_sends, channel_health`.execute(db);
}

export async function instances(db: Kysely<Database>, rule?: string) {
  let q = db.selectFrom('alert_instances').selectAll().orderBy('rule').orderBy('instance');
  if (rule) q = q.where('rule', '=', rule);
  return q.execute();
}

export async function stateOf(db: Kysely<Database>, rule: string, instance = ''): Promise<string | undefined> {
  const row = await db.selectFrom('alert_instances').select('state').where('rule', '=', rule).where('instance', '=', instance).executeTakeFirst();
  return row?.state;
}

export async function outbox(db: Kysely<Database>) {
  return db.selectFrom('alert_outbox').selectAll().orderBy('id').execute();
}

export interface SyncRunRow {
  connector: string;
  status: 'succeeded' | 'failed' | 'abandoned' | 'running';
  started: string;
  finished?: string;
  read?: number;
  rejected?: number;
  error?: string;
}

export async function addRuns(db: Kysely<Database>, runs: SyncRunRow[]): Promise<void> {
  await db
    .insertInto('sync_runs')
    .values(
      runs.map((r) => ({
        connector: r.connector,
        trigger: 'schedule',
        status: r.status,
        started_at: r.started,
        heartbeat_at: r.finished ?? r.started,
        finished_at: r.status === 'running' ? null : (r.finished ?? r.started),
        rows_read: r.read ?? 0,
        rows_rejected: r.rejected ?? 0,
        error: r.error ?? null,
      })),
    )
    .execute();
}

/** A channel that records what it is asked to send, and can be told to fail. */
export class RecordingChannel implements Channel {
  readonly sent: AlertNotification[] = [];
  readonly digests: Digest[] = [];
  failWith: Error | undefined;

  constructor(
    readonly name: string,
    readonly kind: 'slack' | 'email' = 'slack',
  ) {}

  async send(message: AlertNotification): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.sent.push(message);
  }

  async sendDigest(digest: Digest): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.digests.push(digest);
  }
}
