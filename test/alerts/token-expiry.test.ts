import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deliverOutbox, evaluateAlerts } from '../../src/alerts/index.ts';
import { forgetTokenLookups } from '../../src/alerts/token-expiry.ts';
import { recordToken } from '../../src/connectors/shared/token-records.ts';
import type { SlackMessage } from '../../src/notify/index.ts';
import { createDataset, META_ACCESS_TOKEN, startMetaFake, type FakeServer, type MetaSettings } from '../../src/sandbox/index.ts';
import { useWarehouse, warehouseKinds } from '../helpers/warehouse.ts';
import { quietLogger, reply, startHttp, type HttpServer } from '../notify/helpers.ts';
import { clearAlerts, configFrom } from './helpers.ts';

/**
 * token_expiry rules: a Meta token whose end debug_token gives, and a Google refresh token of a
 * Testing client whose end `kpi connect google` recorded, are announced days before they stop
 * working, on the rule's channel, and not before.
 */

const DAY = 86_400_000;
const REFRESH_TOKEN = '1//0sandbox-recorded-refresh-token';

describe.each(warehouseKinds)('token_expiry on %s', (kind) => {
  const wh = useWarehouse(kind, clearAlerts);
  let slack: HttpServer;
  let meta: FakeServer<MetaSettings>;
  let dataDir: string;
  beforeAll(async () => {
    slack = await startHttp((res) => reply(res, 200, 'ok'));
    meta = await startMetaFake(createDataset({ seed: 5, endDate: '2024-03-31' }));
    dataDir = mkdtempSync(path.join(tmpdir(), 'kpi-token-expiry-'));
  });
  afterAll(async () => {
    await Promise.all([slack.close(), meta.close()]);
    rmSync(dataDir, { recursive: true, force: true });
  });
  afterEach(() => {
    forgetTokenLookups();
    slack.requests.length = 0;
  });

  const config = () =>
    configFrom(
      `
reporting: { timezone: UTC }
dataDir: ${JSON.stringify(dataDir)}
connectors:
  - { name: meta, type: meta_ads, adAccountIds: ["act_1001"], accessToken: "\${env:META_TOKEN}", baseUrl: "${meta.url}" }
  - { name: ga4, type: ga4, propertyIds: ["1"], auth: { type: oauth, clientId: id.apps.googleusercontent.com, clientSecret: "\${env:G_SECRET}", refreshToken: "\${env:G_REFRESH}" } }
channels:
  slack: { type: slack, url: "${slack.base}/services/T/B/tokens", minIntervalMs: 0, maxRetries: 0 }
alerting: { groupWait: 0 }
alerts:
  - name: tokens
    title: Token expiry
    condition: { kind: token_expiry }
    repeatInterval: never
    channels: [slack]
`,
      { META_TOKEN: META_ACCESS_TOKEN, G_SECRET: 'GOCSPX-secret', G_REFRESH: REFRESH_TOKEN },
    );
  const posted = () => slack.requests.map((r) => (JSON.parse(r.body) as SlackMessage).text);
  const round = async (now: Date) => {
    const cfg = config();
    await evaluateAlerts(wh.db, cfg, { now, log: quietLogger });
    await deliverOutbox(wh.db, cfg, { now, log: quietLogger });
  };

  it('tells the channel 7 days before a Meta token expires and 2 days before a Testing Google token does, not earlier', async () => {
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const metaEnd = new Date(now.getTime() + 10.2 * DAY);
    meta.settings.tokens[META_ACCESS_TOKEN] = { type: 'USER', expiresAt: metaEnd.getTime() / 1000, dataAccessExpiresAt: metaEnd.getTime() / 1000 + 30 * 86_400, issuedAt: now.getTime() / 1000, scopes: ['ads_read'] };
    const obtained = new Date(now.getTime() - 2 * DAY);
    const googleEnd = new Date(obtained.getTime() + 7 * DAY);
    recordToken(dataDir, REFRESH_TOKEN, { source: 'google', variable: 'G_REFRESH', obtainedAt: obtained.toISOString(), expiresAt: googleEnd.toISOString(), reason: 'the OAuth consent screen is in Testing' });
    const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

    // Day 2 of the Google token (5 left), 10.2 days of the Meta token: nothing yet.
    await round(now);
    expect(posted()).toEqual([]);
    expect(meta.requests.filter((r) => r.path === '/v23.0/debug_token')).toHaveLength(1);

    // Day 5 of 7: the Google token is announced; the Meta token, 7.2 days from its end, not yet.
    await round(new Date(now.getTime() + 3 * DAY));
    expect(posted()).toEqual([`[FIRING] Token expiry (warning): ga4: the refresh token in G_REFRESH stops working on ${iso(googleEnd)}, in 2 days (the OAuth consent screen is in Testing); run kpi connect google again, or publish the app (consent screen In production) for a token that lasts`]);

    // 6.7 days before the Meta token's end: announced once, from debug_token's answer (asked once, then remembered).
    await round(new Date(now.getTime() + 3.5 * DAY));
    expect(posted().slice(1)).toEqual([`[FIRING] Token expiry (warning): meta: the access token expires on ${iso(metaEnd)}, in 6.7 days; run kpi connect meta to renew it, or use a system user token, which does not expire`]);
    expect(meta.requests.filter((r) => r.path === '/v23.0/debug_token')).toHaveLength(1);
    const asked = meta.requests.find((r) => r.path === '/v23.0/debug_token')!;
    expect(asked.query).toMatchObject({ input_token: META_ACCESS_TOKEN, access_token: META_ACCESS_TOKEN });

    // A renewed token (a new record, a system user token that does not expire) resolves both.
    forgetTokenLookups();
    meta.settings.tokens[META_ACCESS_TOKEN] = { type: 'SYSTEM_USER', expiresAt: 0, dataAccessExpiresAt: 0, issuedAt: now.getTime() / 1000, scopes: ['ads_read'] };
    const later = new Date(now.getTime() + 4 * DAY);
    recordToken(dataDir, REFRESH_TOKEN, { source: 'google', variable: 'G_REFRESH', obtainedAt: later.toISOString(), expiresAt: null });
    await round(later);
    expect(posted().slice(2)).toEqual(['[RESOLVED] Token expiry: 2 series resolved: meta: the token does not expire; ga4: the token does not expire']);
  });

  it('says nothing of a Google token it has no record of', async () => {
    rmSync(path.join(dataDir, 'credentials.json'), { force: true });
    meta.settings.tokens[META_ACCESS_TOKEN] = { type: 'SYSTEM_USER', expiresAt: 0, dataAccessExpiresAt: 0, issuedAt: 0, scopes: [] };
    await round(new Date());
    expect(posted()).toEqual([]);
    const rows = await wh.db.selectFrom('alert_instances').select(['instance', 'state']).orderBy('instance').execute();
    expect(rows.map((r) => [r.instance, r.state])).toEqual([['connector=ga4', 'ok'], ['connector=meta', 'ok']]);
  });
});
