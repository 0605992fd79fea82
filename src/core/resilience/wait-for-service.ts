import { errorMessage, TransientError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { START_UP_WAIT } from './policies.ts';
import { withRetry } from './retry.ts';

export interface ServiceWait {
  /** Named in the log, on /readyz and in the error: "Postgres at db:5432/kpi". */
  service: string;
  /** One try; resolves once the service answers. */
  reach: () => Promise<void>;
  /** An answer no wait will change (a wrong password, no such database): given up on at once. */
  hopeless?: (err: unknown) => boolean;
  /** When to give up (Date.now() time). */
  deadline: number;
  log: Logger;
  /** Told when the first try fails (with what it waits for), so /readyz can say so. */
  onWaiting?: (what: string) => void;
  signal?: AbortSignal;
}

/** At most one line per this long while the error stays the same: a 5-minute wait is a few lines, not sixty. */
const LOG_EVERY_MS = 30_000;

/** Node's "connection refused" to a name with two addresses is an AggregateError with no message of its own. */
function reason(err: unknown): string {
  if (err instanceof AggregateError && !err.message) return err.errors.map(reason).join('; ');
  const code = (err as { code?: unknown } | null)?.code;
  return errorMessage(err) || (typeof code === 'string' ? code : 'no answer');
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}

/**
 * Waits until `service` answers, trying again with backoff (START_UP_WAIT) until the
 * deadline; then fails with a TransientError naming the service, how long it waited and the
 * last error. Services started together (docker compose, a reboot) come up in any order, and
 * a process that exits at once only to be restarted in a loop says less than one that waits.
 */
export async function waitForService(w: ServiceWait): Promise<void> {
  const started = Date.now();
  let waited = false;
  let lastLogged = { at: 0, error: '' };
  try {
    await withRetry(w.reach, {
      policy: START_UP_WAIT,
      stopBy: w.deadline,
      ...(w.signal ? { signal: w.signal } : {}),
      retryable: (err) => !w.hopeless?.(err),
      onRetry: ({ error, delayMs }) => {
        const err = reason(error);
        const now = Date.now();
        if (!waited) {
          waited = true;
          w.onWaiting?.(`waiting for ${w.service}`);
          w.log.warn({ waitingFor: w.service, err, givesUpInMs: w.deadline - now }, `waiting for ${w.service} (not reachable yet); trying again with backoff for up to ${seconds(w.deadline - now)}`);
          lastLogged = { at: now, error: err };
        } else if (err !== lastLogged.error || now - lastLogged.at >= LOG_EVERY_MS) {
          w.log.info({ waitingFor: w.service, err, waitedMs: now - started, nextTryInMs: delayMs }, `still waiting for ${w.service}`);
          lastLogged = { at: now, error: err };
        }
      },
    });
  } catch (err) {
    if (w.signal?.aborted || w.hopeless?.(err)) throw err;
    throw new TransientError(`gave up waiting for ${w.service}: not reachable after ${seconds(Date.now() - started)}, and the next try would come after the start-up timeout (kpi start --startup-timeout); last error: ${reason(err)}`, { cause: err });
  }
  if (waited) w.log.info({ waitingFor: w.service, waitedMs: Date.now() - started }, `${w.service} is reachable after waiting ${seconds(Date.now() - started)}`);
}
