import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { TransientError } from '../core/errors.ts';

/**
 * Who may sync a connector right now: one sync per connector, and at most `limit` syncs
 * per source type (connectors of one type share the platform's quotas).
 */
export interface GateClaim {
  connector: string;
  /** The connector's type, e.g. google_ads. */
  source: string;
  /**
   * The job being run. A claim held under the same job id is taken over: the queue only
   * hands a job to a second worker once the first has lost it (killed, stalled).
   */
  job: string;
}

export interface GatePass {
  /** Aborted when the claim is lost (it expired, or another worker took the job over). */
  signal: AbortSignal;
  release(): Promise<void>;
}

export type GateRefusal = 'connector-busy' | 'source-full';

export interface SyncGate {
  enter(claim: GateClaim): Promise<GatePass | GateRefusal>;
}

export function isPass(entry: GatePass | GateRefusal): entry is GatePass {
  return typeof entry !== 'string';
}

/** One process: the embedded runner, or `kpi run --once` without Redis. */
export function memoryGate(sourceLimits: Record<string, number> = {}): SyncGate {
  const connectors = new Map<string, string>();
  const sources = new Map<string, Set<string>>();
  return {
    async enter(claim) {
      const holder = connectors.get(claim.connector);
      if (holder !== undefined && holder !== claim.job) return 'connector-busy';
      const held = sources.get(claim.source) ?? new Set<string>();
      const limit = sourceLimits[claim.source];
      if (limit !== undefined && !held.has(claim.job) && held.size >= limit) return 'source-full';
      connectors.set(claim.connector, claim.job);
      held.add(claim.job);
      sources.set(claim.source, held);
      let released = false;
      return {
        signal: new AbortController().signal,
        async release() {
          if (released) return;
          released = true;
          if (connectors.get(claim.connector) === claim.job) connectors.delete(claim.connector);
          held.delete(claim.job);
        },
      };
    },
  };
}

// KEYS[1] connector key, KEYS[2..] the source's slot keys (none when it has no limit).
// ARGV[1] owner "job|token", ARGV[2] "job|", ARGV[3] ttl ms.
// Returns {'ok', slot key or ''}, {'connector-busy'} or {'source-full'}.
const ENTER = `
local function mine(v) return v and string.sub(v, 1, #ARGV[2]) == ARGV[2] end
local current = redis.call('GET', KEYS[1])
if current and not mine(current) then return {'connector-busy'} end
local slot = nil
if #KEYS > 1 then
  for i = 2, #KEYS do
    if mine(redis.call('GET', KEYS[i])) then slot = KEYS[i] break end
  end
  if not slot then
    for i = 2, #KEYS do
      if redis.call('EXISTS', KEYS[i]) == 0 then slot = KEYS[i] break end
    end
  end
  if not slot then return {'source-full'} end
  redis.call('SET', slot, ARGV[1], 'PX', ARGV[3])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return {'ok', slot or ''}
`;

// Renews every key still held by ARGV[1]; returns how many were not.
const RENEW = `
local lost = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('PEXPIRE', KEYS[i], ARGV[2]) else lost = lost + 1 end
end
return lost
`;

const RELEASE = `
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 1
`;

export interface RedisGateOptions {
  /** Key prefix, e.g. the queues' prefix. */
  prefix: string;
  /** How long a claim outlives a worker that stops renewing it (SIGKILL, lost network). */
  ttlMs?: number;
  sourceLimits?: Record<string, number>;
}

/**
 * Claims are Redis keys with a TTL, renewed while the sync runs. A SIGKILLed worker stops
 * renewing, so its claim expires by itself; the job's next attempt (same job id) may take it
 * over at once, any other job waits for the expiry.
 */
export function redisGate(redis: Redis, options: RedisGateOptions): SyncGate {
  const ttl = options.ttlMs ?? 30_000;
  const limits = options.sourceLimits ?? {};
  const key = (...parts: string[]) => [options.prefix, 'gate', ...parts].join(':');
  return {
    async enter(claim) {
      const owner = `${claim.job}|${randomUUID()}`;
      const limit = limits[claim.source] ?? 0;
      const slots = Array.from({ length: limit }, (_, i) => key('source', claim.source, String(i)));
      const [status, slot] = (await redis.eval(ENTER, 1 + slots.length, key('connector', claim.connector), ...slots, owner, `${claim.job}|`, ttl)) as [string, string?];
      if (status !== 'ok') return status as GateRefusal;

      const keys = slot ? [key('connector', claim.connector), slot] : [key('connector', claim.connector)];
      const lost = new AbortController();
      const renew = async () => {
        try {
          const missing = Number(await redis.eval(RENEW, keys.length, ...keys, owner, ttl));
          if (missing > 0) {
            lost.abort(new TransientError(`lost the sync claim on connector ${claim.connector}; another worker holds it`));
          }
        } catch {
          // Redis unreachable for a moment: the claim holds until its TTL, and the next renewal retries.
        }
      };
      const timer = setInterval(() => void renew(), Math.max(100, Math.floor(ttl / 3)));
      timer.unref();
      let released = false;
      return {
        signal: lost.signal,
        async release() {
          if (released) return;
          released = true;
          clearInterval(timer);
          try {
            await redis.eval(RELEASE, keys.length, ...keys, owner);
          } catch {
            // Redis unreachable: the claim expires with its TTL instead.
          }
        },
      };
    },
  };
}
