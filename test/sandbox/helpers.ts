import type { FakeServer, Sandbox } from '../../src/sandbox/index.ts';

export type FakeName = 'ga4' | 'searchConsole' | 'googleAds' | 'meta' | 'mailchimp' | 'sendgrid' | 'shop';
export const FAKE_NAMES: FakeName[] = ['ga4', 'searchConsole', 'googleAds', 'meta', 'mailchimp', 'sendgrid', 'shop'];

export interface Caller {
  fake: FakeServer<unknown>;
  defaultCredential: string;
  /** A small valid request to the fake; `credential` replaces the default one. */
  call(credential?: string, signal?: AbortSignal): Promise<Response>;
  /** Reads the value typeChange aims at by default out of a successful body. */
  typeChangeTarget(body: unknown): unknown;
}

const at = (v: unknown, path: Array<string | number>): unknown =>
  path.reduce<unknown>((node, k) => (node !== null && typeof node === 'object' ? (node as Record<string | number, unknown>)[k] : undefined), v);

export function callers(sb: Sandbox): Record<FakeName, Caller> {
  const { urls, credentials: c } = sb;
  const json = { 'content-type': 'application/json' };
  const range = { since: '2024-03-01', until: '2024-03-02' };
  return {
    ga4: {
      fake: sb.fakes.ga4,
      defaultCredential: c.google.staticAccessToken,
      call: (cred = c.google.staticAccessToken, signal) =>
        fetch(`${urls.ga4}/v1beta/properties/123456789:runReport`, {
          method: 'POST',
          signal,
          headers: { ...json, authorization: `Bearer ${cred}` },
          body: JSON.stringify({ dateRanges: [{ startDate: '2024-03-01', endDate: '2024-03-02' }], dimensions: [{ name: 'date' }], metrics: [{ name: 'sessions' }] }),
        }),
      typeChangeTarget: (b) => at(b, ['rows', 0, 'metricValues', 0, 'value']),
    },
    searchConsole: {
      fake: sb.fakes.searchConsole,
      defaultCredential: c.google.staticAccessToken,
      call: (cred = c.google.staticAccessToken, signal) =>
        fetch(`${urls.searchConsole}/webmasters/v3/sites/${encodeURIComponent('sc-domain:example.com')}/searchAnalytics/query`, {
          method: 'POST',
          signal,
          headers: { ...json, authorization: `Bearer ${cred}` },
          body: JSON.stringify({ startDate: '2024-03-01', endDate: '2024-03-02', dimensions: ['date'] }),
        }),
      typeChangeTarget: (b) => at(b, ['rows', 0, 'clicks']),
    },
    googleAds: {
      fake: sb.fakes.googleAds,
      defaultCredential: c.google.staticAccessToken,
      call: (cred = c.google.staticAccessToken, signal) =>
        fetch(`${urls.googleAds}/v21/customers/1234567890/googleAds:searchStream`, {
          method: 'POST',
          signal,
          headers: { ...json, authorization: `Bearer ${cred}`, 'developer-token': c.googleAds.developerToken, 'login-customer-id': c.googleAds.loginCustomerId },
          body: JSON.stringify({ query: "SELECT campaign.id, segments.date, metrics.clicks FROM campaign WHERE segments.date BETWEEN '2024-03-01' AND '2024-03-02'" }),
        }),
      typeChangeTarget: (b) => at(b, [0, 'results', 0, 'metrics', 'clicks']),
    },
    meta: {
      fake: sb.fakes.meta,
      defaultCredential: c.meta.accessToken,
      call: (cred = c.meta.accessToken, signal) =>
        fetch(`${urls.meta}/v23.0/act_1001/insights?${new URLSearchParams({ level: 'campaign', time_increment: '1', time_range: JSON.stringify(range), fields: 'campaign_id,spend', access_token: cred })}`, { signal }),
      typeChangeTarget: (b) => at(b, ['data', 0, 'spend']),
    },
    mailchimp: {
      fake: sb.fakes.mailchimp,
      defaultCredential: c.mailchimp.apiKey,
      call: (cred = c.mailchimp.apiKey, signal) =>
        fetch(`${urls.mailchimp}/3.0/reports?count=5`, { signal, headers: { authorization: `Basic ${Buffer.from(`anystring:${cred}`).toString('base64')}` } }),
      typeChangeTarget: (b) => at(b, ['reports', 0, 'emails_sent']),
    },
    sendgrid: {
      fake: sb.fakes.sendgrid,
      defaultCredential: c.sendgrid.apiKey,
      call: (cred = c.sendgrid.apiKey, signal) =>
        fetch(`${urls.sendgrid}/v3/stats?start_date=2024-03-01&end_date=2024-03-02&aggregated_by=day`, { signal, headers: { authorization: `Bearer ${cred}` } }),
      typeChangeTarget: (b) => at(b, [0, 'stats', 0, 'metrics', 'delivered']),
    },
    shop: {
      fake: sb.fakes.shop,
      defaultCredential: c.shop.accessToken,
      call: (cred = c.shop.accessToken, signal) =>
        fetch(`${urls.shop}/orders.json?created_at_min=2024-03-01T00:00:00%2B01:00&limit=5`, { signal, headers: { 'x-shopify-access-token': cred } }),
      typeChangeTarget: (b) => at(b, ['orders', 0, 'total_price']),
    },
  } as Record<FakeName, Caller>;
}

/** Follows an RFC 8288 Link header to its rel="next" URL. */
export function nextLink(header: string | null): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part.trim());
    if (m?.[1]) return m[1];
  }
  return undefined;
}
