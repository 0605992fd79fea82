import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransientError } from '../../src/core/errors.ts';
import { evaluateAlerts } from '../../src/alerts/index.ts';
import { deliverOutbox } from '../../src/alerts/index.ts';
import { type AlertNotification, type Channel } from '../../src/notify/index.ts';
import { openWarehouse, type Warehouse } from '../../src/warehouse/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { testPostgres } from '../helpers/warehouse.ts';
import { reply, startHttp, type HttpServer } from '../notify/helpers.ts';
import { configFrom, days } from './helpers.ts';

/** Posts the notification's outbox ids over real HTTP; the receiver decides whether it was accepted. */
class HttpIdChannel implements Channel {
  readonly kind = 'slack' as const;
  constructor(
    readonly name: string,
    private readonly url: string,
    private readonly replica: string,
  ) {}

  async send(n: AlertNotification): Promise<void> {
    const res = await axios.post(this.url, { id: n.id, status: n.status, replica: this.replica, series: n.instances.map((i) => i.series) }, { validateStatus: () => true });
    if (res.status !== 200) throw new TransientError(`HTTP ${res.status}`);
  }

  async sendDigest(): Promise<void> {}
}

const CONFIG = configFrom(`
channels:
  slack: { type: slack, url: "http://127.0.0.1:9/unused" }
  mail: { type: email, host: 127.0.0.1, port: 9, from: a@example.com, to: [b@example.com] }
alerting: { groupWait: 0, evaluationInterval: 10s, claimTimeout: 5m }
alerts:
  - name: spend_high
    series: { kpi: spend, grain: day, dimension: campaign }
    condition: { kind: threshold, op: above, threshold: 100 }
    repeatInterval: 150s
    channels: [slack, mail]
  - name: clicks_low
    series: { kpi: clicks, grain: day, dimension: campaign }
    condition: { kind: threshold, op: below, threshold: 10 }
    for: 2
    channels: [slack]
`);

const CAMPAIGNS = ['a', 'b', 'c', 'd', 'e', 'f'];
const ROUNDS = 10;
const T0 = Date.parse('2026-03-03T06:00:00Z');

/** A fixed script of values per round, so two runs see the same data. */
function valuesFor(round: number): Record<string, { spend: number; clicks: number }> {
  // Campaign a stays high, so it is reminded about; the others come and go.
  return Object.fromEntries(CAMPAIGNS.map((c, i) => [c, { spend: c === 'a' ? 500 : ((round * 7 + i * 13) % 5) * 40, clicks: (round + i) % 3 === 0 ? 5 : 20 }]));
}

async function setFacts(wh: Warehouse, round: number) {
  for (const [campaign, v] of Object.entries(valuesFor(round))) await upsertFacts(wh.db, days({ campaign }, { '2026-03-02': v }));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('three evaluator + notifier replicas on one Postgres schema', () => {
  let server: HttpServer;
  let n = 0;
  const accepted: Array<{ id: string; replica: string }> = [];
  beforeAll(async () => {
    server = await startHttp((res, _n, req) => {
      // Every fifth request fails, so retries and claims change hands between replicas.
      if (++n % 5 === 0) return reply(res, 503, 'busy');
      accepted.push(JSON.parse(req.body) as { id: string; replica: string });
      reply(res, 200, 'ok');
    });
  });
  afterAll(async () => {
    await server.close();
  });

  /** Runs the script with `replicas` concurrent loops, each with its own pool; returns what the outbox holds. */
  async function run(replicas: number) {
    const admin = await testPostgres();
    const pools = await Promise.all(Array.from({ length: replicas }, () => openWarehouse({ url: admin.url, poolSize: 3 })));
    try {
      for (let round = 0; round < ROUNDS; round++) {
        await setFacts(admin, round);
        const now = T0 + round * 60_000;
        await Promise.all(
          pools.map(async (p, k) => {
            const owner = `replica-${k}`;
            const channels = { slack: new HttpIdChannel('slack', `${server.base}/slack`, owner), mail: new HttpIdChannel('mail', `${server.base}/mail`, owner) };
            // Each replica evaluates at its own moment within the tick, in its own order.
            await sleep(Math.random() * 15);
            await evaluateAlerts(p.db, CONFIG, { now: new Date(now + k * 500) });
            await sleep(Math.random() * 15);
            await deliverOutbox(p.db, CONFIG, { now: new Date(now + k * 500 + 1000), owner, channels });
            await deliverOutbox(p.db, CONFIG, { now: new Date(now + k * 500 + 2000), owner, channels });
          }),
        );
      }
      // Drain what is still backing off.
      for (let i = 0; i < 10; i++) {
        const later = new Date(T0 + ROUNDS * 60_000 + (i + 1) * 3_600_000);
        await Promise.all(pools.map((p, k) => deliverOutbox(p.db, CONFIG, { now: later, owner: `replica-${k}`, channels: { slack: new HttpIdChannel('slack', `${server.base}/slack`, `replica-${k}`), mail: new HttpIdChannel('mail', `${server.base}/mail`, `replica-${k}`) } })));
      }
      const rows = await admin.db.selectFrom('alert_outbox').selectAll().orderBy('id').execute();
      const transitions = await admin.db.selectFrom('alert_transitions').select(['rule', 'instance', 'seq', 'from_state', 'to_state']).orderBy('rule').orderBy('instance').orderBy('seq').execute();
      return { rows, transitions };
    } finally {
      await Promise.all(pools.map((p) => p.close()));
      await admin.close();
    }
  }

  it('queues the same notifications as one replica would, and each outbox row is accepted exactly once', async () => {
    const single = await run(1);
    accepted.length = 0;
    const three = await run(3);

    const key = (r: { rule: string; instance: string; episode: number; event: string; ordinal: number; channel: string }) => `${r.rule}/${r.instance}/${r.episode}/${r.event}/${r.ordinal}/${r.channel}`;
    expect(three.rows.map(key).sort()).toEqual(single.rows.map(key).sort());
    expect(three.transitions).toEqual(single.transitions);
    expect(three.rows.length).toBeGreaterThan(20);
    expect(new Set(three.rows.map((r) => r.event))).toEqual(new Set(['firing', 'repeat', 'resolved']));

    expect(three.rows.every((r) => r.status === 'sent')).toBe(true);
    const delivered = accepted.flatMap((a) => a.id.split('-').map(Number));
    expect(delivered.length).toBe(new Set(delivered).size);
    expect(delivered.sort((a, b) => a - b)).toEqual(three.rows.map((r) => r.id).sort((a, b) => a - b));
    // Work was shared, not done by one replica alone.
    expect(new Set(accepted.map((a) => a.replica)).size).toBeGreaterThan(1);
  });
});
