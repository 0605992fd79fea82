import type { SourceDefinitionInput } from '../declarative/definition.ts';

/**
 * TikTok Ads campaign performance by day (API for Business v1.3, the synchronous integrated
 * report, AUCTION_CAMPAIGN by stat_time_day), one stream per advertiser. Dates are the
 * advertiser's own days; money is in its currency (advertiser/info). TikTok answers HTTP 200
 * with a `code`: 0 is success, 40100 a rate limit and 50000 a system error (both retried), any
 * other a request or token to fix.
 */
export const tiktokAdsSource = {
  type: 'tiktok_ads',
  title: 'TikTok Ads',
  config: {
    advertiserIds: { kind: 'list', min: 1, description: 'advertiser ids (TikTok Ads Manager, account settings)' },
    accessToken: { kind: 'secret', description: 'a long-lived access token of the TikTok for Business app (a secret, e.g. `${env:TIKTOK_ACCESS_TOKEN}`)' },
  },
  baseUrl: 'https://business-api.tiktok.com/open_api/v1.3',
  auth: { type: 'header', name: 'Access-Token', value: '{config.accessToken}' },
  accounts: { list: 'advertiserIds' },
  describe: { request: { path: '/advertiser/info/', query: { advertiser_ids: '["{account}"]' } }, currencyPath: 'data.list.0.currency', timeZonePath: 'data.list.0.timezone' },
  request: {
    path: '/report/integrated/get/',
    query: {
      advertiser_id: '{account}',
      report_type: 'BASIC',
      data_level: 'AUCTION_CAMPAIGN',
      dimensions: '["campaign_id","stat_time_day"]',
      metrics: '["spend","impressions","clicks","conversion","total_complete_payment_rate","campaign_name"]',
      start_date: '{from}',
      end_date: '{to}',
    },
  },
  pagination: { type: 'page', param: 'page', start: 1, sizeParam: 'page_size', size: 1000, totalPagesPath: 'data.page_info.total_page' },
  // stat_time_day allows at most 30 days a request; TikTok restates conversions for a week or more.
  window: { chunkDays: 30, lookbackDays: 14, zone: 'config' },
  records: 'data.list',
  date: { path: 'dimensions.stat_time_day', format: 'yyyy-MM-dd HH:mm:ss' },
  dimensions: { channel: { value: 'paid_social' }, campaignId: { path: 'dimensions.campaign_id' }, campaign: { path: ['metrics.campaign_name', 'dimensions.campaign_id'] } },
  metrics: {
    spend: 'metrics.spend',
    impressions: 'metrics.impressions',
    clicks: 'metrics.clicks',
    conversions: 'metrics.conversion',
    conversion_value: 'metrics.total_complete_payment_rate',
  },
  errors: [
    { body: { path: 'code', equals: 40100 }, kind: 'transient' },
    { body: { path: 'code', equals: 50000 }, kind: 'transient' },
    { status: 200, body: { path: 'code', notEquals: 0 }, kind: 'config' },
  ],
  check: { request: { path: '/advertiser/info/', query: { advertiser_ids: '{config.advertiserIds|json}' } }, records: 'data.list', id: 'advertiser_id', name: 'name', currency: 'currency', timeZone: 'timezone', kind: 'advertiser' },
  concurrency: { default: 2, max: 10 },
} satisfies SourceDefinitionInput;
