import { alertRuleSchema, type AlertRule, type AlertingConfig } from '../config/index.ts';

/** The built-in rule's name; a configured rule by this name (or any delivery_failure rule) replaces it. */
export const CHANNEL_FAILING = 'channel-failing';

interface RulesConfig {
  alerts: readonly AlertRule[];
  alerting: Pick<AlertingConfig, 'channelFailing'>;
  channels: Readonly<Record<string, unknown>>;
}

const cache = new WeakMap<object, readonly AlertRule[]>();

/**
 * The configured rules, and the built-in `channel-failing` rule when nobody configured how to
 * hear of a channel that keeps failing: with two channels or more, no delivery_failure rule
 * and `alerting.channelFailing` not false. It watches every channel and tells the others (a
 * delivery_failure notice never goes to the channel it is about), once, and again when the
 * channel delivers again.
 */
export function effectiveRules(config: RulesConfig): readonly AlertRule[] {
  const known = cache.get(config.alerts);
  if (known) return known;
  const channels = Object.keys(config.channels);
  const settings = config.alerting.channelFailing;
  const configured = config.alerts.some((r) => r.condition.kind === 'delivery_failure' || r.name === CHANNEL_FAILING);
  const rules =
    settings === false || channels.length < 2 || configured
      ? config.alerts
      : [
          ...config.alerts,
          alertRuleSchema.parse({
            name: CHANNEL_FAILING,
            title: 'Notification channel failing',
            description: 'Built in: a channel that keeps failing is reported on the other channels (alerting.channelFailing).',
            condition: { kind: 'delivery_failure', attempts: settings.attempts, after: `${settings.after}ms` },
            severity: 'critical',
            channels,
            repeatInterval: 'never',
          }),
        ];
  cache.set(config.alerts, rules);
  return rules;
}
