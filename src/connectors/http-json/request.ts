import { registerSecret } from '../../core/secrets.ts';
import type { AuthProvider } from '../../core/http/index.ts';
import type { HttpJsonConfig } from './config.ts';

/** How the connector's requests reach the configured API: its credentials and its origin; shared by sync and check. */

export function authFor(config: HttpJsonConfig): AuthProvider | undefined {
  const auth = config.auth;
  switch (auth.type) {
    case 'none':
      return undefined;
    case 'bearer':
      registerSecret(auth.token);
      return { headers: () => ({ Authorization: `Bearer ${auth.token}` }) };
    case 'basic': {
      const encoded = Buffer.from(`${auth.username}:${auth.password}`).toString('base64');
      registerSecret(encoded);
      return { headers: () => ({ Authorization: `Basic ${encoded}` }) };
    }
    case 'header':
      registerSecret(auth.value);
      return { headers: () => ({ [auth.name]: auth.value }) };
    case 'query':
      registerSecret(auth.value);
      // Through the client, which redacts the parameter from its logs whatever its name.
      return { headers: () => ({}), query: () => ({ [auth.name]: auth.value }) };
  }
}

/** baseUrl (sandbox, proxy) replaces the scheme, host and port of the configured URL. */
export function withBase(rawUrl: string, base: string | undefined): string {
  if (!base) return rawUrl;
  const b = new URL(base);
  const u = new URL(rawUrl, b);
  u.protocol = b.protocol;
  u.host = b.host;
  return u.toString();
}

/** An unreadable URL is left for the first request to report, with the connector's name. */
export function originOf(url: string): { baseURL?: string } {
  try {
    return { baseURL: new URL(url).origin };
  } catch {
    return {};
  }
}

/** The paging settings both http_json and source definitions share. */
export type PagingSettings =
  | { type: 'page'; param: string; sizeParam?: string | undefined; size?: number | undefined }
  | { type: 'offset'; param: string; sizeParam: string; size: number }
  | { type: 'cursor'; param: string; in?: 'query' | 'body' }
  | { type: 'none' | 'link_header' | 'next_url' };

/** The parameters that ask for the page at `at`: in the query, or (a search API's cursor) in the JSON body. */
export function pagingParams(p: PagingSettings, at: { page: number; offset: number; cursor?: string | undefined }): { query: Record<string, string>; body: Record<string, unknown> } {
  const query: Record<string, string> = {};
  const body: Record<string, unknown> = {};
  if (p.type === 'page') {
    query[p.param] = String(at.page);
    if (p.sizeParam && p.size) query[p.sizeParam] = String(p.size);
  } else if (p.type === 'offset') {
    query[p.param] = String(at.offset);
    query[p.sizeParam] = String(p.size);
  } else if (p.type === 'cursor' && at.cursor !== undefined) {
    if (p.in === 'body') body[p.param] = at.cursor;
    else query[p.param] = at.cursor;
  }
  return { query, body };
}
