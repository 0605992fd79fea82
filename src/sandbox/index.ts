export { createDataset, restate, GA4_CHANNELS, GA4_METRICS, SENDGRID_METRICS } from './dataset.ts';
export type {
  AdNetworkType, DailyTable, Dataset, DatasetOptions, Ga4Channel, Ga4Metric, Ga4Row, GoogleAdsCampaign, GoogleAdsCustomer, GoogleAdsRow,
  MailchimpCampaign, MetaAction, MetaCampaign, MetaRow, Restatement, SearchConsoleRow, SendgridCategory, SendgridMetrics, SendgridRow,
  ShopOrder, SourceName,
} from './dataset.ts';
export { CredentialStore } from './server.ts';
export type { CredentialState, Fault, FaultKind, FakeServer, LoggedRequest } from './server.ts';
export { GOOGLE_JWT_GRANT, GOOGLE_STATIC_TOKEN, SANDBOX_OAUTH_CLIENT, startGoogleTokenFake } from './google-token.ts';
export type { GoogleTokenFake, GoogleTokenOptions, GoogleTokenSettings, OAuthClient, ServiceAccountKey } from './google-token.ts';
export { startGa4Fake } from './ga4.ts';
export type { Ga4FakeOptions, Ga4Settings } from './ga4.ts';
export { startSearchConsoleFake } from './search-console.ts';
export type { SearchConsoleFakeOptions, SearchConsoleSettings } from './search-console.ts';
export { GOOGLE_ADS_DEVELOPER_TOKEN, startGoogleAdsFake } from './google-ads.ts';
export type { GoogleAdsFakeOptions, GoogleAdsSettings } from './google-ads.ts';
export { META_ACCESS_TOKEN, startMetaFake } from './meta.ts';
export type { MetaFakeOptions, MetaSettings } from './meta.ts';
export { MAILCHIMP_API_KEY, startMailchimpFake } from './mailchimp.ts';
export type { MailchimpFakeOptions, MailchimpSettings } from './mailchimp.ts';
export { SENDGRID_API_KEY, startSendgridFake } from './sendgrid.ts';
export type { SendgridFakeOptions, SendgridSettings } from './sendgrid.ts';
export { SHOP_ACCESS_TOKEN, startShopFake } from './shop.ts';
export type { ShopFakeOptions, ShopSettings } from './shop.ts';
export { startSandbox } from './sandbox.ts';
export type { Sandbox, SandboxOptions } from './sandbox.ts';
export { startCatcher, type Catcher, type CaughtMessage } from './catcher.ts';
export { crmRows, writeCrmExport, type CrmRow } from './crm-export.ts';
