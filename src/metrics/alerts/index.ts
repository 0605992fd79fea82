/**
 * Alert rules: what each kind watches, the per-series state machine, and the transactional
 * outbox it writes. Delivery of the outbox, silences, mute windows and the digest live in
 * src/notify.
 */
export { evaluateAlerts, type EvaluateOptions, type EvaluateResult } from './evaluate.ts';
export { createAlertsEngine, startAlertLoop, defaultOwner, type AlertLoop, type AlertsEngineConfig, type EngineOptions } from './engine.ts';
export { alertChecks } from './checks.ts';
export { listAlertStates, listTransitions, type InstanceStatus, type TransitionRecord } from './list.ts';
export { advance, initialState, type AlertState, type InstanceState, type Observed, type StateRules, type Step } from './state.ts';
export { band, judge, mad, median, MAD_TO_SIGMA, type AnomalyVerdict, type Band } from './anomaly.ts';
export type { AppliedTransition } from './store.ts';
export type { AlertsConfig } from './types.ts';
