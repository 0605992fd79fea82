import type { SourceDefinitionInput } from '../declarative/definition.ts';

/**
 * HubSpot deals by close date (CRM search API, private app token): deals won and their
 * revenue, and the open pipeline by the date each deal is expected to close. Amounts are in
 * the deal's currency, or the portal's; dates in the portal's time zone.
 */
export const hubspotSource = {
  type: 'hubspot',
  title: 'HubSpot',
  config: {
    accessToken: { kind: 'secret', description: 'a private app access token with the `crm.objects.deals.read` scope (a secret, e.g. `${env:HUBSPOT_TOKEN}`)' },
    account: { kind: 'string', default: 'hubspot', description: 'the account the facts are stored under' },
  },
  baseUrl: 'https://api.hubapi.com',
  auth: { type: 'bearer', token: '{config.accessToken}' },
  accounts: { single: 'account' },
  describe: { request: { path: '/account-info/v3/details' }, currencyPath: 'companyCurrency', timeZonePath: 'timeZone' },
  request: {
    method: 'POST',
    path: '/crm/v3/objects/deals/search',
    body: {
      filterGroups: [{ filters: [{ propertyName: 'closedate', operator: 'BETWEEN', value: '{from_ms}', highValue: '{to_ms}' }] }],
      properties: ['dealname', 'amount', 'closedate', 'dealstage', 'pipeline', 'hs_is_closed', 'hs_is_closed_won', 'deal_currency_code'],
      sorts: [{ propertyName: 'closedate', direction: 'ASCENDING' }],
      limit: 200,
    },
  },
  // The search API pages by an `after` cursor sent back in the body, 200 deals a page, 10 000 a query.
  pagination: { type: 'cursor', in: 'body', param: 'after', cursorPath: 'paging.next.after' },
  // Deals change stage and amount for weeks around their close date.
  window: { chunkDays: 31, lookbackDays: 30, zone: 'config' },
  records: 'results',
  date: { path: 'properties.closedate', format: 'iso' },
  dimensions: { channel: { value: '' } },
  currency: { path: 'properties.deal_currency_code' },
  metrics: {
    deals_won: { count: true, where: { 'properties.hs_is_closed_won': true } },
    revenue: { path: 'properties.amount', where: { 'properties.hs_is_closed_won': true } },
    pipeline: { path: 'properties.amount', where: { 'properties.hs_is_closed': false } },
  },
  check: { request: { path: '/account-info/v3/details' }, records: '', id: 'portalId', currency: 'companyCurrency', timeZone: 'timeZone', kind: 'portal', matchAccounts: false },
  concurrency: { default: 2, max: 5 },
} satisfies SourceDefinitionInput;
