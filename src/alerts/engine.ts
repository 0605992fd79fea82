import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { sleep as systemSleep } from '../core/resilience/index.ts';
import { retryDigests, type DigestSendConfig } from './digest-send.ts';
import { deliverOutbox, type DeliverResult, type OutboxConfig } from './outbox.ts';
import { type Channel } from '../notify/index.ts';
import type { GoalsAssessment } from '../metrics/goals.ts';
import type { Database } from '../warehouse/index.ts';
import { evaluateAlerts } from './evaluate.ts';
import type { AlertsConfig } from './types.ts';

type AlertsEngineConfig = AlertsConfig & OutboxConfig;

interface EngineOptions {
  /** This replica's name in outbox claims; host and pid by default. */
  owner?: string;
  log?: Logger;
  channels?: Readonly<Record<string, Channel>>;
  /** Longest deliver() waits for the group wait of rows handed to it before they are due. */
  maxWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
}

/** When the last of `outboxIds` still pending is due (its group wait ends); undefined when none is. */
async function dueAt(db: Kysely<Database>, outboxIds: number[]): Promise<Date | undefined> {
  if (outboxIds.length === 0) return undefined;
  const due = await db.selectFrom('alert_outbox').select((eb) => eb.fn.max('due_at').as('due')).where('id', 'in', outboxIds).where('status', '=', 'pending').executeTakeFirst();
  return due?.due ? new Date(due.due) : undefined;
}

function defaultOwner(): string {
  return `${hostname()}:${process.pid}`;
}

/**
 * The evaluate and notify steps in the shape the pipeline's handlers take (src/app.ts,
 * AlertsEngine). Evaluate says when its rows are due (notifyAt): the queue delays the notify
 * job until then, the embedded runner sets a timer. Deliver sends everything due; handed rows
 * that are not due yet (`kpi run --once`, which has nothing else to wait on) it waits for, up
 * to maxWaitMs. Rows held, backed off or not yet due are the periodic loop's to send.
 */
export function createAlertsEngine(options: EngineOptions = {}) {
  const owner = options.owner ?? defaultOwner();
  const sleep = options.sleep ?? systemSleep;
  const clock = options.now ?? (() => new Date());
  return {
    async evaluateAlerts(db: Kysely<Database>, config: AlertsEngineConfig, asOf: Date, goals?: GoalsAssessment): Promise<{ outboxIds: number[]; notifyAt?: Date }> {
      const r = await evaluateAlerts(db, config, { now: asOf, ...(goals ? { goals } : {}), ...(options.log ? { log: options.log } : {}) });
      const notifyAt = await dueAt(db, r.outboxIds);
      return { outboxIds: r.outboxIds, ...(notifyAt ? { notifyAt } : {}) };
    },
    async deliver(db: Kysely<Database>, config: AlertsEngineConfig, outboxIds: number[]): Promise<DeliverResult> {
      const due = await dueAt(db, outboxIds);
      const wait = due ? due.getTime() - clock().getTime() : 0;
      if (wait > 0) await sleep(Math.min(wait, options.maxWaitMs ?? 60_000));
      return deliverOutbox(db, config, { now: clock(), owner, ...(options.channels ? { channels: options.channels } : {}), ...(options.log ? { log: options.log } : {}) });
    },
  };
}

export interface AlertLoop {
  /** Resolves when the current round has finished. */
  stop(): Promise<void>;
}

/**
 * Evaluates and delivers on a timer: what catches stale data when no sync runs at all, and
 * sends what a mute window held or a retry put off, digests whose send failed included.
 * Safe in every replica at once.
 */
export function startAlertLoop(db: Kysely<Database>, config: AlertsEngineConfig & DigestSendConfig, options: EngineOptions & { intervalMs?: number; onRound?: (r: DeliverResult) => void } = {}): AlertLoop {
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
      if (config.reports.length > 0) await retryDigests(db, config, { now: clock(), owner, ...(options.channels ? { using: options.channels } : {}), ...(options.log ? { log: options.log } : {}) });
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
