import { parseConfig } from '../src/config/index.ts';
import { runSync, type AnyConnector, type ConnectorConfig } from '../src/connectors/index.ts';
import { ga4Connector } from '../src/connectors/ga4/connector.ts';
import { googleAdsConnector } from '../src/connectors/google-ads/connector.ts';
import { metaAdsConnector } from '../src/connectors/meta-ads/connector.ts';
import { addDays, daysOf, type DateRange } from '../src/core/dates.ts';
import { createDataset, sandboxConnectorEnv, startSandbox, type Dataset, type Sandbox } from '../src/sandbox/index.ts';
import { createBenchDatabase, nullLogger } from './lib/env.ts';
import { int, ratioText, timer, type BenchContext, type BenchResult } from './lib/report.ts';

/**
 * A sandbox cycle's requests against the minimum the APIs document: two cycles of syncs (the
 * first, from startDate; then the next, over each connector's lookback) of GA4, Google Ads (two
 * customers, on the same refresh token as GA4) and Meta, counted on the fakes' own request logs
 * and on the runs' `requests` column. The minimum, per the APIs' documentation:
 *
 * - one OAuth token request per credential and process (Google access tokens last an hour);
 * - GA4: one runReport per page of `pageSize` rows, the currency and zone coming with it
 *   (ResponseMetaData.currencyCode / timeZone);
 * - Google Ads: one searchStream per customer and window (the whole result set in one answer);
 *   on a customer's first sync, one query for customer.time_zone, which decides the window;
 * - Meta: on an account's first sync, one read of its timezone_name (insights carry
 *   account_currency but no zone); then per window one page of insights per 500 rows, or for a
 *   window over asyncAfterDays the report run: its POST, the status polls until the job is done,
 *   and its pages.
 */

const END = '2024-06-30';
const NOW = new Date(`${END}T18:00:00Z`);
const PAGE_SIZE_GA4 = 10_000;
const PAGE_SIZE_META = 500;
const ASYNC_AFTER_DAYS = 14;

const IMPLEMENTATIONS: Record<string, AnyConnector> = {
  ga4: ga4Connector as unknown as AnyConnector,
  google_ads: googleAdsConnector as unknown as AnyConnector,
  meta_ads: metaAdsConnector as unknown as AnyConnector,
};

function configFor(sb: Sandbox, ds: Dataset, startDate: string): ConnectorConfig[] {
  const auth = '    auth: { type: oauth, clientId: "${var:SANDBOX_G_CLIENT_ID}", clientSecret: "${env:SANDBOX_G_CLIENT_SECRET}", refreshToken: "${env:SANDBOX_G_REFRESH_TOKEN}", tokenUrl: "${var:SANDBOX_TOKEN_URL}" }';
  const text = `
reporting: { currency: USD }
connectors:
  - name: web
    type: ga4
    propertyIds: ["${ds.ga4.propertyId}"]
    baseUrl: "\${var:SANDBOX_GA4_URL}"
    startDate: ${startDate}
${auth}
  - name: ads
    type: google_ads
    customerIds: [${ds.googleAds.customers.map((c) => `"${c.id}"`).join(', ')}]
    loginCustomerId: "${ds.googleAds.managerCustomerId}"
    developerToken: "\${env:SANDBOX_ADS_DEVELOPER_TOKEN}"
    baseUrl: "\${var:SANDBOX_ADS_URL}"
    startDate: ${startDate}
${auth}
  - name: meta
    type: meta_ads
    adAccountIds: ["${ds.meta.accountId}"]
    accessToken: "\${env:SANDBOX_META_TOKEN}"
    baseUrl: "\${var:SANDBOX_META_URL}"
    startDate: ${startDate}
`;
  const env = sandboxConnectorEnv(sb);
  return parseConfig(text, 'bench-requests.yaml', { env }).connectors;
}

const pages = (rows: number, size: number): number => Math.max(1, Math.ceil(rows / size));

/** The documented minimum for one sync of `connector` over `window`; `first`: the account's first sync. */
function minimumFor(type: string, ds: Dataset, sb: Sandbox, window: DateRange, first: boolean): number {
  if (type === 'ga4') {
    const keys = new Set<string>();
    for (const r of ds.ga4.range(window.from, window.to)) keys.add(`${r.date}|${r.sessionDefaultChannelGroup}|${r.sessionCampaignName}`);
    return pages(keys.size, PAGE_SIZE_GA4);
  }
  if (type === 'google_ads') return ds.googleAds.customers.length * (first ? 2 : 1);
  const rows = [...ds.meta.range(window.from, window.to)].length;
  const insights = daysOf(window).length > ASYNC_AFTER_DAYS ? 1 + sb.fakes.meta.settings.asyncPolls + pages(rows, PAGE_SIZE_META) : pages(rows, PAGE_SIZE_META);
  return (first ? 1 : 0) + insights;
}

export async function requestsBench(ctx: BenchContext): Promise<BenchResult> {
  const total = timer();
  const setup = timer();
  const days = ctx.quick ? 45 : 120;
  const initialDays = ctx.quick ? 30 : 90;
  const ds = createDataset({ seed: 5, endDate: END, days });
  const sb = await startSandbox(ds);
  const bench = await createBenchDatabase('requests');
  const wh = await bench.open(4);
  const setupMs = setup();
  try {
    const connectors = configFor(sb, ds, addDays(END, -(initialDays - 1)));
    const fakes = [sb.fakes.googleToken, sb.fakes.ga4, sb.fakes.googleAds, sb.fakes.meta];
    const seen = () => fakes.reduce((n, f) => n + f.requests.length, 0);
    let measured = 0;
    let recorded = 0;
    let minimum = 1; // the one token request GA4 and Google Ads share
    const notes: string[] = [];
    for (const cycle of [1, 2]) {
      for (const cfg of connectors) {
        ctx.progress(`requests: cycle ${cycle}, ${cfg.name}`);
        const before = seen();
        const res = await runSync({ db: wh.db, connector: IMPLEMENTATIONS[cfg.type]!, config: cfg, log: nullLogger(), now: () => NOW });
        if (!res.ok) throw new Error(`sync of ${cfg.name} failed: ${res.run.error}`);
        const sent = seen() - before;
        const windows = Object.entries(res.run.flags)
          .filter(([k]) => k.startsWith('stream:'))
          .map(([, v]) => (v as { window: DateRange }).window);
        const window = windows[0]!;
        const min = minimumFor(cfg.type, ds, sb, window, cycle === 1);
        measured += sent;
        recorded += res.run.requests;
        minimum += min;
        notes.push(`cycle ${cycle}, ${cfg.name} (${cfg.type}, ${window.from}..${window.to}): ${sent} requests, minimum ${min}${cycle === 1 && cfg.type === 'ga4' ? ' + the token request' : ''}${Object.keys(res.run.quota).length > 0 ? `; quota ${JSON.stringify(res.run.quota)}` : ''}`);
      }
    }
    notes.push(`the runs recorded ${int(recorded)} requests; the fakes saw ${int(measured)}`);
    const ratio = measured / minimum;
    return {
      name: 'requests',
      size: `${initialDays}-day first sync then the lookback; GA4, Google Ads (${ds.googleAds.customers.length} customers), Meta`,
      figures: [
        {
          id: 'cycle',
          title: 'requests of two sandbox sync cycles against the documented minimum',
          value: `${int(measured)} requests`,
          baseline: `${int(minimum)} documented minimum`,
          ratio,
          ...(ctx.quick ? {} : { target: '≤ 1.00× the minimum', pass: ratio <= 1 && recorded === measured }),
          notes: [`${ratioText(ratio)} the minimum`, ...notes],
        },
      ],
      totalMs: total(),
      setupMs,
    };
  } finally {
    await wh.close();
    await bench.drop();
    await sb.close();
  }
}
