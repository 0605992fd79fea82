/**
 * The state machine of one alert instance, as a pure function of where it stands and what
 * one evaluation saw. Everything with a clock or a database is the caller's.
 *
 *   ok ──breach──► pending ──`for` breaches──► firing ──clear (after keepFiringFor)──► resolved
 *    ▲                │ clear                     ▲ │                                    │
 *    └────────────────┘                           │ └──── no data / error: episode stays open
 *                                                 └──────────────── breach ─────────────┘
 *
 * A firing "episode" opens when the firing notification is queued and closes with the
 * resolved one; no_data and error pass through without opening or closing one, so a gap in
 * the data never produces a second [FIRING] for an alert that never stopped.
 *
 * `inhibited` (a source feeding the series is failing, src/alerts/inhibition.ts) passes
 * through the same way: the episode stays as it was, nothing is counted or sent, and the
 * next observation after it is judged as if the inhibition had not happened.
 */

export type AlertState = 'ok' | 'pending' | 'firing' | 'resolved' | 'no_data' | 'error' | 'inhibited';

export interface InstanceState {
  state: AlertState;
  since: Date;
  reason: string;
  /** Consecutive breaching evaluations (while not firing: towards `for`). */
  breaches: number;
  /** Consecutive clear evaluations while firing (towards keepFiringFor). */
  clears: number;
  /** Number of the last transition. */
  seq: number;
  /** Seq of the transition that opened the open episode; null when none is open. */
  episode: number | null;
  firingSince: Date | null;
  lastNotifiedAt: Date | null;
  /** Repeats sent in the open episode. */
  repeats: number;
  lastDataAt: Date | null;
  noDataSince: Date | null;
}

export interface StateRules {
  for: number;
  keepFiringFor: number;
  /** null: never repeat. */
  repeatMs: number | null;
  sendResolved: boolean;
  noData: { policy: 'ok' | 'alerting' | 'keep_last'; graceMs: number };
}

export type Observed =
  /** `clear` differs from !breach only with a recovery threshold (hysteresis). */
  | { kind: 'value'; breach: boolean; clear: boolean; reason: string }
  | { kind: 'no_data'; reason: string }
  | { kind: 'error'; reason: string }
  /** The data the series reads is not complete yet (src/metrics/completeness.ts): nothing is judged. */
  | { kind: 'waiting'; reason: string }
  /** A source feeding the series is failing (an inhibiting rule fires): nothing is judged or sent. */
  | { kind: 'inhibited'; reason: string };

export type NotifyEvent = { event: 'firing' | 'repeat' | 'resolved'; episode: number; ordinal: number };

export interface Transition {
  seq: number;
  from: AlertState;
  to: AlertState;
  reason: string;
}

export interface Step {
  next: InstanceState;
  transition?: Transition;
  notify?: NotifyEvent;
}

export function initialState(now: Date): InstanceState {
  return {
    state: 'ok',
    since: now,
    reason: '',
    breaches: 0,
    clears: 0,
    seq: 0,
    episode: null,
    firingSince: null,
    lastNotifiedAt: null,
    repeats: 0,
    lastDataAt: null,
    noDataSince: null,
  };
}

function moveTo(s: InstanceState, to: AlertState, reason: string, now: Date): { next: InstanceState; transition?: Transition } {
  if (s.state === to) return { next: { ...s, reason } };
  const seq = s.seq + 1;
  return { next: { ...s, state: to, since: now, reason, seq }, transition: { seq, from: s.state, to, reason } };
}

function repeatDue(s: InstanceState, rules: StateRules, now: Date): NotifyEvent | undefined {
  if (s.episode === null || rules.repeatMs === null || !s.lastNotifiedAt) return undefined;
  if (now.getTime() - s.lastNotifiedAt.getTime() < rules.repeatMs) return undefined;
  return { event: 'repeat', episode: s.episode, ordinal: s.repeats + 1 };
}

function withRepeat(step: Step, rules: StateRules, now: Date): Step {
  const notify = repeatDue(step.next, rules, now);
  if (!notify) return step;
  return { ...step, next: { ...step.next, lastNotifiedAt: now, repeats: notify.ordinal }, notify };
}

function openEpisode(s: InstanceState, to: AlertState, reason: string, now: Date): Step {
  const moved = moveTo(s, to, reason, now);
  // A move always happens here: callers only open an episode from a state without one.
  const seq = moved.next.seq;
  return {
    ...moved,
    next: { ...moved.next, episode: seq, firingSince: now, lastNotifiedAt: now, repeats: 0, clears: 0 },
    notify: { event: 'firing', episode: seq, ordinal: 0 },
  };
}

function closeEpisode(s: InstanceState, to: AlertState, reason: string, rules: StateRules, now: Date): Step {
  const episode = s.episode!;
  const moved = moveTo(s, to, reason, now);
  const next = { ...moved.next, episode: null, firingSince: null, lastNotifiedAt: null, repeats: 0, breaches: 0, clears: 0 };
  return rules.sendResolved ? { ...moved, next, notify: { event: 'resolved', episode, ordinal: 0 } } : { ...moved, next };
}

/** Back to where the series stood before it was inhibited, for observations that judge nothing. */
function leaveInhibited(s: InstanceState, reason: string, now: Date): Step {
  return moveTo(s, s.episode !== null ? 'firing' : 'ok', reason, now);
}

export function advance(s: InstanceState, seen: Observed, rules: StateRules, now: Date): Step {
  if (seen.kind === 'error') return moveTo(s, 'error', seen.reason, now);
  // Incomplete data says nothing either way: no breach, no clear, no repeat, no notification.
  if (seen.kind === 'waiting') return s.state === 'inhibited' ? leaveInhibited(s, seen.reason, now) : { next: { ...s, reason: seen.reason } };
  // Bad data from a failing source says nothing either: the state shows why it is quiet.
  if (seen.kind === 'inhibited') return moveTo(s, 'inhibited', seen.reason, now);

  if (seen.kind === 'no_data') {
    const noDataSince = s.noDataSince ?? now;
    const base = { ...s, noDataSince };
    const missingFor = now.getTime() - (s.lastDataAt ?? noDataSince).getTime();
    if (missingFor < rules.noData.graceMs || rules.noData.policy === 'keep_last') return base.state === 'inhibited' ? leaveInhibited(base, seen.reason, now) : { next: base };
    if (rules.noData.policy === 'ok') {
      if (base.episode !== null) return closeEpisode(base, 'no_data', `${seen.reason}; treated as ok`, rules, now);
      return moveTo({ ...base, breaches: 0 }, 'no_data', seen.reason, now);
    }
    if (base.episode !== null) return withRepeat(moveTo(base, 'no_data', seen.reason, now), rules, now);
    return openEpisode({ ...base, breaches: 0 }, 'no_data', seen.reason, now);
  }

  const s2: InstanceState = { ...s, lastDataAt: now, noDataSince: null };
  if (s2.episode !== null) {
    if (!seen.clear) return withRepeat(moveTo({ ...s2, clears: 0, breaches: s2.breaches + 1 }, 'firing', seen.reason, now), rules, now);
    const clears = s2.clears + 1;
    if (clears > rules.keepFiringFor) return closeEpisode(s2, 'resolved', seen.reason, rules, now);
    const waiting = `${seen.reason} (clear ${clears} of ${rules.keepFiringFor + 1} before it resolves)`;
    return withRepeat(moveTo({ ...s2, clears }, 'firing', waiting, now), rules, now);
  }
  if (seen.breach) {
    const breaches = s2.breaches + 1;
    if (breaches >= rules.for) return openEpisode({ ...s2, breaches }, 'firing', seen.reason, now);
    return moveTo({ ...s2, breaches }, 'pending', `${seen.reason} (${breaches} of ${rules.for})`, now);
  }
  const calm = { ...s2, breaches: 0 };
  // A resolved instance stays resolved while it is calm: it says when it last stopped firing.
  if (s2.state === 'ok' || s2.state === 'resolved') return { next: { ...calm, reason: seen.reason } };
  return moveTo(calm, 'ok', seen.reason, now);
}
