import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { DateTime } from 'luxon';
import { parseConfig } from '../../src/config/index.ts';
import { connectorFor, runSync, type ConnectorConfig } from '../../src/connectors/index.ts';
import { createLogger } from '../../src/core/log.ts';
import { createDataset, restate, startMailchimpFake, startSendgridFake, MAILCHIMP_API_KEY, SENDGRID_API_KEY, type Dataset, type FakeServer } from '../../src/sandbox/index.ts';
import { listQuarantine, type Warehouse } from '../../src/warehouse/index.ts';
import { testWarehouse } from '../helpers/warehouse.ts';

const END = '2026-03-31';
const logLines: string[] = [];
const log = createLogger({ level: 'debug', destination: new Writable({ write: (c, _e, cb) => (logLines.push(String(c)), cb()) }) });
const now = () => new Date(`${END}T20:00:00Z`);

function fact(f: { date: string; campaign: string; metric: string; value: number }) {
  return `${f.date} ${f.campaign} ${f.metric}=${Math.round(f.value * 1e6) / 1e6}`;
}

/** Expected Mailchimp facts straight from the data set's campaign reports. */
function mailchimpExpected(ds: Dataset, from: string, to: string): string[] {
  const out: string[] = [];
  for (const c of ds.mailchimp.campaigns) {
    const date = DateTime.fromISO(c.send_time, { setZone: true }).toUTC().toISODate()!;
    if (date < from || date > to) continue;
    const bounces = c.bounces.hard_bounces + c.bounces.soft_bounces + c.bounces.syntax_errors;
    const m: Record<string, number> = {
      email_sent: c.emails_sent,
      email_delivered: c.emails_sent - bounces,
      email_opens: c.opens.opens_total,
      email_unique_opens: c.opens.unique_opens,
      email_clicks: c.clicks.clicks_total,
      email_unique_clicks: c.clicks.unique_clicks,
      email_bounces: bounces,
      email_hard_bounces: c.bounces.hard_bounces,
      email_soft_bounces: c.bounces.soft_bounces,
      email_unsubscribes: c.unsubscribed,
      email_spam_reports: c.abuse_reports,
    };
    for (const [metric, value] of Object.entries(m)) out.push(fact({ date, campaign: c.settings.title, metric, value }));
  }
  return out.sort();
}

function sendgridExpected(ds: Dataset, from: string, to: string, byCategory: boolean): string[] {
  const sums = new Map<string, number>();
  const names: Record<string, string> = {
    requests: 'email_sent', delivered: 'email_delivered', opens: 'email_opens', unique_opens: 'email_unique_opens', clicks: 'email_clicks',
    unique_clicks: 'email_unique_clicks', bounces: 'email_bounces', spam_reports: 'email_spam_reports', unsubscribes: 'email_unsubscribes',
  };
  for (const row of ds.sendgrid.range(from, to)) {
    for (const [source, metric] of Object.entries(names)) {
      const key = `${row.date}\u0000${byCategory ? row.category : ''}\u0000${metric}`;
      sums.set(key, (sums.get(key) ?? 0) + row.metrics[source as keyof typeof row.metrics]);
    }
  }
  return [...sums.entries()].map(([k, value]) => {
    const [date, campaign, metric] = k.split('\u0000') as [string, string, string];
    return fact({ date, campaign, metric, value });
  }).sort();
}

describe('email connectors against their fakes', () => {
  let wh: Warehouse;
  let ds: Dataset;
  let mailchimp: FakeServer<unknown>;
  let sendgrid: FakeServer<unknown>;

  beforeAll(async () => {
    wh = await testWarehouse('postgres');
    ds = createDataset({ seed: 7, endDate: END, days: 90 });
    mailchimp = (await startMailchimpFake(ds)) as FakeServer<unknown>;
    sendgrid = (await startSendgridFake(ds)) as FakeServer<unknown>;
  });
  afterAll(async () => {
    await mailchimp.close();
    await sendgrid.close();
    await wh.close();
  });
  beforeEach(async () => {
    await sql`truncate metric_facts, checkpoints, sync_runs, quarantine`.execute(wh.db);
    mailchimp.faults.length = 0;
    sendgrid.faults.length = 0;
  });

  function config(yaml: string, env: Record<string, string>): ConnectorConfig {
    return parseConfig(`connectors:\n${yaml}`, 'kpi.yaml', { env }).connectors[0]!;
  }
  const mcConfig = () =>
    config(`  - { name: mc, type: mailchimp, apiKey: "\${env:MC_KEY}", baseUrl: "\${env:MC_URL}", startDate: ${ds.startDate} }`, { MC_KEY: MAILCHIMP_API_KEY, MC_URL: mailchimp.url });
  const sgConfig = (categories = false) =>
    config(`  - { name: sg, type: sendgrid, apiKey: "\${env:SG_KEY}", baseUrl: "\${env:SG_URL}", startDate: ${ds.startDate}${categories ? ', categories: [newsletter, transactional]' : ''} }`, {
      SG_KEY: SENDGRID_API_KEY,
      SG_URL: sendgrid.url,
    });
  async function facts(connector: string) {
    const rows = await wh.db.selectFrom('metric_facts').select(['date', 'campaign', 'metric', 'value', 'channel']).where('connector', '=', connector).execute();
    expect(new Set(rows.map((r) => r.channel))).toEqual(new Set(['email']));
    return rows.map(fact).sort();
  }
  const sync = async (c: ConnectorConfig) => runSync({ db: wh.db, connector: await connectorFor(c.type), config: c, log, now });

  it('Mailchimp: every campaign report of the window, by send date; a re-sync writes nothing', async () => {
    const res = await sync(mcConfig());
    expect(res.error).toBeUndefined();
    expect(await facts('mc')).toEqual(mailchimpExpected(ds, ds.startDate, END));
    expect(res.run.rows_read).toBe(ds.mailchimp.campaigns.length);
    const again = await sync(mcConfig());
    expect(again.run).toMatchObject({ status: 'succeeded', rows_written: 0, rows_deleted: 0 });
  });

  it('Mailchimp: a report that changed after sending is read again within the 30-day lookback', async () => {
    await sync(mcConfig());
    const recent = ds.mailchimp.campaigns.map((c) => c.send_time.slice(0, 10)).filter((d) => d > '2026-03-10').at(-1)!;
    restate(ds, { source: 'mailchimp', date: recent, factor: 1.5 });
    try {
      const res = await sync(mcConfig());
      expect(res.run.rows_written).toBeGreaterThan(0);
      expect(res.run.touched_from).toBe(recent);
      expect(await facts('mc')).toEqual(mailchimpExpected(ds, ds.startDate, END));
    } finally {
      restate(ds, { source: 'mailchimp', date: recent, factor: 1 });
    }
  });

  it('Mailchimp: 429 (too many connections) and a 5xx burst are retried; a bad key is a config error without the key', async () => {
    mailchimp.faults.push({ kind: '429', retryAfterSec: 0, times: 1 }, { kind: '503', times: 2 });
    const ok = await sync(mcConfig());
    expect(ok.run.status).toBe('succeeded');
    const bad = config(`  - { name: mc, type: mailchimp, apiKey: "\${env:MC_KEY}", baseUrl: "\${env:MC_URL}" }`, { MC_KEY: 'ffffffffffffffffwrongkey-us6', MC_URL: mailchimp.url });
    logLines.length = 0;
    const res = await sync(bad);
    expect(res.run).toMatchObject({ status: 'failed', error_kind: 'config' });
    expect(res.run.error).toMatch(/credentials were rejected .*HTTP 401: Your API key may be invalid/);
    expect(res.run.error).not.toContain('ffffffffffffffffwrongkey');
    expect(logLines.join('')).not.toContain('ffffffffffffffffwrongkey');
  });

  it('Mailchimp: a report whose number changed type is quarantined and the rest are stored', async () => {
    mailchimp.faults.push({ kind: 'typeChange', times: 1 });
    const res = await sync(mcConfig());
    expect(res.run).toMatchObject({ status: 'succeeded', rows_rejected: 1 });
    const q = await listQuarantine(wh.db, { syncRunId: res.run.id });
    expect(q[0]?.reason).toMatch(/expected number/);
  });

  it('SendGrid: global stats by day, re-sync idempotent', async () => {
    const res = await sync(sgConfig());
    expect(res.error).toBeUndefined();
    expect(await facts('sg')).toEqual(sendgridExpected(ds, ds.startDate, END, false));
    expect((await sync(sgConfig())).run).toMatchObject({ rows_written: 0, rows_deleted: 0 });
  });

  it('SendGrid: per category, the category is the campaign; a restated day is replaced', async () => {
    await sync(sgConfig(true));
    expect(await facts('sg')).toEqual(sendgridExpected(ds, ds.startDate, END, true));
    restate(ds, { source: 'sendgrid', date: '2026-03-25', factor: 2 });
    try {
      const res = await sync(sgConfig(true));
      expect(res.run).toMatchObject({ touched_from: '2026-03-25', touched_to: '2026-03-25' });
      expect(await facts('sg')).toEqual(sendgridExpected(ds, ds.startDate, END, true));
    } finally {
      restate(ds, { source: 'sendgrid', date: '2026-03-25', factor: 1 });
    }
  });

  it('SendGrid: rate limited (429 with X-RateLimit-Reset) and truncated JSON are retried', async () => {
    sendgrid.faults.push({ kind: '429', retryAfterSec: 0, times: 1 }, { kind: 'malformed', times: 1 });
    const res = await sync(sgConfig());
    expect(res.run.status).toBe('succeeded');
    expect(await facts('sg')).toEqual(sendgridExpected(ds, ds.startDate, END, false));
  });
});
