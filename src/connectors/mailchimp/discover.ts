import { registerSecret } from '../../core/secrets.ts';
import type { OpenContext } from '../shared/connector.ts';
import { discoveryClient, failOnError, type Discovery } from '../shared/discover.ts';
import type { MailchimpConfig } from './config.ts';

/**
 * Whether the Mailchimp key works (/ping), whose account it is and its time zone (the API
 * root), and the audiences it sees (/lists). The connector reads every campaign of the
 * account, so the lists are for reference; the time zone is what the config should match.
 */

/** The datacenter a key belongs to, which names its API host: "…-us6" → "us6". */
export function datacenterOf(apiKey: string): string {
  return apiKey.slice(apiKey.lastIndexOf('-') + 1);
}

interface Root {
  account_name?: string;
  account_timezone?: string;
}

interface Lists {
  lists?: Array<{ id?: string; name?: string; stats?: { member_count?: number } }>;
  total_items?: number;
}

export async function discoverMailchimp(config: MailchimpConfig, ctx: OpenContext): Promise<Discovery> {
  registerSecret(config.apiKey);
  const basic = `Basic ${Buffer.from(`kpi:${config.apiKey}`).toString('base64')}`;
  registerSecret(basic.slice(6));
  const http = discoveryClient(config, ctx, {
    baseURL: config.baseUrl ?? `https://${datacenterOf(config.apiKey)}.api.mailchimp.com`,
    auth: { headers: () => ({ Authorization: basic }) },
  });
  failOnError(await http.get('/3.0/ping'), 'Mailchimp /3.0/ping');
  const root = await http.get<Root>('/3.0/', { query: { fields: 'account_name,account_timezone' } });
  failOnError(root, 'Mailchimp /3.0/');
  const lists = await http.get<Lists>('/3.0/lists', { query: { count: 1000, fields: 'lists.id,lists.name,lists.stats.member_count,total_items' } });
  failOnError(lists, 'Mailchimp /3.0/lists');

  const zone = root.data?.account_timezone ?? null;
  const notes = [`Mailchimp account "${root.data?.account_name ?? '?'}"${zone ? `, time zone ${zone}` : ''}; the connector reads every campaign of the account`];
  if (zone && zone !== config.timezone) notes.push(`the connector's timezone is ${config.timezone}, the account's ${zone}: campaigns are dated by the connector's`);
  return {
    kind: 'list',
    accounts: (lists.data?.lists ?? []).map((l) => ({
      id: l.id ?? '',
      name: l.name ?? null,
      details: { members: l.stats?.member_count ?? null },
      configured: false,
      accessible: true,
    })),
    problems: [],
    notes,
    configLines: zone ? { timezone: zone } : {},
  };
}
