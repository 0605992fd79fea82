/**
 * Alerts: what each rule kind watches, the per-series state machine, the transactional
 * outbox it writes and its delivery (silences, mute windows, claims, retries), and the
 * digest. It reads KPIs from src/metrics and hands finished messages to src/notify's
 * channels, which render and send them and know nothing of rules or the warehouse.
 */
export { evaluateAlerts, type EvaluateAlertsResult } from './evaluate.ts';
export { createAlertsEngine, startAlertLoop, type AlertLoop } from './engine.ts';
export { countAlertStates, listAlertStates, listTransitions } from './list.ts';
export { advance, initialState, type InstanceState, type Observed, type StateRules } from './state.ts';
export { band, judge, mad, median } from './anomaly.ts';
export { deliverOutbox, notificationId, type DeliverResult, type OutboxConfig } from './outbox.ts';
export type { OutboxPayload } from './outbox-types.ts';
export { addSilence, endSilence, listSilences, parseMatcher, formatMatcher, matcherProblem, matchesAll, type Matcher } from './silences.ts';
export { activeMute, muteEnd } from './mute.ts';
export { deliveryFailures, describeFailures, digestRetries, digestsWaiting, reportLabel } from './failures.ts';
export { buildDigest, buildReport, digestFiles, reportNamed, reportPeriod } from './digest.ts';
export { retryDigests, sendDigest, type DigestSendConfig } from './digest-send.ts';
export { effectiveRules, CHANNEL_FAILING } from './builtin.ts';
export { hasHistory, listHistory, type History, type HistoryEntry } from './history.ts';
