import type { OpenContext } from '../shared/connector.ts';
import { discoveryClient, failOnError, notAccessible, refuseOn401or403, refusingAuth, type Discovery, type SeenAccount } from '../shared/discover.ts';
import { createGoogleAuth } from '../shared/google-auth.ts';
import type { Ga4Config } from './config.ts';

/**
 * Which GA4 properties the credentials see: the Admin API's account summaries (every account
 * and property the caller may read), then each property for its currency and time zone. The
 * Data API has no listing; the same analytics.readonly scope reads the Admin API.
 */

const ADMIN_URL = 'https://analyticsadmin.googleapis.com';
const SCOPES = ['https://www.googleapis.com/auth/analytics.readonly'];
/** 200 summaries a page (the API's most): more pages than this is not an account list to print. */
const MAX_PAGES = 50;

interface AccountSummaries {
  accountSummaries?: Array<{ account?: string; displayName?: string; propertySummaries?: Array<{ property?: string; displayName?: string }> }>;
  nextPageToken?: string;
}

interface Property {
  currencyCode?: string;
  timeZone?: string;
}

export async function discoverGa4(config: Ga4Config, ctx: OpenContext): Promise<Discovery> {
  const auth = createGoogleAuth(config.auth, SCOPES);
  const http = discoveryClient(config, ctx, {
    // A sandbox or proxy (baseUrl) serves both the Data and the Admin API.
    baseURL: config.baseUrl ?? ADMIN_URL,
    auth: refusingAuth(auth.provider),
  });

  const seen: Array<{ id: string; name: string; account: string }> = [];
  let pageToken: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const res = await http.get<AccountSummaries>('/v1beta/accountSummaries', { query: { pageSize: 200, pageToken } });
    failOnError(res, 'Google Analytics Admin API accountSummaries.list');
    for (const account of res.data?.accountSummaries ?? []) {
      for (const p of account.propertySummaries ?? []) {
        const id = p.property?.replace(/^properties\//, '');
        if (id) seen.push({ id, name: p.displayName ?? '', account: account.displayName ?? account.account ?? '' });
      }
    }
    pageToken = res.data?.nextPageToken || undefined;
    if (!pageToken) break;
  }

  const accounts: SeenAccount[] = [];
  for (const p of seen) {
    const res = await http.get<Property>(`/v1beta/properties/${p.id}`);
    // Listed yet not readable on its own is a refusal of this property, not of the credentials.
    if (res.status === 401) refuseOn401or403(res);
    const ok = res.status < 300;
    accounts.push({
      id: p.id,
      name: p.name,
      currency: ok ? (res.data?.currencyCode ?? null) : null,
      timeZone: ok ? (res.data?.timeZone ?? null) : null,
      details: { account: p.account },
      configured: config.propertyIds.includes(p.id),
      accessible: ok,
    });
  }

  const problems: string[] = [];
  for (const id of config.propertyIds) {
    if (seen.some((p) => p.id === id)) continue;
    problems.push(notAccessible(id));
    accounts.push({ id, configured: true, accessible: false });
  }
  for (const a of accounts) if (a.configured && !a.accessible && seen.some((p) => p.id === a.id)) problems.push(notAccessible(a.id));
  const readable = accounts.filter((a) => a.accessible).map((a) => a.id);
  return { kind: 'property', accounts, problems, notes: [], configLines: readable.length > 0 ? { propertyIds: readable } : {} };
}
