import type { SourceDefinitionInput } from '../declarative/definition.ts';

/**
 * LinkedIn Ads campaign performance by day (Marketing API adAnalytics, pivot CAMPAIGN,
 * Rest.li 2.0), one stream per ad account, with an OAuth refresh token (LinkedIn's access
 * tokens last 60 days, its refresh tokens a year). Dates are UTC; money is in the account's
 * currency, which adAccounts gives.
 */
export const linkedinAdsSource = {
  type: 'linkedin_ads',
  title: 'LinkedIn Ads',
  config: {
    adAccountIds: { kind: 'list', min: 1, description: 'ad account ids (the number in Campaign Manager, without `urn:li:sponsoredAccount:`)' },
    clientId: { kind: 'string', description: "the LinkedIn app's client id" },
    clientSecret: { kind: 'secret', description: "the app's client secret (a secret, e.g. `${env:LINKEDIN_CLIENT_SECRET}`)" },
    refreshToken: { kind: 'secret', description: 'a refresh token of a member with access to the ad accounts, scope `r_ads_reporting` (a secret, e.g. `${env:LINKEDIN_REFRESH_TOKEN}`)' },
    apiVersion: { kind: 'string', default: '202411', pattern: ['^\\d{6}$', 'expected a LinkedIn API version as YYYYMM, e.g. "202411"'], description: 'the LinkedIn-Version header (YYYYMM); LinkedIn supports each version for a year' },
  },
  baseUrl: 'https://api.linkedin.com/rest',
  auth: { type: 'oauth2_refresh', tokenUrl: 'https://www.linkedin.com/oauth/v2/accessToken', clientId: '{config.clientId}', clientSecret: '{config.clientSecret}', refreshToken: '{config.refreshToken}' },
  headers: { 'LinkedIn-Version': '{config.apiVersion}', 'X-Restli-Protocol-Version': '2.0.0' },
  accounts: { list: 'adAccountIds' },
  describe: { request: { path: '/adAccounts/{account}' }, currencyPath: 'currency' },
  request: {
    // Rest.li's query syntax is written as LinkedIn documents it: parentheses and colons bare, URNs encoded.
    path:
      '/adAnalytics?q=analytics&pivot=CAMPAIGN&timeGranularity=DAILY' +
      '&dateRange=(start:(year:{from:y},month:{from:M},day:{from:d}),end:(year:{to:y},month:{to:M},day:{to:d}))' +
      '&accounts=List(urn%3Ali%3AsponsoredAccount%3A{account})' +
      '&fields=dateRange,pivotValues,impressions,clicks,costInLocalCurrency,externalWebsiteConversions,conversionValueInLocalCurrency',
  },
  // adAnalytics is not paged: one answer of at most 15 000 elements, so a month of a large account's campaigns fits.
  pagination: { type: 'none' },
  window: { chunkDays: 31, lookbackDays: 30, zone: 'UTC' },
  records: 'elements',
  date: { path: 'dateRange.start', format: 'ymd_object' },
  dimensions: { channel: { value: 'paid_social' }, campaignId: { path: 'pivotValues.0', afterLast: ':' }, campaign: { path: 'pivotValues.0', afterLast: ':' } },
  metrics: {
    impressions: 'impressions',
    clicks: 'clicks',
    spend: 'costInLocalCurrency',
    conversions: 'externalWebsiteConversions',
    conversion_value: 'conversionValueInLocalCurrency',
  },
  check: { request: { path: '/adAccounts', query: { q: 'search' } }, records: 'elements', id: 'id', name: 'name', currency: 'currency', kind: 'ad account' },
  concurrency: { default: 2, max: 10 },
} satisfies SourceDefinitionInput;
