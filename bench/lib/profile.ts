import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';

/**
 * Where the time goes. A kysely plugin that times every statement (from compile to result,
 * so it includes waiting for a pooled connection) by kind and table, and CPU counters for
 * this process and for every postgres process on the machine (the server runs locally).
 */

interface Stat {
  count: number;
  ms: number;
}

function describe(node: RootOperationNode): string {
  switch (node.kind) {
    case 'SelectQueryNode':
    case 'InsertQueryNode':
    case 'UpdateQueryNode':
    case 'DeleteQueryNode': {
      const verb = node.kind.replace('QueryNode', '').toLowerCase();
      const json = JSON.stringify(node);
      const table = /"table":\{"kind":"IdentifierNode","name":"([^"]+)"/.exec(json)?.[1] ?? /"name":"([a-z_]+)"/.exec(json)?.[1] ?? '?';
      return `${verb} ${table}`;
    }
    case 'RawNode': {
      const text = node.sqlFragments.join('?').replace(/\s+/g, ' ').trim().toLowerCase();
      const m =
        /^with (?:recursive )?\w+ as \( ?(insert into|update|delete from) (\w+)/.exec(text) ??
        /^(insert into|delete from|update) (\w+)/.exec(text) ??
        /^(select) .*? from (\w+)/.exec(text);
      if (m) return `${m[1]!.split(' ')[0]} ${m[2]}`;
      return text.slice(0, 40);
    }
    default:
      return node.kind;
  }
}

export class QueryProfiler implements KyselyPlugin {
  readonly stats = new Map<string, Stat>();
  readonly #started = new Map<unknown, { at: number; label: string }>();

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.#started.set(args.queryId, { at: performance.now(), label: describe(args.node) });
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const s = this.#started.get(args.queryId);
    if (s) {
      this.#started.delete(args.queryId);
      const stat = this.stats.get(s.label) ?? { count: 0, ms: 0 };
      stat.count++;
      stat.ms += performance.now() - s.at;
      this.stats.set(s.label, stat);
    }
    return args.result;
  }

  reset(): void {
    this.stats.clear();
  }

  /** The heaviest kinds first, e.g. "insert kpi_values 812× 61.2 s". */
  top(n = 5): string[] {
    return [...this.stats.entries()]
      .sort((a, b) => b[1].ms - a[1].ms)
      .slice(0, n)
      .map(([label, s]) => `${label} ${s.count}× ${(s.ms / 1000).toFixed(2)} s`);
  }

  total(filter: (label: string) => boolean = () => true): number {
    let ms = 0;
    for (const [label, s] of this.stats) if (filter(label)) ms += s.ms;
    return ms;
  }
}

const CLK_TCK = 100;

function statFields(pid: string): { comm: string; fields: string[] } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    return { comm: stat.slice(stat.indexOf('(') + 1, close), fields: stat.slice(close + 2).split(' ') };
  } catch {
    return undefined;
  }
}

/** CPU seconds used so far by every process with this name (postgres: server, backends, writers). */
export function cpuOfProcessesMs(name: string): number | undefined {
  try {
    let ticks = 0;
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const s = statFields(pid);
      // utime and stime are fields 14 and 15 of the line; 12 and 13 after "pid (comm) ".
      if (s?.comm === name) ticks += Number(s.fields[11]) + Number(s.fields[12]);
    }
    return (ticks * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}

export const postgresCpuMs = (): number | undefined => cpuOfProcessesMs('postgres');

/** This process plus the children it has waited for (a benchmark's child process), in ms. */
function ownCpuMs(): number {
  const s = statFields('self');
  if (!s) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }
  const f = s.fields.map(Number);
  return ((f[11]! + f[12]! + f[13]! + f[14]!) * 1000) / CLK_TCK;
}

/** Busy CPU time of the whole machine so far (all cores), from /proc/stat. */
export function machineBusyMs(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}

export interface CpuUse {
  /** This process and its finished child processes. */
  nodeMs: number;
  /** Every postgres process: the server is shared, so other clients' backends count too. */
  postgresMs: number | undefined;
  redisMs: number | undefined;
  /** Everything else on the machine: other processes (another test run, a compiler) competing for the cores. */
  otherMs: number | undefined;
}

/** CPU use of this process, of Postgres, of Redis and of everything else over a stretch of time. */
export function cpuMeter(): () => CpuUse {
  const node0 = ownCpuMs();
  const pg0 = postgresCpuMs();
  const redis0 = cpuOfProcessesMs('redis-server');
  const busy0 = machineBusyMs();
  return () => {
    const nodeMs = ownCpuMs() - node0;
    const pg1 = postgresCpuMs();
    const redis1 = cpuOfProcessesMs('redis-server');
    const busy1 = machineBusyMs();
    const postgresMs = pg0 !== undefined && pg1 !== undefined ? pg1 - pg0 : undefined;
    const redisMs = redis0 !== undefined && redis1 !== undefined ? redis1 - redis0 : undefined;
    const otherMs =
      busy0 !== undefined && busy1 !== undefined && postgresMs !== undefined ? Math.max(0, busy1 - busy0 - nodeMs - postgresMs - (redisMs ?? 0)) : undefined;
    return { nodeMs, postgresMs, redisMs, otherMs };
  };
}

export function cpuNote(wallMs: number, cpu: CpuUse): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const share = (ms: number | undefined) => (ms === undefined ? 'n/a' : `${s(ms)} (${Math.round((ms / wallMs) * 100)}% of wall)`);
  const redis = cpu.redisMs !== undefined && cpu.redisMs >= 50 ? `, redis ${share(cpu.redisMs)}` : '';
  return `CPU: node ${share(cpu.nodeMs)}, postgres ${share(cpu.postgresMs)}${redis}, other processes ${share(cpu.otherMs)}; wall ${s(wallMs)}`;
}
