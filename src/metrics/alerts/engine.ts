import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import { errorMessage } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { deliverOutbox, type Channel, type DeliverResult, type OutboxConfig } from '../../notify/index.ts';
import type { Database } from '../../warehouse/index.ts';
import { evaluateAlerts } from './evaluate.ts';
import type { AlertsConfig } from './types.ts';

export type AlertsEngineConfig = AlertsConfig & OutboxConfig;

export interface EngineOptions {
  /** This replica's name in outbox claims; host and pid by default. */
  owner?: string;
  log?: Logger;
  channels?: Readonly<Record<string, Channel>>;
  /** Longest the notify step waits for the group wait of the rows it was given. */
  maxWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function defaultOwner(): string {
  return `${hostname()}:${process.pid}`;
}

/**
 * The evaluate and notify steps in the shape the pipeline's handlers take (src/app.ts,
 * AlertsEngine). Notify waits out the group wait of the rows it was handed, then delivers
 * everything due; rows held, backed off or not yet due are the periodic loop's to send.
 */
export function createAlertsEngine(options: EngineOptions = {}) {
  const owner = options.owner ?? defaultOwner();
  const sleep = options.sleep ?? realSleep;
  const clock = options.now ?? (() => new Date());
  return {
    async evaluate(db: Kysely<Database>, config: AlertsEngineConfig, asOf: Date): Promise<{ outboxIds: number[] }> {
      const r = await evaluateAlerts(db, config, { now: asOf, ...(options.log ? { log: options.log } : {}) });
      return { outboxIds: r.outboxIds };
    },
    async deliver(db: Kysely<Database>, config: AlertsEngineConfig, outboxIds: number[]): Promise<void> {
      if (outboxIds.length > 0) {
        const due = await db.selectFrom('alert_outbox').select((eb) => eb.fn.max('due_at').as('due')).where('id', 'in', outboxIds).where('status', '=', 'pending').executeTakeFirst();
        const wait = due?.due ? new Date(due.due).getTime() - clock().getTime() : 0;
        if (wait > 0) await sleep(Math.min(wait, options.maxWaitMs ?? 60_000));
      }
      await deliverOutbox(db, config, { now: clock(), owner, ...(options.channels ? { channels: options.channels } : {}), ...(options.log ? { log: options.log } : {}) });
    },
  };
}

export interface AlertLoop {
  /** Resolves when the current round has finished. */
  stop(): Promise<void>;
}

/**
 * Evaluates and delivers on a timer: what catches stale data when no sync runs at all, and
 * sends what a mute window held or a retry put off. Safe in every replica at once.
 */
export function startAlertLoop(db: Kysely<Database>, config: AlertsEngineConfig, options: EngineOptions & { intervalMs?: number; onRound?: (r: DeliverResult) => void } = {}): AlertLoop {
  const owner = options.owner ?? defaultOwner();
  const interval = options.intervalMs ?? config.alerting.evaluationInterval;
  const clock = options.now ?? (() => new Date());
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const round = async () => {
    try {
      await evaluateAlerts(db, config, { now: clock(), ...(options.log ? { log: options.log } : {}) });
      const r = await deliverOutbox(db, config, { now: clock(), owner, ...(options.channels ? { channels: options.channels } : {}), ...(options.log ? { log: options.log } : {}) });
      options.onRound?.(r);
    } catch (err) {
      options.log?.warn({ err: errorMessage(err) }, 'alert round failed; trying again next round');
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = round().finally(schedule);
    }, interval);
  };
  running = round().finally(schedule);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
