import type { OpenContext } from '../shared/connector.ts';
import { discoveryClient, failOnError, notAccessible, refusingAuth, type Discovery, type SeenAccount } from '../shared/discover.ts';
import { createGoogleAuth } from '../shared/google-auth.ts';
import type { SearchConsoleConfig } from './config.ts';

/** Which Search Console sites the credentials see: sites.list, with each site's permission level. */

const API_URL = 'https://searchconsole.googleapis.com';
const SCOPES = ['https://www.googleapis.com/auth/webmasters.readonly'];
/** Search Console dates every site's days in Pacific Time. */
const ZONE = 'America/Los_Angeles';

interface SitesList {
  siteEntry?: Array<{ siteUrl?: string; permissionLevel?: string }>;
}

export async function discoverSearchConsole(config: SearchConsoleConfig, ctx: OpenContext): Promise<Discovery> {
  const auth = createGoogleAuth(config.auth, SCOPES);
  const http = discoveryClient(config, ctx, {
    baseURL: config.baseUrl ?? API_URL,
    auth: refusingAuth(auth.provider),
  });
  const res = await http.get<SitesList>('/webmasters/v3/sites');
  failOnError(res, 'Search Console API sites.list');
  const sites = (res.data?.siteEntry ?? []).filter((s): s is { siteUrl: string; permissionLevel?: string } => typeof s.siteUrl === 'string');
  // An unverified user is listed but reads no data.
  const readable = (level: string | undefined) => level !== 'siteUnverifiedUser';
  const accounts: SeenAccount[] = sites.map((s) => ({
    id: s.siteUrl,
    timeZone: ZONE,
    details: { permission: s.permissionLevel ?? null },
    configured: config.siteUrls.includes(s.siteUrl),
    accessible: readable(s.permissionLevel),
  }));
  const problems: string[] = [];
  for (const url of config.siteUrls) {
    const site = sites.find((s) => s.siteUrl === url);
    if (site && readable(site.permissionLevel)) continue;
    problems.push(site ? `${notAccessible(url)} (permission ${site.permissionLevel}: not a verified owner or user)` : notAccessible(url));
    if (!site) accounts.push({ id: url, configured: true, accessible: false });
  }
  const urls = accounts.filter((a) => a.accessible).map((a) => a.id);
  return { kind: 'site', accounts, problems, notes: [], configLines: urls.length > 0 ? { siteUrls: urls } : {} };
}
