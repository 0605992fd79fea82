/**
 * With server.publicUrl, every alert message links each series to the period it judged in the
 * console's KPI explorer (`<publicUrl>/console/kpi/…`): the server `kpi start` runs must answer
 * that link with the series' numbers, not a 404. /report, the text report older messages link
 * to, is still served, behind the dashboard's credentials when they are set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverOutbox, evaluateAlerts } from '../../src/alerts/index.ts';
import { reportPage } from '../../src/cli/report.ts';
import { consoleRoutes } from '../../src/console/index.ts';
import type { SlackMessage } from '../../src/notify/index.ts';
import { createPipelineMetrics, createServer } from '../../src/server/index.ts';
import { upsertFacts } from '../helpers/facts.ts';
import { useWarehouse, warehouseKinds } from '../helpers/warehouse.ts';
import { quietLogger, reply, startHttp, type HttpServer } from '../notify/helpers.ts';
import { at, clearAlerts, configFrom, days } from '../alerts/helpers.ts';

const NOW = at('2026-03-24T06:00:00Z');

describe.each(warehouseKinds)('the report page alert messages link to, on %s', (kind) => {
  const wh = useWarehouse(kind, clearAlerts);
  let slack: HttpServer;
  beforeAll(async () => {
    slack = await startHttp((res) => reply(res, 200, 'ok'));
  });
  afterAll(async () => {
    await slack.close();
  });

  it('answers the link of a real alert with the report of the period judged; 401 without the credentials; 400 for a bad parameter', async () => {
    const config = configFrom(`
reporting: { timezone: UTC }
server:
  publicUrl: "https://kpi.example.com/"
  dashboard: { user: ops, password: long-enough-pass }
channels:
  slack: { type: slack, url: "${slack.base}/services/T1/B1/page", minIntervalMs: 0, maxRetries: 0 }
alerting: { groupWait: 0 }
alerts:
  - name: clicks-high
    series: { kpi: clicks, grain: day }
    condition: { kind: threshold, op: above, threshold: 100 }
    channels: [slack]
`);
    await upsertFacts(wh.db, days({}, { '2026-03-22': { clicks: 80, impressions: 1000 }, '2026-03-23': { clicks: 300, impressions: 1000 } }));
    await evaluateAlerts(wh.db, config, { now: NOW });
    await deliverOutbox(wh.db, config, { now: NOW, owner: 't', log: quietLogger });
    const message = JSON.parse(slack.requests.at(-1)!.body) as SlackMessage;
    const link = /<(https:\/\/kpi\.example\.com\/console\/[^|>]+)\|Open the report>/.exec(JSON.stringify(message))?.[1];
    expect(link).toBe('https://kpi.example.com/console/kpi/clicks?grain=day&period=last&as_of=2026-03-24');

    const server = await createServer({
      db: wh.db,
      metrics: createPipelineMetrics({ db: wh.db }),
      dashboard: config.server.dashboard,
      report: reportPage(wh.db, config),
      console: consoleRoutes({ db: wh.db, config: () => config, host: '0.0.0.0' }),
    });
    try {
      const url = new URL(link!);
      const auth = { authorization: `Basic ${Buffer.from('ops:long-enough-pass').toString('base64')}` };
      const explorer = await server.inject({ url: `${url.pathname}${url.search}`, headers: auth });
      expect(explorer.statusCode).toBe(200);
      // The period judged, with the value the alert fired on and the day before it.
      expect(explorer.body).toMatch(/<tr data-period="2026-03-23"><td>2026-03-23<\/td><td class="num" data-value="300">300<\/td>\s*<td>2026-03-22<\/td><td class="num">80<\/td>/);
      expect((await server.inject({ url: `${url.pathname}${url.search}` })).statusCode).toBe(401);

      const page = await server.inject({ url: '/report?grain=day&period=last&as_of=2026-03-24&kpi=clicks', headers: auth });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(page.body).toContain('KPI report, day 2026-03-23..2026-03-23 against 2026-03-22..2026-03-22 (as of 2026-03-24, USD)');
      expect(page.body).toMatch(/│ Clicks +│ +300 │ +80 │ +\+275\.00% │/);

      expect((await server.inject({ url: '/report?grain=day&period=last&as_of=2026-03-24&kpi=clicks' })).statusCode).toBe(401);
      const bad = await server.inject({ url: '/report?grain=year', headers: auth });
      expect([bad.statusCode, bad.body]).toEqual([400, 'grain must be one of day, week, month, quarter\n']);
      const badKpi = await server.inject({ url: '/report?kpi=clickz', headers: auth });
      expect([badKpi.statusCode, badKpi.body]).toEqual([400, 'kpi is no KPI of this configuration\n']);
      const badDay = await server.inject({ url: '/report?as_of=2026-02-30', headers: auth });
      expect([badDay.statusCode, badDay.body]).toEqual([400, 'as_of must be a date as YYYY-MM-DD\n']);
    } finally {
      await server.close();
    }
  });
});
