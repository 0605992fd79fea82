import { type HttpResponse } from '../../core/http/index.ts';
import { scrubbedLine } from '../../core/http/redact.ts';
import { cutText, registerSecret } from '../../core/secrets.ts';
import type { OpenContext } from '../shared/connector.ts';
import { CredentialsRefusedError, discoveryClient, notAccessible, reasonOf, refusingAuth, type Discovery, type SeenAccount } from '../shared/discover.ts';
import { ConfigError } from '../../core/errors.ts';
import { createGoogleAuth } from '../shared/google-auth.ts';
import type { GoogleAdsConfig } from './config.ts';
import { adsFailureMessage } from './errors.ts';

/**
 * Which Google Ads customers the credentials reach: customers:listAccessibleCustomers (those
 * the user was given directly), then each one's name, currency and time zone FROM customer.
 * A configured customer that is not listed may still be reached through the manager named by
 * loginCustomerId, so it is asked for the way a sync asks, and only a refusal counts.
 */

const BASE_URL = 'https://googleads.googleapis.com';
const SCOPES = ['https://www.googleapis.com/auth/adwords'];
export const CUSTOMER_FIELDS_QUERY = 'SELECT customer.descriptive_name, customer.currency_code, customer.time_zone, customer.manager FROM customer';

interface CustomerRow {
  customer?: { descriptiveName?: string; currencyCode?: string; timeZone?: string; manager?: boolean };
}

/** Google Ads' reasons are in its failure details; the envelope's message says less. */
function adsReason(res: HttpResponse<unknown>): string {
  const own = adsFailureMessage(res.data);
  return own ? cutText(scrubbedLine(own), 300) : reasonOf(res);
}

export async function discoverGoogleAds(config: GoogleAdsConfig, ctx: OpenContext): Promise<Discovery> {
  registerSecret(config.developerToken);
  const auth = createGoogleAuth(config.auth, SCOPES);
  const http = discoveryClient(config, ctx, {
    baseURL: config.baseUrl ?? BASE_URL,
    headers: { 'developer-token': config.developerToken },
    auth: refusingAuth(auth.provider),
  });
  const v = config.apiVersion;

  const listed = await http.get<{ resourceNames?: string[] }>(`/${v}/customers:listAccessibleCustomers`);
  if (listed.status === 401 || listed.status === 403) throw new CredentialsRefusedError(adsReason(listed));
  if (listed.status >= 400) throw new ConfigError(`Google Ads customers:listAccessibleCustomers answered HTTP ${listed.status}: ${adsReason(listed)}`);
  const direct = (listed.data?.resourceNames ?? []).map((n) => n.replace(/^customers\//, '')).filter((id) => /^\d{10}$/.test(id));

  /** The customer's own fields, or null when these credentials may not read it. */
  async function customer(id: string, login: string): Promise<CustomerRow['customer'] | null> {
    const res = await http.post<{ results?: CustomerRow[] }>(`/${v}/customers/${id}/googleAds:search`, { query: CUSTOMER_FIELDS_QUERY }, { headers: { 'login-customer-id': login } });
    if (res.status === 401) throw new CredentialsRefusedError(adsReason(res));
    // USER_PERMISSION_DENIED, CUSTOMER_NOT_ENABLED and the like: this customer, not the credentials.
    if (res.status === 403) return null;
    if (res.status >= 400) throw new ConfigError(`Google Ads search FROM customer ${id} answered HTTP ${res.status}: ${adsReason(res)}`);
    return res.data?.results?.[0]?.customer ?? {};
  }

  const accounts: SeenAccount[] = [];
  const problems: string[] = [];
  const ids = [...direct, ...config.customerIds.filter((id) => !direct.includes(id))];
  for (const id of ids) {
    const configured = config.customerIds.includes(id);
    // As a sync would: through the configured manager; a listed customer on its own otherwise.
    const c = await customer(id, configured && config.loginCustomerId ? config.loginCustomerId : id);
    if (!c) {
      if (configured) problems.push(notAccessible(id));
      accounts.push({ id, configured, accessible: false });
      continue;
    }
    accounts.push({
      id,
      name: c.descriptiveName ?? null,
      currency: c.currencyCode ?? null,
      timeZone: c.timeZone ?? null,
      details: { manager: c.manager ? 'yes' : 'no' },
      configured,
      accessible: true,
    });
  }

  const reachable = accounts.filter((a) => a.accessible);
  const clients = reachable.filter((a) => a.details?.manager !== 'yes').map((a) => a.id);
  const managers = reachable.filter((a) => a.details?.manager === 'yes').map((a) => a.id);
  const configLines: Record<string, unknown> = {};
  if (clients.length > 0) configLines.customerIds = clients;
  // A manager reaches its clients with login-customer-id; one manager is the obvious choice.
  if (managers.length === 1) configLines.loginCustomerId = config.loginCustomerId ?? managers[0];
  return { kind: 'customer', accounts, problems, notes: [], configLines };
}
