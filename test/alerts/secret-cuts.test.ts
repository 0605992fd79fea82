import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateAlerts } from '../../src/alerts/index.ts';
import { deliverOutbox, sendDigest } from '../../src/alerts/index.ts';
import { renderDigestSlack, renderSlackMessage } from '../../src/notify/index.ts';
import { clearSecrets, registerSecret } from '../../src/core/secrets.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { useWarehouse } from '../helpers/warehouse.ts';
import { alert, digest, quietLogger } from '../notify/helpers.ts';
import { at, clearAlerts, configFrom, days, outbox, RecordingChannel } from './helpers.ts';

// A secret placed so that every cut (Slack's 3000, the stored 2000) falls inside it: cutting
// before scrubbing would leave its first characters, which the scrubber no longer knows.
const SECRET = 'Zq9-very-secret-api-key-4711';
const around = (cut: number) => `${'x'.repeat(cut - 10)} key=${SECRET} and more`;
const anyPart = new RegExp(SECRET.slice(0, 3));

describe('texts cut for notifications are scrubbed of secrets first', () => {
  const wh = useWarehouse('postgres', clearAlerts);
  beforeAll(() => registerSecret(SECRET));
  afterAll(() => clearSecrets());

  it('in every text of a Slack alert and digest', () => {
    const message = renderSlackMessage(alert({ summary: around(3000), labels: { campaign: around(3000) } }));
    expect(JSON.stringify(message)).not.toMatch(anyPart);
    const [summary] = message.attachments![0]!.blocks;
    expect(summary).toEqual({ type: 'section', text: { type: 'mrkdwn', text: `${'x'.repeat(2990)} key=[red…` } });
    const d = JSON.stringify(renderDigestSlack(digest({ firing: [{ ruleName: 'r', summary: around(2900), since: '2026-03-02T00:00:00Z' }] })));
    expect(d).not.toMatch(anyPart);
  });

  it('in an outbox row’s last_error, and in digest_sends.error', async () => {
    const cfg = configFrom(`
channels:
  slack: { type: slack, url: "http://127.0.0.1:9/x" }
alerting: { groupWait: 0 }
alerts:
  - { name: spend_high, series: { kpi: spend, grain: day }, condition: { kind: threshold, op: above, threshold: 100 }, channels: [slack] }
digest: { schedule: "0 8 * * 1", timezone: UTC, channels: [slack], kpis: [spend], periods: 2 }
`);
    const failing = new RecordingChannel('slack');
    failing.failWith = new Error(around(2000));
    await upsertFacts(wh.db, days({}, { '2026-03-29': { spend: 500 } }));
    await evaluateAlerts(wh.db, cfg, { now: at('2026-03-30T06:00:00Z') });
    await deliverOutbox(wh.db, cfg, { now: at('2026-03-30T06:00:00Z'), channels: { slack: failing }, log: quietLogger });
    const [row] = await outbox(wh.db);
    expect(row!.last_error).toHaveLength(2000);
    expect(row!.last_error!.slice(-20)).toBe('xxxxxxxxxx key=[red…');
    expect(row!.last_error).not.toMatch(anyPart);

    await sendDigest(wh.db, cfg, { now: at('2026-03-30T06:00:00Z'), using: { slack: failing }, log: quietLogger });
    const sends = await wh.db.selectFrom('digest_sends').select(['status', 'error']).execute();
    expect(sends).toHaveLength(1);
    expect(sends[0]!.status).toBe('retrying');
    expect(sends[0]!.error!.slice(-20)).toBe('xxxxxxxxxx key=[red…');
    expect(sends[0]!.error).not.toMatch(anyPart);
  });

  it('in the summary an alert stores and queues', async () => {
    const cfg = configFrom(`
channels:
  slack: { type: slack, url: "http://127.0.0.1:9/x" }
connectors:
  - { name: shop, type: csv, path: ./shop.csv, date: { column: date }, metrics: { orders: orders } }
alerting: { groupWait: 0 }
alerts:
  - { name: sync_failing, condition: { kind: sync_failure, connectors: [shop], failures: 1 }, channels: [slack] }
`);
    const started = '2026-03-30T05:00:00Z';
    await wh.db.insertInto('sync_runs').values({ connector: 'shop', trigger: 'schedule', status: 'failed', started_at: started, heartbeat_at: started, finished_at: started, error: `${'e'.repeat(280)} ${SECRET}` }).execute();
    await evaluateAlerts(wh.db, cfg, { now: at('2026-03-30T06:00:00Z') });
    const [instance] = await wh.db.selectFrom('alert_instances').select(['last_summary', 'reason']).execute();
    const [row] = await outbox(wh.db);
    for (const text of [instance!.last_summary, instance!.reason, JSON.stringify(row!.payload)]) expect(text).not.toMatch(anyPart);
    expect(instance!.last_summary).toMatch(/; last error: e{280} \[redacted\]$/);
  });
});
