import type { Dataset } from './dataset.ts';
import { startGa4Fake, type Ga4Settings } from './ga4.ts';
import { GOOGLE_ADS_DEVELOPER_TOKEN, startGoogleAdsFake, type GoogleAdsSettings } from './google-ads.ts';
import { GOOGLE_STATIC_TOKEN, SANDBOX_OAUTH_CLIENT, startGoogleTokenFake, type GoogleTokenFake, type OAuthClient, type ServiceAccountKey } from './google-token.ts';
import { MAILCHIMP_API_KEY, startMailchimpFake, type MailchimpSettings } from './mailchimp.ts';
import { META_ACCESS_TOKEN, META_APP, META_SHORT_LIVED_TOKEN, startMetaFake, type MetaSettings } from './meta.ts';
import { startSearchConsoleFake, type SearchConsoleSettings } from './search-console.ts';
import { SENDGRID_API_KEY, startSendgridFake, type SendgridSettings } from './sendgrid.ts';
import { CredentialStore, type FakeServer } from './server.ts';
import { SHOP_ACCESS_TOKEN, startShopFake, type ShopSettings } from './shop.ts';
import { HUBSPOT_ACCESS_TOKEN, startHubspotFake, type HubspotSettings } from './hubspot.ts';
import { LINKEDIN_CLIENT, startLinkedInFake, type LinkedInSettings } from './linkedin.ts';
import { TIKTOK_ACCESS_TOKEN, startTikTokFake, type TikTokSettings } from './tiktok.ts';
import { KLAVIYO_API_KEY, startKlaviyoFake, type KlaviyoSettings } from './klaviyo.ts';

interface SandboxOptions {
  /** expires_in of Google access tokens; default 3599. */
  googleTokenExpiresInSec?: number;
  settings?: {
    ga4?: Partial<Ga4Settings>;
    searchConsole?: Partial<SearchConsoleSettings>;
    googleAds?: Partial<GoogleAdsSettings>;
    meta?: Partial<MetaSettings>;
    mailchimp?: Partial<MailchimpSettings>;
    sendgrid?: Partial<SendgridSettings>;
    shop?: Partial<ShopSettings>;
    hubspot?: Partial<HubspotSettings>;
    linkedin?: Partial<LinkedInSettings>;
    tiktok?: Partial<TikTokSettings>;
    klaviyo?: Partial<KlaviyoSettings>;
  };
}

export interface Sandbox {
  /** Each fake's base URL (no trailing slash). */
  urls: {
    googleToken: string;
    ga4: string;
    searchConsole: string;
    googleAds: string;
    meta: string;
    mailchimp: string;
    sendgrid: string;
    shop: string;
    hubspot: string;
    linkedin: string;
    tiktok: string;
    klaviyo: string;
  };
  credentials: {
    google: { oauthClient: OAuthClient; tokenUrl: string; authUrl: string; staticAccessToken: string; readonly serviceAccountKey: ServiceAccountKey };
    googleAds: { developerToken: string; loginCustomerId: string; customerIds: string[] };
    meta: { accessToken: string; adAccountId: string; app: { id: string; secret: string }; shortLivedToken: string };
    mailchimp: { apiKey: string };
    sendgrid: { apiKey: string };
    shop: { accessToken: string };
    hubspot: { accessToken: string };
    linkedin: { clientId: string; clientSecret: string; refreshToken: string; adAccountIds: string[] };
    tiktok: { accessToken: string; advertiserIds: string[] };
    klaviyo: { apiKey: string; metricIds: Record<string, string> };
  };
  fakes: {
    googleToken: GoogleTokenFake;
    ga4: FakeServer<Ga4Settings>;
    searchConsole: FakeServer<SearchConsoleSettings>;
    googleAds: FakeServer<GoogleAdsSettings>;
    meta: FakeServer<MetaSettings>;
    mailchimp: FakeServer<MailchimpSettings>;
    sendgrid: FakeServer<SendgridSettings>;
    shop: FakeServer<ShopSettings>;
    hubspot: FakeServer<HubspotSettings>;
    linkedin: FakeServer<LinkedInSettings> & { issued: string[] };
    tiktok: FakeServer<TikTokSettings>;
    klaviyo: FakeServer<KlaviyoSettings>;
  };
  close(): Promise<void>;
}

/** Starts every fake on its own port, the Google ones sharing the token endpoint's tokens. */
export async function startSandbox(dataset: Dataset, options: SandboxOptions = {}): Promise<Sandbox> {
  const google = new CredentialStore([GOOGLE_STATIC_TOKEN]);
  const s = options.settings ?? {};
  const started = await Promise.allSettled([
    startGoogleTokenFake({ credentials: google, expiresInSec: options.googleTokenExpiresInSec }),
    startGa4Fake(dataset, { credentials: google, settings: s.ga4 }),
    startSearchConsoleFake(dataset, { credentials: google, settings: s.searchConsole }),
    startGoogleAdsFake(dataset, { credentials: google, settings: s.googleAds }),
    startMetaFake(dataset, { settings: s.meta }),
    startMailchimpFake(dataset, { settings: s.mailchimp }),
    startSendgridFake(dataset, { settings: s.sendgrid }),
    startShopFake(dataset, { settings: s.shop }),
    startHubspotFake(dataset, { settings: s.hubspot }),
    startLinkedInFake(dataset, { settings: s.linkedin }),
    startTikTokFake(dataset, { settings: s.tiktok }),
    startKlaviyoFake(dataset, { settings: s.klaviyo }),
  ] as const);
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
    throw (failed as PromiseRejectedResult).reason;
  }
  const [googleToken, ga4, searchConsole, googleAds, meta, mailchimp, sendgrid, shop, hubspot, linkedin, tiktok, klaviyo] = started.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [
    GoogleTokenFake, FakeServer<Ga4Settings>, FakeServer<SearchConsoleSettings>, FakeServer<GoogleAdsSettings>,
    FakeServer<MetaSettings>, FakeServer<MailchimpSettings>, FakeServer<SendgridSettings>, FakeServer<ShopSettings>,
    FakeServer<HubspotSettings>, FakeServer<LinkedInSettings> & { issued: string[] }, FakeServer<TikTokSettings>, FakeServer<KlaviyoSettings>,
  ];
  const fakes = { googleToken, ga4, searchConsole, googleAds, meta, mailchimp, sendgrid, shop, hubspot, linkedin, tiktok, klaviyo };
  return {
    urls: {
      googleToken: googleToken.url,
      ga4: ga4.url,
      searchConsole: searchConsole.url,
      googleAds: googleAds.url,
      meta: meta.url,
      mailchimp: mailchimp.url,
      sendgrid: sendgrid.url,
      shop: shop.url,
      hubspot: hubspot.url,
      linkedin: linkedin.url,
      tiktok: tiktok.url,
      klaviyo: klaviyo.url,
    },
    credentials: {
      google: {
        oauthClient: SANDBOX_OAUTH_CLIENT,
        tokenUrl: googleToken.tokenUrl,
        authUrl: googleToken.authUrl,
        staticAccessToken: GOOGLE_STATIC_TOKEN,
        get serviceAccountKey() {
          return googleToken.serviceAccountKey;
        },
      },
      googleAds: { developerToken: GOOGLE_ADS_DEVELOPER_TOKEN, loginCustomerId: dataset.googleAds.managerCustomerId, customerIds: dataset.googleAds.customers.map((c) => c.id) },
      meta: { accessToken: META_ACCESS_TOKEN, adAccountId: dataset.meta.accountId, app: META_APP, shortLivedToken: META_SHORT_LIVED_TOKEN },
      mailchimp: { apiKey: MAILCHIMP_API_KEY },
      sendgrid: { apiKey: SENDGRID_API_KEY },
      shop: { accessToken: SHOP_ACCESS_TOKEN },
      hubspot: { accessToken: HUBSPOT_ACCESS_TOKEN },
      linkedin: { ...LINKEDIN_CLIENT, adAccountIds: dataset.linkedin.accountIds },
      tiktok: { accessToken: TIKTOK_ACCESS_TOKEN, advertiserIds: dataset.tiktok.advertiserIds },
      klaviyo: { apiKey: KLAVIYO_API_KEY, metricIds: Object.fromEntries(Object.entries(dataset.klaviyo.metrics).map(([k, m]) => [k, m.id])) },
    },
    fakes,
    close: async () => {
      await Promise.all(Object.values(fakes).map((f) => f.close()));
    },
  };
}

/**
 * The variables a configuration of the Google and Meta connectors reads to point at the sandbox
 * (`\${var:SANDBOX_GA4_URL}`, `\${env:SANDBOX_G_REFRESH_TOKEN}`, …): for tests and benchmarks.
 * `refreshToken`: another grant of the sandbox's OAuth client than its own.
 */
export function sandboxConnectorEnv(sandbox: Sandbox, refreshToken = sandbox.credentials.google.oauthClient.refreshToken): Record<string, string> {
  const { urls, credentials: c } = sandbox;
  return {
    SANDBOX_G_CLIENT_ID: c.google.oauthClient.clientId,
    SANDBOX_G_CLIENT_SECRET: c.google.oauthClient.clientSecret,
    SANDBOX_G_REFRESH_TOKEN: refreshToken,
    SANDBOX_TOKEN_URL: c.google.tokenUrl,
    SANDBOX_GA4_URL: urls.ga4,
    SANDBOX_ADS_URL: urls.googleAds,
    SANDBOX_ADS_DEVELOPER_TOKEN: c.googleAds.developerToken,
    SANDBOX_META_TOKEN: c.meta.accessToken,
    SANDBOX_META_URL: urls.meta,
  };
}
