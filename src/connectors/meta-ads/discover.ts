import { createHmac } from 'node:crypto';
import { ConfigError } from '../../core/errors.ts';
import { type HttpResponse } from '../../core/http/index.ts';
import { scrubbedLine } from '../../core/http/redact.ts';
import { cutText, registerSecret } from '../../core/secrets.ts';
import type { OpenContext } from '../shared/connector.ts';
import { answerRefusals, CredentialsRefusedError, discoveryClient, notAccessible, reasonOf, type Discovery, type SeenAccount } from '../shared/discover.ts';
import type { MetaAdsConfig } from './config.ts';
import { classifyMeta, graphError } from './errors.ts';

/**
 * Which ad accounts the access token sees: GET /me/adaccounts with their name, currency,
 * time zone and status. A configured account missing from the list (a system user's token,
 * an account shared through a business) is asked for on its own before it counts as out of reach.
 */

const BASE_URL = 'https://graph.facebook.com';
const FIELDS = 'name,currency,timezone_name,account_status';
const MAX_PAGES = 50;

/** Meta's account_status values (AdAccount reference). */
const STATUS: Record<number, string> = {
  1: 'active',
  2: 'disabled',
  3: 'unsettled',
  7: 'pending risk review',
  8: 'pending settlement',
  9: 'in grace period',
  100: 'pending closure',
  101: 'closed',
  201: 'any active',
  202: 'any closed',
};

interface AdAccount {
  id?: string;
  name?: string;
  currency?: string;
  timezone_name?: string;
  account_status?: number;
}

// Invalid, expired or missing token; missing permission (#10, #200–#299).
const TOKEN_CODES = new Set([102, 104, 190, 463, 467]);
const isPermission = (code: number): boolean => code === 10 || (code >= 200 && code <= 299);

/** Meta reports a bad token as HTTP 400 with code 190: the code decides, not the status. */
function refusedBy(res: HttpResponse<unknown>): string | undefined {
  const e = graphError(res.data);
  if (e && (TOKEN_CODES.has(e.code) || isPermission(e.code))) return cutText(scrubbedLine(`${e.message} (code ${e.code}${e.subcode !== undefined ? `/${e.subcode}` : ''})`), 300);
  if (res.status === 401 || res.status === 403) return reasonOf(res);
  return undefined;
}

export async function discoverMetaAds(config: MetaAdsConfig, ctx: OpenContext): Promise<Discovery> {
  registerSecret(config.accessToken);
  const auth: Record<string, string> = { access_token: config.accessToken };
  if (config.appSecret) {
    registerSecret(config.appSecret);
    auth.appsecret_proof = createHmac('sha256', config.appSecret).update(config.accessToken).digest('hex');
    registerSecret(auth.appsecret_proof);
  }
  const http = discoveryClient(config, ctx, {
    baseURL: `${(config.baseUrl ?? BASE_URL).replace(/\/+$/, '')}/${config.apiVersion}`,
    auth: { headers: () => ({}), query: () => auth },
    // Throttling and Meta's transient errors come as 400s with their own codes: retried as a sync would.
    classify: (res) => {
      const verdict = classifyMeta(res, () => undefined);
      return verdict === 'retry' || (typeof verdict === 'object' && verdict.verdict === 'retry') ? verdict : answerRefusals(res);
    },
  });

  const listed: AdAccount[] = [];
  let after: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const res = await http.get<{ data?: AdAccount[]; paging?: { next?: string; cursors?: { after?: string } } }>('/me/adaccounts', { query: { fields: FIELDS, limit: 100, after } });
    const refused = refusedBy(res);
    if (refused) throw new CredentialsRefusedError(refused);
    if (res.status >= 400) throw new ConfigError(`Meta /me/adaccounts answered HTTP ${res.status}: ${reasonOf(res)}`);
    listed.push(...(res.data?.data ?? []));
    after = res.data?.paging?.next ? res.data.paging.cursors?.after : undefined;
    if (!after) break;
  }

  const shown = (a: AdAccount, configured: boolean): SeenAccount => ({
    id: a.id ?? '',
    name: a.name ?? null,
    currency: a.currency ?? null,
    timeZone: a.timezone_name ?? null,
    details: { status: a.account_status === undefined ? null : (STATUS[a.account_status] ?? String(a.account_status)) },
    configured,
    accessible: true,
  });
  const accounts = listed.filter((a) => a.id).map((a) => shown(a, config.adAccountIds.includes(a.id!)));
  const problems: string[] = [];
  for (const id of config.adAccountIds) {
    if (accounts.some((a) => a.id === id)) continue;
    const res = await http.get<AdAccount>(`/${id}`, { query: { fields: FIELDS } });
    const refused = refusedBy(res);
    // Code 100/33: "does not exist, cannot be loaded due to missing permissions".
    if (res.status >= 400 && !refused && graphError(res.data)?.code !== 100) throw new ConfigError(`Meta /${id} answered HTTP ${res.status}: ${reasonOf(res)}`);
    if (res.status < 400 && res.data?.id) {
      accounts.push(shown(res.data, true));
      continue;
    }
    problems.push(notAccessible(id));
    accounts.push({ id, configured: true, accessible: false });
  }
  const notes = accounts
    .filter((a) => a.configured && a.accessible && a.details?.status !== 'active' && a.details?.status !== null)
    .map((a) => `ad account ${a.id} is ${a.details?.status}: it may deliver no ads, and so no data`);
  const active = accounts.filter((a) => a.accessible && a.details?.status === 'active').map((a) => a.id);
  return { kind: 'ad account', accounts, problems, notes, configLines: active.length > 0 ? { adAccountIds: active } : {} };
}
