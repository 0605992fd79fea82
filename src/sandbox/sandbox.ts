import type { Dataset } from './dataset.ts';
import { startGa4Fake, type Ga4Settings } from './ga4.ts';
import { GOOGLE_ADS_DEVELOPER_TOKEN, startGoogleAdsFake, type GoogleAdsSettings } from './google-ads.ts';
import { GOOGLE_STATIC_TOKEN, SANDBOX_OAUTH_CLIENT, startGoogleTokenFake, type GoogleTokenFake, type OAuthClient, type ServiceAccountKey } from './google-token.ts';
import { MAILCHIMP_API_KEY, startMailchimpFake, type MailchimpSettings } from './mailchimp.ts';
import { META_ACCESS_TOKEN, startMetaFake, type MetaSettings } from './meta.ts';
import { startSearchConsoleFake, type SearchConsoleSettings } from './search-console.ts';
import { SENDGRID_API_KEY, startSendgridFake, type SendgridSettings } from './sendgrid.ts';
import { CredentialStore, type FakeServer } from './server.ts';
import { SHOP_ACCESS_TOKEN, startShopFake, type ShopSettings } from './shop.ts';

export interface SandboxOptions {
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
  };
  credentials: {
    google: { oauthClient: OAuthClient; tokenUrl: string; staticAccessToken: string; readonly serviceAccountKey: ServiceAccountKey };
    googleAds: { developerToken: string; loginCustomerId: string; customerIds: string[] };
    meta: { accessToken: string; adAccountId: string };
    mailchimp: { apiKey: string };
    sendgrid: { apiKey: string };
    shop: { accessToken: string };
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
  ] as const);
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
    throw (failed as PromiseRejectedResult).reason;
  }
  const [googleToken, ga4, searchConsole, googleAds, meta, mailchimp, sendgrid, shop] = started.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [
    GoogleTokenFake, FakeServer<Ga4Settings>, FakeServer<SearchConsoleSettings>, FakeServer<GoogleAdsSettings>,
    FakeServer<MetaSettings>, FakeServer<MailchimpSettings>, FakeServer<SendgridSettings>, FakeServer<ShopSettings>,
  ];
  const fakes = { googleToken, ga4, searchConsole, googleAds, meta, mailchimp, sendgrid, shop };
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
    },
    credentials: {
      google: {
        oauthClient: SANDBOX_OAUTH_CLIENT,
        tokenUrl: googleToken.tokenUrl,
        staticAccessToken: GOOGLE_STATIC_TOKEN,
        get serviceAccountKey() {
          return googleToken.serviceAccountKey;
        },
      },
      googleAds: { developerToken: GOOGLE_ADS_DEVELOPER_TOKEN, loginCustomerId: dataset.googleAds.managerCustomerId, customerIds: dataset.googleAds.customers.map((c) => c.id) },
      meta: { accessToken: META_ACCESS_TOKEN, adAccountId: dataset.meta.accountId },
      mailchimp: { apiKey: MAILCHIMP_API_KEY },
      sendgrid: { apiKey: SENDGRID_API_KEY },
      shop: { accessToken: SHOP_ACCESS_TOKEN },
    },
    fakes,
    close: async () => {
      await Promise.all(Object.values(fakes).map((f) => f.close()));
    },
  };
}
