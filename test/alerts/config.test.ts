import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.ts';
import { configFrom } from './helpers.ts';

function problems(yaml: string): string[] {
  try {
    configFrom(yaml);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.line ?? '?'} ${p.path}: ${p.message}`);
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('alert, channel and digest configuration', () => {
  it('reads a full configuration with defaults filled in', () => {
    const config = configFrom(`
channels:
  slack: { type: slack, url: "https://hooks.slack.com/services/T/B/x" }
alerting:
  muteWindows:
    nights: { timezone: Europe/Berlin, weekdays: [mon, fri], hours: ["22:00-07:00"] }
alerts:
  - name: ctr_low
    series: { kpi: ctr }
    condition: { kind: threshold, op: below, threshold: 0.02 }
    channels: [slack]
    muteWindows: [nights]
    repeatInterval: never
digest: { schedule: "0 8 * * 1", channels: [slack] }
`);
    expect(config.alerts[0]).toEqual({
      name: 'ctr_low',
      series: { kpi: 'ctr', grain: 'day', dimension: 'all', period: 'last' },
      condition: { kind: 'threshold', op: 'below', threshold: 0.02 },
      for: 1,
      keepFiringFor: 0,
      severity: 'warning',
      labels: {},
      channels: ['slack'],
      repeatInterval: null,
      sendResolved: true,
      noData: { policy: 'ok', grace: 6 * 3_600_000 },
      muteWindows: ['nights'],
      partialData: false,
    });
    expect(config.alerting).toMatchObject({ groupWait: 30_000, evaluationInterval: 60_000, maxAttempts: 10, maxRetryAfter: 600_000, claimTimeout: 600_000 });
    expect(config.alerting.muteWindows.nights).toEqual({ timezone: 'Europe/Berlin', weekdays: ['mon', 'fri'], hours: ['22:00-07:00'], action: 'hold' });
    expect(config.digest).toMatchObject({ timezone: 'UTC', grain: 'week', periods: 12 });
    expect(config.channels.slack).toMatchObject({ type: 'slack' });
  });

  it('names the path of each problem in a rule, a channel and a mute window', () => {
    expect(
      problems(`
channels:
  slack: { type: slack, url: "not a url" }
  mail: { type: email, host: smtp.example.com, from: nobody, to: [] }
alerting:
  groupWait: 30 seconds
  muteWindows:
    nights: { weekdays: [monday], hours: ["22:00-7:00"] }
alerts:
  - name: a
    series: { kpi: ctr }
    condition: { kind: threshold, op: below, threshold: "2%" }
    channels: [slack]
  - name: b
    series: { kpi: ctr }
    condition: { kind: treshold, op: below, threshold: 1 }
    channels: [slack]
  - name: c
    condition: { kind: threshold, op: above, threshold: 1, recovery: 2 }
    channels: []
    repeatInterval: 4 hours
  - name: d
    series: { kpi: ctr, grain: hour }
    condition: { kind: goal }
    channels: [slack]
    treshold: 2
  - name: e
    series: { kpi: sessions }
    condition: { kind: anomaly, lookback: 2, minHistory: 5, minVolume: { value: -1 } }
    channels: [slack]
    noData: { policy: maybe }
`),
    ).toEqual([
      '3 channels.slack.url: expected an http(s) URL',
      '4 channels.mail.from: expected an email address',
      '4 channels.mail.to: Too small: expected array to have >=1 items',
      '6 alerting.groupWait: expected a duration such as 30s, 5m, 2h, 1d or 1w',
      '8 alerting.muteWindows.nights.weekdays[0]: Invalid option: expected one of "mon"|"tue"|"wed"|"thu"|"fri"|"sat"|"sun"',
      '8 alerting.muteWindows.nights.hours[0]: expected "HH:MM-HH:MM", e.g. "22:00-07:00"',
      '12 alerts[0].condition.threshold: Invalid input: expected number, received string',
      "16 alerts[1].condition.kind: Invalid discriminator value. Expected 'threshold' | 'change' | 'goal' | 'anomaly' | 'freshness' | 'sync_failure' | 'quarantine_rate' | 'delivery_failure' | 'token_expiry'",
      '18 alerts[2].series: required for threshold rules: { kpi, grain, dimension, filter }',
      '19 alerts[2].condition.recovery: must be on the good side of the threshold (>= it for op below, <= it for op above)',
      '20 alerts[2].channels: Too small: expected array to have >=1 items',
      '21 alerts[2].repeatInterval: expected a duration such as 30m or 4h, or never',
      '23 alerts[3].series.grain: Invalid option: expected one of "day"|"week"|"month"|"quarter"',
      '26 alerts[3].treshold: unknown key "treshold"',
      '29 alerts[4].condition.lookback: Too small: expected number to be >=3',
      '29 alerts[4].condition.minHistory: cannot be more than lookback',
      '29 alerts[4].condition.minVolume.value: Too small: expected number to be >=0',
      '31 alerts[4].noData.policy: Invalid option: expected one of "ok"|"alerting"|"keep_last"',
    ]);
  });

  it('asks for a series where a rule kind needs one, and refuses one where it does not', () => {
    expect(
      problems(`
channels:
  slack: { type: slack, url: "https://hooks.slack.com/services/T/B/x" }
alerts:
  - name: a
    condition: { kind: change, op: drop, threshold: 20 }
    channels: [slack]
  - name: b
    series: { kpi: ctr }
    condition: { kind: freshness }
    channels: [slack]
  - name: c
    series: { kpi: ctr, period: current }
    condition: { kind: anomaly }
    channels: [slack]
`),
    ).toEqual([
      '5 alerts[0].series: required for change rules: { kpi, grain, dimension, filter }',
      '9 alerts[1].series: not used by freshness rules; remove it',
      '13 alerts[2].series.period: anomaly rules compare complete periods; use period: last',
    ]);
  });

  it('checks rules against the KPIs, channels, goals, connectors and mute windows they name', () => {
    expect(
      problems(`
connectors:
  - { name: shop, type: csv, path: ./shop.csv, date: { column: date }, metrics: { orders: orders } }
channels:
  slack: { type: slack, url: "https://hooks.slack.com/services/T/B/x" }
goals:
  - { name: q2_revenue, kpi: revenue, target: 1000, start: "2026-04-01", deadline: "2026-06-30" }
alerts:
  - name: ctr_low
    series: { kpi: ctrr }
    condition: { kind: threshold, op: below, threshold: 0.02 }
    channels: [slack, slak]
    muteWindows: [nights]
  - name: ctr_low
    condition: { kind: goal, goals: [q2_revenu] }
    channels: [slack]
  - name: stale
    condition: { kind: freshness, connectors: [shop, shopify] }
    channels: [slack]
  - name: anomaly
    series: { kpi: ctr }
    condition: { kind: anomaly, minVolume: { kpi: impresions, value: 100 } }
    channels: [slack]
  - name: undelivered
    condition: { kind: delivery_failure, watch: [slak] }
    channels: [slack]
digest: { schedule: "0 8 * * 1", channels: [email], kpis: [sesions] }
`),
    ).toEqual([
      "10 alerts[0].series.kpi: unknown KPI 'ctrr': not a base metric, a built-in KPI or one in kpis (did you mean 'ctr'?)",
      "12 alerts[0].channels[1]: unknown channel 'slak': channels are named under channels (did you mean 'slack'?)",
      "13 alerts[0].muteWindows[0]: unknown mute window 'nights': mute windows are named under alerting.muteWindows",
      "14 alerts[1].name: alert rule 'ctr_low' is defined more than once (also alerts[0])",
      "15 alerts[1].condition.goals[0]: unknown goal 'q2_revenu': goals are named under goals (did you mean 'q2_revenue'?)",
      "18 alerts[2].condition.connectors[1]: unknown connector 'shopify': connectors are named under connectors (did you mean 'shop'?)",
      "22 alerts[3].condition.minVolume.kpi: unknown KPI 'impresions' (did you mean 'impressions'?)",
      "25 alerts[4].condition.watch[0]: unknown channel 'slak': channels are named under channels (did you mean 'slack'?)",
      "27 digest.channels[0]: unknown channel 'email': channels are named under channels",
      "27 digest.kpis[0]: unknown KPI 'sesions' (did you mean 'sessions'?)",
    ]);
  });
});
