import { ConfigError } from '../../core/errors.ts';
import { addDays, todayIn } from '../../core/dates.ts';
import { scrubText } from '../../core/http/index.ts';
import type { OpenContext } from '../shared/connector.ts';
import { discoveryClient, reasonOf, refuseOn401or403, type Discovery } from '../shared/discover.ts';
import type { HttpJsonConfig } from './config.ts';
import { fillTemplate, getPath } from './extract.ts';
import { authFor, originOf, withBase } from './request.ts';

/**
 * One request to the configured URL for yesterday and today, as the first page of a sync
 * would ask: the status, and how many records sit at recordsPath. When recordsPath leads to
 * no array, the arrays the answer does have are offered instead.
 */

/** Dot paths to the arrays in a body, shallowest first, two levels down at most. */
function arrayPaths(body: unknown, prefix = '', depth = 0): string[] {
  if (Array.isArray(body)) return [prefix];
  if (body === null || typeof body !== 'object' || depth > 2) return [];
  return Object.entries(body).flatMap(([key, value]) => arrayPaths(value, prefix ? `${prefix}.${key}` : key, depth + 1));
}

export async function discoverHttpJson(config: HttpJsonConfig, ctx: OpenContext): Promise<Discovery> {
  const provider = authFor(config);
  const today = todayIn(config.timezone);
  const window = { from: addDays(today, -1), to: today };
  const url = withBase(fillTemplate(config.url, window, config.timezone), config.baseUrl);
  const http = discoveryClient(config, ctx, {
    ...originOf(url),
    headers: config.headers,
    ...(provider ? { auth: provider } : {}),
  });
  const query: Record<string, string> = {};
  for (const [k, v] of Object.entries(config.params)) query[k] = fillTemplate(v, window, config.timezone);
  const p = config.pagination;
  if (p.type === 'page') {
    query[p.param] = String(p.start);
    if (p.sizeParam && p.size) query[p.sizeParam] = String(p.size);
  } else if (p.type === 'offset') {
    query[p.param] = '0';
    query[p.sizeParam] = String(p.size);
  }

  const res = await http.get(url, { query });
  refuseOn401or403(res);
  // The configured URL as the config has it (baseUrl aside), origin and path only: a query string may carry a key.
  const shown = (() => {
    try {
      const u = new URL(config.url);
      return scrubText(`${u.origin}${u.pathname}`);
    } catch {
      return config.name;
    }
  })();
  if (res.status >= 400) throw new ConfigError(`GET ${shown} answered HTTP ${res.status}: ${reasonOf(res)}`);

  const records = getPath(res.data, config.recordsPath);
  const problems: string[] = [];
  const configLines: Record<string, unknown> = { url: config.url };
  if (Array.isArray(records)) {
    configLines.recordsPath = config.recordsPath;
  } else {
    const found = arrayPaths(res.data);
    problems.push(`recordsPath "${config.recordsPath}" does not lead to an array in the answer${found.length > 0 ? ` (arrays at: ${found.map((f) => (f === '' ? '(top level)' : f)).join(', ')})` : ''}`);
    if (found[0] !== undefined) configLines.recordsPath = found[0];
  }
  return {
    kind: 'URL',
    accounts: [
      {
        id: shown,
        details: { status: res.status, records: Array.isArray(records) ? records.length : null },
        configured: true,
        accessible: true,
      },
    ],
    problems,
    notes: [],
    summary: `answered HTTP ${res.status}${Array.isArray(records) ? ` with ${records.length} record${records.length === 1 ? '' : 's'}` : ''}`,
    configLines,
  };
}
