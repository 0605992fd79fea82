import { ConfigError } from '../../core/errors.ts';
import { addDays, todayIn } from '../../core/dates.ts';
import { getPath } from '../http-json/extract.ts';
import type { OpenContext } from '../shared/connector.ts';
import { answerRefusals, DISCOVERY_RETRY, notAccessible, reasonOf, refuseOn401or403, type Discovery, type SeenAccount } from '../shared/discover.ts';
import type { SourceDefinition } from './definition.ts';
import { accountsOf, openSession, recordsAt, requestFor, type SourceConfig } from './engine.ts';

/**
 * `kpi check` for a definition: with a `check` block, one request listing the accounts the
 * credentials see, each configured one marked, one out of reach a problem; without, the data
 * request for yesterday and today for each configured account, with its status and records.
 */
export async function discoverSource(def: SourceDefinition, config: SourceConfig, ctx: OpenContext): Promise<Discovery> {
  const session = openSession(def, config, ctx, { classify: answerRefusals, retry: DISCOVERY_RETRY });
  const configured = accountsOf(def, config);
  const settingKey = def.accounts.list ?? def.accounts.single!;

  if (def.check) {
    const c = def.check;
    const res = await session.send(c.request, session.scope());
    refuseOn401or403(res);
    if (res.status >= 400) throw new ConfigError(`${def.title} ${c.request.path} answered HTTP ${res.status}: ${reasonOf(res)}`);
    const listed = getPath(res.data, c.records);
    const rows = listed !== null && typeof listed === 'object' && !Array.isArray(listed) ? [listed] : recordsAt(res.data, c.records, config.name);
    const seen: SeenAccount[] = rows.map((r) => {
      const id = String(getPath(r, c.id) ?? '');
      const text = (p: string | undefined) => {
        const v = p ? getPath(r, p) : undefined;
        return v === undefined || v === null ? null : String(v);
      };
      return { id, name: text(c.name), currency: text(c.currency), timeZone: text(c.timeZone), configured: !c.matchAccounts || configured.includes(id), accessible: true };
    });
    const problems: string[] = [];
    if (!c.matchAccounts) return { kind: c.kind, accounts: seen, problems, notes: [], configLines: {} };
    for (const id of configured) {
      if (seen.some((a) => a.id === id)) continue;
      problems.push(notAccessible(id));
      seen.push({ id, configured: true, accessible: false });
    }
    const ids = seen.filter((a) => a.accessible).map((a) => a.id);
    return { kind: c.kind, accounts: seen, problems, notes: [], configLines: ids.length > 0 ? { [settingKey]: def.accounts.list ? ids : ids[0] } : {} };
  }

  const today = todayIn(session.zone);
  const window = { from: addDays(today, -1), to: today };
  const spec = requestFor(def, config);
  const accounts: SeenAccount[] = [];
  const problems: string[] = [];
  for (const account of configured) {
    const res = await session.send(spec, session.scope(account, window));
    refuseOn401or403(res);
    if (res.status === 404) {
      problems.push(notAccessible(account));
      accounts.push({ id: account, configured: true, accessible: false, details: { status: res.status } });
      continue;
    }
    if (res.status >= 400) throw new ConfigError(`${def.title} ${spec.path} answered HTTP ${res.status}: ${reasonOf(res)}`);
    let records: number | null = null;
    try {
      records = recordsAt(res.data, def.records, config.name).length;
    } catch {
      problems.push(`the answer has no list of records at "${def.records || '(top level)'}"`);
    }
    accounts.push({ id: account, configured: true, accessible: true, details: { status: res.status, records } });
  }
  return { kind: 'account', accounts, problems, notes: [], configLines: {} };
}
