import { registerSecret } from '../../core/secrets.ts';
import type { OpenContext } from '../shared/connector.ts';
import { discoveryClient, failOnError, notAccessible, type Discovery, type SeenAccount } from '../shared/discover.ts';
import type { SendgridConfig } from './config.ts';

/**
 * Whether the SendGrid key works and may read what the connector reads: its scopes
 * (/v3/scopes, which any key may read), then the categories it sees (/v3/categories).
 */

export async function discoverSendgrid(config: SendgridConfig, ctx: OpenContext): Promise<Discovery> {
  registerSecret(config.apiKey);
  const http = discoveryClient(config, ctx, {
    baseURL: config.baseUrl ?? 'https://api.sendgrid.com',
    auth: { headers: () => ({ Authorization: `Bearer ${config.apiKey}` }) },
  });
  const scopesRes = await http.get<{ scopes?: string[] }>('/v3/scopes');
  failOnError(scopesRes, 'SendGrid /v3/scopes');
  const scopes = new Set(scopesRes.data?.scopes ?? []);

  const problems: string[] = [];
  const perCategory = (config.categories?.length ?? 0) > 0;
  const needed = perCategory ? 'categories.stats.read' : 'stats.read';
  if (!scopes.has(needed)) problems.push(`the API key lacks the scope ${needed}, which ${perCategory ? '/v3/categories/stats' : '/v3/stats'} needs`);

  const accounts: SeenAccount[] = [];
  const notes: string[] = [];
  if (scopes.has('categories.read')) {
    const res = await http.get<Array<{ category?: string }>>('/v3/categories', { query: { limit: 500 } });
    failOnError(res, 'SendGrid /v3/categories');
    for (const c of Array.isArray(res.data) ? res.data : []) {
      if (c.category) accounts.push({ id: c.category, configured: config.categories?.includes(c.category) ?? false, accessible: true });
    }
    for (const c of config.categories ?? []) {
      if (accounts.some((a) => a.id === c)) continue;
      problems.push(notAccessible(c));
      accounts.push({ id: c, configured: true, accessible: false });
    }
  } else {
    notes.push('the API key lacks the scope categories.read, so its categories are not listed');
  }
  const categories = accounts.filter((a) => a.accessible).map((a) => a.id);
  return { kind: 'category', accounts, problems, notes, configLines: categories.length > 0 ? { categories } : {} };
}
