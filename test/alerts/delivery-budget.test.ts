import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverOutbox, evaluateAlerts } from '../../src/alerts/index.ts';
import { testClock } from '../../src/core/resilience/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { useWarehouse } from '../helpers/warehouse.ts';
import { quietLogger, reply, startHttp, type HttpServer } from '../notify/helpers.ts';
import { at, clearAlerts, configFrom, days, outbox } from './helpers.ts';

/*
 * A Slack channel's quick retries run inside one outbox delivery, while the rows are claimed.
 * They must end while the claim holds: past it, another replica takes the rows over and the
 * message goes out twice.
 */

const T = at('2026-03-03T06:00:00Z');

describe('quick retries within one delivery end inside the claim', () => {
  const wh = useWarehouse('postgres', clearAlerts);
  let slack: HttpServer;
  beforeAll(async () => {
    // Rate-limited for good, each time asking for 40 s.
    slack = await startHttp((res) => reply(res, 429, 'rate_limited', { 'retry-after': '40' }));
  });
  afterAll(async () => {
    await slack.close();
  });

  it('with a 1-minute claim, a 40 s Retry-After is handed to the outbox instead of waited for inside the delivery', async () => {
    const config = configFrom(`
channels:
  slack: { type: slack, url: "${slack.base}/services/T/B/budget", minIntervalMs: 0, maxRetries: 10 }
alerting: { groupWait: 0, claimTimeout: 1m }
alerts:
  - { name: spend_high, series: { kpi: spend, grain: day }, condition: { kind: threshold, op: above, threshold: 100 }, channels: [slack] }
`);
    await upsertFacts(wh.db, days({}, { '2026-03-02': { spend: 150 } }));
    await evaluateAlerts(wh.db, config, { now: T });
    const clock = testClock(T.getTime());
    expect(await deliverOutbox(wh.db, config, { now: T, clock, log: quietLogger })).toMatchObject({ sent: 0, retrying: 1 });
    // One post, no wait inside the delivery: the 40 s would not have ended within half the claim.
    expect(slack.requests).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
    const [row] = await outbox(wh.db);
    expect(row).toMatchObject({ status: 'pending', attempts: 1, claimed_by: null, not_before: new Date(T.getTime() + 40_000) });
    expect(row!.last_error).toBe('Slack webhook "slack" failed after 1 attempts: HTTP 429 rate_limited');
  });
});
