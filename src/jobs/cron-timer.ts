import { systemClock, type TimerClock } from '../core/resilience/index.ts';
import { nextFireTime, type CronSchedule } from '../core/schedule.ts';

export interface CronTimer {
  /** The next planned fire time; null once stopped. */
  next(): Date | null;
  stop(): void;
}

export interface CronTimerOptions {
  /** The system clock by default; tests pass one they move by hand. */
  clock?: TimerClock;
  /**
   * Longest single sleep before the wall clock is read again. Timers run on a clock that
   * stops while the machine is suspended and ignores wall-clock steps (NTP, an operator), so
   * a long sleep could wake days late; this bounds how late a fire time is noticed.
   */
  recheckMs?: number;
}

/** A wall clock set back by more than this was wrong before; fire times are planned again from it. */
const CLOCK_CORRECTION_MS = 3 * 3_600_000;

/**
 * Calls `onFire` with each fire time of `schedule` (see schedule.ts), once per fire time.
 * Woken after several fire times went by (a suspended machine, a clock stepped forward), it
 * fires once, for the first one missed, and carries on from now. A clock set back less than
 * CLOCK_CORRECTION_MS fires nothing twice: what fired stays fired.
 * `onFire` must not throw; it runs inside a timer.
 */
export function startCronTimer(schedule: CronSchedule, onFire: (planned: Date) => void, options: CronTimerOptions = {}): CronTimer {
  const clock = options.clock ?? systemClock;
  const recheckMs = options.recheckMs ?? 60_000;
  // Fire times up to here are spent.
  let spent = clock.now();
  let planned = nextFireTime(schedule, spent);
  let timer: unknown;
  let stopped = false;

  const arm = () => {
    timer = clock.setTimeout(wake, Math.max(0, Math.min(planned - clock.now(), recheckMs)));
  };
  const wake = () => {
    if (stopped) return;
    const now = clock.now();
    if (now < spent - CLOCK_CORRECTION_MS) {
      spent = now;
      planned = nextFireTime(schedule, now);
    }
    if (now < planned) return arm();
    const due = planned;
    spent = Math.max(now, due);
    planned = nextFireTime(schedule, spent);
    arm();
    onFire(new Date(due));
  };
  arm();

  return {
    next: () => (stopped ? null : new Date(planned)),
    stop() {
      stopped = true;
      clock.clearTimeout(timer);
    },
  };
}
