import { describe, expect, it } from 'vitest';
import { createAlertsEngine } from '../../src/alerts/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { useWarehouse } from '../helpers/warehouse.ts';
import { at, clearAlerts, configFrom, days, outbox, RecordingChannel } from './helpers.ts';

const T = at('2026-03-03T06:00:00Z');

const config = configFrom(`
channels:
  slack: { type: slack, url: "http://127.0.0.1:9/unused", minIntervalMs: 0, maxRetries: 0 }
alerting: { groupWait: 45s }
alerts:
  - name: spend_high
    series: { kpi: spend, grain: day, dimension: campaign }
    condition: { kind: threshold, op: above, threshold: 100 }
    channels: [slack]
`);

describe('the alerts engine says when the notify step is due', () => {
  const wh = useWarehouse('postgres', clearAlerts);

  it('evaluate returns notifyAt at the end of the group wait; deliver then sends at once, once', async () => {
    await upsertFacts(wh.db, [...days({ campaign: 'a' }, { '2026-03-02': { spend: 150 } }), ...days({ campaign: 'b' }, { '2026-03-02': { spend: 250 } })]);
    let clock = T.getTime();
    const slept: number[] = [];
    const slack = new RecordingChannel('slack');
    const engine = createAlertsEngine({ owner: 'w1', channels: { slack }, now: () => new Date(clock), sleep: async (ms) => void slept.push(ms) });

    const { outboxIds, notifyAt } = await engine.evaluateAlerts(wh.db, config, T);
    expect(outboxIds).toHaveLength(2);
    expect(notifyAt).toEqual(new Date(T.getTime() + 45_000));

    // What a delayed job or a timer does: come back when due. Nothing to wait for then.
    clock = notifyAt!.getTime();
    expect(await engine.deliver(wh.db, config, outboxIds)).toMatchObject({ sent: 2, messages: 1 });
    expect(slept).toEqual([]);
    expect(await engine.deliver(wh.db, config, outboxIds)).toMatchObject({ sent: 0, messages: 0 });
    expect(slack.sent).toHaveLength(1);
    expect((await outbox(wh.db)).map((r) => r.status)).toEqual(['sent', 'sent']);
  });

  it('evaluate without new rows has no notifyAt', async () => {
    const engine = createAlertsEngine({ owner: 'w1', channels: { slack: new RecordingChannel('slack') } });
    expect(await engine.evaluateAlerts(wh.db, config, T)).toEqual({ outboxIds: [] });
  });
});
