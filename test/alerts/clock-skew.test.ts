import { describe, expect, it } from 'vitest';
import { evaluateAlerts } from '../../src/alerts/index.ts';
import { deliverOutbox, sendDigest } from '../../src/alerts/index.ts';
import { type AlertNotification, type Channel, type Digest } from '../../src/notify/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { useWarehouse } from '../helpers/warehouse.ts';
import { quietLogger } from '../notify/helpers.ts';
import { at, clearAlerts, configFrom, days, outbox } from './helpers.ts';

const T = at('2026-03-30T06:00:00Z');
const HOURS_AHEAD = new Date(T.getTime() + 3 * 3_600_000);

/** A channel whose sends are counted, and held until the test lets them go. */
class GatedChannel implements Channel {
  readonly kind = 'slack' as const;
  sends = 0;
  entered: Promise<void>;
  #enter!: () => void;
  #release!: () => void;
  readonly #released = new Promise<void>((resolve) => (this.#release = resolve));

  constructor(
    readonly name: string,
    private readonly gated: boolean,
  ) {
    this.entered = new Promise<void>((resolve) => (this.#enter = resolve));
  }

  release(): void {
    this.#release();
  }

  async #pass(): Promise<void> {
    this.sends++;
    this.#enter();
    if (this.gated) await this.#released;
  }

  send(_message: AlertNotification): Promise<void> {
    return this.#pass();
  }

  sendDigest(_digest: Digest): Promise<void> {
    return this.#pass();
  }
}

const config = () =>
  configFrom(`
channels:
  slack: { type: slack, url: "http://127.0.0.1:9/unused" }
alerting: { groupWait: 0, claimTimeout: 10m }
alerts:
  - name: spend_high
    series: { kpi: spend, grain: day }
    condition: { kind: threshold, op: above, threshold: 100 }
    channels: [slack]
digest: { schedule: "0 8 * * 1", timezone: UTC, channels: [slack], kpis: [spend], periods: 2 }
`);

describe('two replicas whose clocks differ by three hours, on postgres', () => {
  const wh = useWarehouse('postgres', clearAlerts);

  it('send an outbox row once: the late clock does not see the early one’s claim as run out', async () => {
    const cfg = config();
    await upsertFacts(wh.db, days({}, { '2026-03-29': { spend: 500 } }));
    await evaluateAlerts(wh.db, cfg, { now: T });
    const slow = new GatedChannel('slack', true);
    const ahead = new GatedChannel('slack', false);

    // The replica on time claims the row and is in the middle of sending it...
    const first = deliverOutbox(wh.db, cfg, { now: T, owner: 'on-time', channels: { slack: slow }, log: quietLogger });
    await slow.entered;
    // ...when the replica three hours ahead looks for work.
    expect(await deliverOutbox(wh.db, cfg, { now: HOURS_AHEAD, owner: 'ahead', channels: { slack: ahead }, log: quietLogger })).toMatchObject({ sent: 0, messages: 0 });
    slow.release();
    expect(await first).toMatchObject({ sent: 1, messages: 1 });

    expect([slow.sends, ahead.sends]).toEqual([1, 0]);
    expect(await outbox(wh.db)).toMatchObject([{ status: 'sent', attempts: 1, claimed_by: null }]);
  });

  it('send a digest once, whichever replica’s clock is right', async () => {
    const cfg = config();
    const slow = new GatedChannel('slack', true);
    const ahead = new GatedChannel('slack', false);
    const first = sendDigest(wh.db, cfg, { now: T, owner: 'on-time', using: { slack: slow }, log: quietLogger });
    await slow.entered;
    expect(await sendDigest(wh.db, cfg, { now: HOURS_AHEAD, owner: 'ahead', using: { slack: ahead }, log: quietLogger })).toMatchObject({ sent: [], skipped: ['slack'] });
    slow.release();
    expect(await first).toMatchObject({ sent: ['slack'], skipped: [] });

    expect([slow.sends, ahead.sends]).toEqual([1, 0]);
    const rows = await wh.db.selectFrom('digest_sends').select(['channel', 'status', 'attempts']).execute();
    expect(rows).toEqual([{ channel: 'slack', status: 'sent', attempts: 1 }]);
  });
});
