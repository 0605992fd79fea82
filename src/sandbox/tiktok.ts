import { randomUUID } from 'node:crypto';
import type { Dataset } from './dataset.ts';
import { addDays, dateRange, isIsoDate } from './dates.ts';
import { CredentialStore, json, startFakeServer, type ErrorKind, type FakeApi, type FakeRequest, type FakeResponse, type FakeServer } from './server.ts';

/**
 * TikTok API for Business v1.3, from its public reference: the synchronous integrated report,
 * GET /open_api/v1.3/report/integrated/get/ with advertiser_id, report_type=BASIC,
 * data_level=AUCTION_CAMPAIGN, dimensions and metrics as JSON lists, start_date and end_date
 * (at most 30 days with stat_time_day, in the advertiser's time zone), page and page_size (at most
 * 1000); GET /open_api/v1.3/advertiser/info/ with advertiser_ids (a JSON list). The token goes in
 * the Access-Token header. Every answer is HTTP 200 with { code, message, request_id, data }: code
 * 0 is success; 40100 is a rate limit, 40105 a token that is wrong or revoked, 40001/40002 a bad
 * parameter, 50000 a system error. Metric values are strings; stat_time_day reads
 * "2024-03-01 00:00:00".
 */

export const TIKTOK_ACCESS_TOKEN = 'tiktok-sandbox-access-token-5f2c0e9d8b7a';

export interface TikTokSettings {
  /** Rows served per page at most, whatever page_size asks: a test's way to make many pages. */
  servePageSize: number;
}

const answer = (code: number, message: string, data: unknown = {}): FakeResponse => json(200, { code, message, request_id: randomUUID().replace(/-/g, ''), data });

function listParam(q: URLSearchParams, name: string): string[] | undefined {
  const raw = q.get(name);
  if (raw === null) return undefined;
  try {
    const v: unknown = JSON.parse(raw);
    return Array.isArray(v) ? v.map(String) : undefined;
  } catch {
    return undefined;
  }
}

export async function startTikTokFake(dataset: Dataset, options: { credentials?: CredentialStore; settings?: Partial<TikTokSettings> } = {}): Promise<FakeServer<TikTokSettings>> {
  const settings: TikTokSettings = { servePageSize: 1000, ...options.settings };

  function errorFor(kind: ErrorKind): FakeResponse {
    switch (kind) {
      case 'missingCredentials':
        return answer(40104, 'Access token is null, please check your access token.');
      case 'invalidCredentials':
      case 'expiredCredentials':
      case 'revokedCredentials':
        return answer(40105, 'Access token is incorrect or has been revoked.');
      case 'forbidden':
        return answer(40001, 'No permission to operate advertiser.');
      case 'rateLimited':
        return answer(40100, 'Too many requests. Please retry in some time.');
      case 'internal':
        return answer(50000, 'System error.');
      case 'unavailable':
        return { status: 503, text: '<html><body>503 Service Temporarily Unavailable</body></html>', headers: { 'content-type': 'text/html' } };
    }
  }

  function report(q: URLSearchParams): FakeResponse {
    const advertiser = q.get('advertiser_id');
    if (!advertiser) return answer(40002, 'advertiser_id: Missing data for required field.');
    if (!dataset.tiktok.advertiserIds.includes(advertiser)) return answer(40001, 'No permission to operate advertiser.');
    if (q.get('report_type') !== 'BASIC') return answer(40002, 'report_type: The sandbox serves BASIC reports only.');
    if (q.get('data_level') !== 'AUCTION_CAMPAIGN') return answer(40002, 'data_level: The sandbox serves AUCTION_CAMPAIGN only.');
    const dimensions = listParam(q, 'dimensions');
    if (!dimensions || !dimensions.includes('campaign_id') || !dimensions.includes('stat_time_day')) return answer(40002, 'dimensions: expected a JSON list with campaign_id and stat_time_day.');
    const metrics = listParam(q, 'metrics');
    if (!metrics) return answer(40002, 'metrics: expected a JSON list.');
    const from = q.get('start_date') ?? '';
    const to = q.get('end_date') ?? '';
    if (!isIsoDate(from) || !isIsoDate(to) || to < from) return answer(40002, 'start_date, end_date: expected YYYY-MM-DD with start_date <= end_date.');
    if (addDays(from, 29) < to) return answer(40002, 'The time span between start_date and end_date can be up to 30 days when stat_time_day is a dimension.');
    const page = Number(q.get('page') ?? 1);
    const pageSize = Number(q.get('page_size') ?? 10);
    if (!Number.isInteger(page) || page < 1) return answer(40002, 'page: Must be greater than or equal to 1.');
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) return answer(40002, 'page_size: Must be between 1 and 1000.');
    const rows = dateRange(from, to).flatMap((d) => dataset.tiktok.day(d).filter((r) => r.advertiserId === advertiser));
    const size = Math.min(pageSize, settings.servePageSize);
    const list = rows.slice((page - 1) * size, page * size).map((r) => {
      const all: Record<string, string> = {
        spend: r.spend, impressions: String(r.impressions), clicks: String(r.clicks), conversion: String(r.conversions),
        total_complete_payment_rate: r.conversionValue, campaign_name: r.campaignName, currency: dataset.tiktok.currency,
      };
      return { dimensions: { campaign_id: r.campaignId, stat_time_day: `${r.date} 00:00:00` }, metrics: Object.fromEntries(metrics.filter((m) => m in all).map((m) => [m, all[m]])) };
    });
    return answer(0, 'OK', { list, page_info: { page, page_size: size, total_number: rows.length, total_page: Math.ceil(rows.length / size) } });
  }

  const api: FakeApi = {
    name: 'tiktok',
    credential: (req: FakeRequest) => (typeof req.headers['access-token'] === 'string' ? req.headers['access-token'] : undefined),
    error: errorFor,
    typeChangePath: () => 'data.list.0.metrics.clicks',
    handle(req) {
      if (req.method !== 'GET') return answer(40002, 'Method not allowed.');
      if (req.path === '/open_api/v1.3/report/integrated/get/') return report(req.query);
      if (req.path === '/open_api/v1.3/advertiser/info/') {
        const ids = listParam(req.query, 'advertiser_ids') ?? [];
        const list = ids.filter((id) => dataset.tiktok.advertiserIds.includes(id)).map((id) => ({ advertiser_id: id, name: 'Example Inc', currency: dataset.tiktok.currency, timezone: dataset.tiktok.timeZone, status: 'STATUS_ENABLE', company: 'Example Inc' }));
        return answer(0, 'OK', { list });
      }
      return answer(40002, `Unknown path ${req.path}`);
    },
  };
  return startFakeServer(api, settings, options.credentials ?? new CredentialStore([TIKTOK_ACCESS_TOKEN]));
}
