import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDigest, deliverOutbox, evaluateAlerts } from '../../src/alerts/index.ts';
import type { SlackMessage } from '../../src/notify/index.ts';
import type { FactRow, Warehouse } from '../../src/warehouse/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { useWarehouse, warehouseKinds } from '../helpers/warehouse.ts';
import { quietLogger, reply, startHttp, type HttpServer } from '../notify/helpers.ts';
import { at, clearAlerts, configFrom, instances } from './helpers.ts';

const T = at('2026-03-03T06:00:00Z');
const plus = (ms: number) => new Date(T.getTime() + ms);

/** Spend of a campaign on 2026-03-02: with an id (as Google Ads stores it) or, without, by name. */
const spend = (campaign: string, campaignId: string, value: number): FactRow => ({
  date: '2026-03-02',
  connector: 'gads',
  account: 'acc',
  campaign,
  campaignId,
  channel: 'paid_search',
  metric: 'spend',
  value,
  currency: 'USD',
});

describe.each(warehouseKinds)('alerts over the campaign dimension show campaign names on %s', (kind) => {
  const wh: Warehouse = useWarehouse(kind, clearAlerts);
  let server: HttpServer;
  beforeAll(async () => {
    server = await startHttp((res) => reply(res, 200, 'ok'));
  });
  afterAll(async () => {
    await server.close();
  });

  it('names each series by its latest name, an id only where two share a name; a rename keeps the series', async () => {
    const config = configFrom(`
channels:
  slack: { type: slack, url: "${server.base}/services/T1/B1/campaigns", minIntervalMs: 0, maxRetries: 0 }
alerting: { groupWait: 0 }
alerts:
  - name: spend_high
    title: Spend too high
    series: { kpi: spend, grain: day, dimension: campaign }
    condition: { kind: threshold, op: above, threshold: 100 }
    severity: critical
    channels: [slack]
`);
    await upsertFacts(wh.db, [spend('Spring sale', '901', 150), spend('Spring sale', '902', 250), spend('Brand', '903', 120), spend('Legacy', '', 130)]);
    await evaluateAlerts(wh.db, config, { now: T });
    expect(await deliverOutbox(wh.db, config, { now: plus(1_000), owner: 'r1', log: quietLogger })).toMatchObject({ sent: 4, messages: 1 });

    // The message lists three series and counts the rest; together with the sections, every series by its name.
    const body = JSON.parse(server.requests[0]!.body) as SlackMessage;
    const head = '[FIRING] Spend too high (critical): 4 series firing: ';
    expect(body.text.startsWith(head)).toBe(true);
    const listed = body.text.slice(head.length).split('; ');
    expect(listed.at(-1)).toBe('and 1 more');
    const all = [
      'Spend (campaign Brand) USD 120.00 is above USD 100.00 on 2026-03-02',
      'Spend (campaign Legacy) USD 130.00 is above USD 100.00 on 2026-03-02',
      'Spend (campaign Spring sale (901)) USD 150.00 is above USD 100.00 on 2026-03-02',
      'Spend (campaign Spring sale (902)) USD 250.00 is above USD 100.00 on 2026-03-02',
    ];
    expect(listed.slice(0, -1).every((l) => all.includes(l))).toBe(true);
    expect(listed).toHaveLength(4);
    const sections = body.attachments![0]!.blocks.filter((b) => b.type === 'section' && b.fields).map((b) => (b.type === 'section' ? b.text?.text : ''));
    const report = '\nReport: `kpi report --grain day --as-of 2026-03-03`';
    expect(sections.sort()).toEqual(['*Spend, campaign Brand*', '*Spend, campaign Legacy*', '*Spend, campaign Spring sale (901)*', '*Spend, campaign Spring sale (902)*'].map((s) => s + report));
    // Nowhere a raw key: people see names.
    expect(server.requests[0]!.body).not.toContain('gads:acc:');
    // The series are keyed by id, so a rename cannot split them.
    expect((await instances(wh.db, 'spend_high')).map((i) => [i.instance, i.labels.campaign])).toEqual([
      ['campaign=Legacy', 'Legacy'],
      ['campaign=gads:acc:901', 'Spring sale (901)'],
      ['campaign=gads:acc:902', 'Spring sale (902)'],
      ['campaign=gads:acc:903', 'Brand'],
    ]);

    // 901 is renamed and its spend restated below the line: the same series resolves, under its new name.
    await upsertFacts(wh.db, [spend('Spring sale EU', '901', 10)]);
    await evaluateAlerts(wh.db, config, { now: plus(60_000) });
    expect(await deliverOutbox(wh.db, config, { now: plus(61_000), owner: 'r1', log: quietLogger })).toMatchObject({ sent: 1, messages: 1 });
    const resolved = JSON.parse(server.requests[1]!.body) as SlackMessage;
    expect(resolved.text).toBe('[RESOLVED] Spend too high: Spend (campaign Spring sale EU) USD 10.00 is not above USD 100.00 on 2026-03-02');
    expect((await instances(wh.db, 'spend_high')).map((i) => [i.instance, i.state, i.labels.campaign])).toEqual([
      ['campaign=Legacy', 'firing', 'Legacy'],
      ['campaign=gads:acc:901', 'resolved', 'Spring sale EU'],
      ['campaign=gads:acc:902', 'firing', 'Spring sale'],
      ['campaign=gads:acc:903', 'firing', 'Brand'],
    ]);
  });

  it('the digest lists firing campaign series by their latest names, never by their keys', async () => {
    const config = configFrom(`
channels:
  mail: { type: email, host: 127.0.0.1, port: 2525, from: a@example.com, to: [b@example.com] }
alerts:
  - name: spend_high
    title: Spend too high
    series: { kpi: spend, grain: day, dimension: campaign }
    condition: { kind: threshold, op: above, threshold: 100 }
    channels: [mail]
reports:
  - name: weekly
    kpis: [spend]
    schedule: "0 8 * * 1"
    channels: [mail]
`);
    await upsertFacts(wh.db, [spend('Spring sale', '901', 150), spend('Spring sale', '902', 250), spend('Brand', '903', 120), spend('Legacy', '', 130)]);
    await evaluateAlerts(wh.db, config, { now: T });
    // Renamed after it fired: the digest says the name people see now.
    await upsertFacts(wh.db, [spend('Brand 2026', '903', 120)]);
    const digest = await buildDigest(wh.db, config, plus(60_000));
    expect(digest.firing.map((f) => f.ruleName).sort()).toEqual([
      'Spend too high (campaign Brand 2026)',
      'Spend too high (campaign Legacy)',
      'Spend too high (campaign Spring sale (901))',
      'Spend too high (campaign Spring sale (902))',
    ]);
  });
});
