import { describe, expect, it } from 'vitest';
import { createDataset, restate, type Dataset } from '../../src/sandbox/index.ts';
import { weekday } from '../../src/sandbox/dates.ts';

const END = '2024-03-31';
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

function snapshot(ds: Dataset): string {
  return JSON.stringify([ds.ga4.rows, ds.searchConsole.rows, ds.googleAds.rows, ds.meta.rows, ds.mailchimp.campaigns, ds.sendgrid.rows, ds.shop.rows]);
}

describe('createDataset', () => {
  const ds = createDataset({ seed: 42, endDate: END, days: 90 });

  it('is deterministic: the same seed gives the same data, another seed other data', () => {
    const again = createDataset({ seed: 42, endDate: END, days: 90 });
    expect(snapshot(again)).toBe(snapshot(ds));
    const other = createDataset({ seed: 43, endDate: END, days: 90 });
    expect(snapshot(other)).not.toBe(snapshot(ds));
  });

  it('generates any day on its own exactly as in the full set, memo or not', () => {
    const lazy = createDataset({ seed: 42, endDate: END, memo: false });
    for (const d of ['2024-01-02', '2024-02-29', END]) {
      expect(lazy.googleAds.day(d)).toEqual(ds.googleAds.rows.filter((r) => r.date === d));
      expect(lazy.ga4.day(d)).toEqual(ds.ga4.day(d));
      expect(lazy.shop.day(d)).toEqual(ds.shop.day(d));
    }
    expect(ds.ga4.day('2023-12-31')).toEqual([]);
  });

  it('covers the requested days', () => {
    expect(ds.dates).toHaveLength(90);
    expect(ds.startDate).toBe('2024-01-02');
    expect(ds.dates.at(-1)).toBe(END);
    expect(new Set(ds.ga4.rows.map((r) => r.date)).size).toBe(90);
  });

  it('keeps GA4 metrics consistent: integers, users ≤ sessions, revenue with 2 decimals', () => {
    for (const r of ds.ga4.rows) {
      for (const m of ['sessions', 'totalUsers', 'newUsers', 'engagedSessions', 'screenPageViews', 'keyEvents', 'transactions'] as const) {
        expect(Number.isInteger(r[m])).toBe(true);
      }
      expect(r.newUsers).toBeLessThanOrEqual(r.totalUsers);
      expect(r.totalUsers).toBeLessThanOrEqual(r.sessions);
      expect(r.engagedSessions).toBeLessThanOrEqual(r.sessions);
      expect(r.transactions).toBeLessThanOrEqual(r.keyEvents);
      expect(Math.round(r.purchaseRevenue * 100) / 100).toBe(r.purchaseRevenue);
    }
    expect(new Set(ds.ga4.rows.map((r) => r.sessionDefaultChannelGroup))).toEqual(new Set(['Organic Search', 'Paid Search', 'Paid Social', 'Email', 'Direct']));
  });

  it('has B2B weekly seasonality: weekends well below weekdays', () => {
    const byDay = new Map<number, number[]>();
    for (const d of ds.dates) {
      const list = byDay.get(weekday(d)) ?? [];
      list.push(sum(ds.ga4.day(d).map((r) => r.sessions)));
      byDay.set(weekday(d), list);
    }
    const mean = (w: number): number => sum(byDay.get(w) ?? []) / (byDay.get(w)?.length ?? 1);
    const weekend = (mean(0) + mean(6)) / 2;
    const weekdays = (mean(1) + mean(2) + mean(3) + mean(4)) / 4;
    expect(weekend / weekdays).toBeLessThan(0.8);
  });

  it('launches a campaign partway through, in Google Ads, Meta and GA4', () => {
    const { launch } = ds.events;
    expect(launch.date > ds.startDate && launch.date < ds.endDate).toBe(true);
    const adsDates = ds.googleAds.rows.filter((r) => r.campaignId === launch.googleAdsCampaignId).map((r) => r.date);
    expect(adsDates.length).toBeGreaterThan(0);
    expect(adsDates.every((d) => d >= launch.date)).toBe(true);
    expect(adsDates).toContain(launch.date);
    expect(ds.meta.rows.filter((r) => r.campaignId === launch.metaCampaignId).every((r) => r.date >= launch.date)).toBe(true);
    expect(ds.ga4.day(launch.date).some((r) => r.sessionCampaignName === 'Spring Launch - Search')).toBe(true);
  });

  it('has one clear anomaly: paid clicks collapse on one day', () => {
    const { anomaly } = ds.events;
    const clicks = (d: string): number => sum(ds.googleAds.day(d).filter((r) => r.customerId === anomaly.customerId).map((r) => r.clicks));
    const others = ds.dates.filter((d) => d !== anomaly.date && weekday(d) === weekday(anomaly.date) && d > ds.events.launch.date);
    const typical = sum(others.map(clicks)) / others.length;
    expect(clicks(anomaly.date)).toBeLessThan(typical * 0.2);
    for (const d of others) expect(clicks(d)).toBeGreaterThan(typical * 0.6);
    const paidSessions = (d: string): number => sum(ds.ga4.day(d).filter((r) => r.sessionDefaultChannelGroup === 'Paid Search').map((r) => r.sessions));
    expect(paidSessions(anomaly.date)).toBeLessThan(paidSessions(others[0] ?? '') * 0.5);
  });

  it('sends one Mailchimp newsletter every week, and GA4 sees its clicks', () => {
    const campaigns = ds.mailchimp.campaigns;
    expect(campaigns.length).toBeGreaterThanOrEqual(12);
    expect(campaigns.length).toBeLessThanOrEqual(13);
    for (const c of campaigns) {
      expect(weekday(c.send_time.slice(0, 10))).toBe(ds.events.newsletterWeekday);
      expect(c.settings.title).toMatch(/^Weekly Newsletter \d{4}-W\d{2}$/);
      expect(c.opens.unique_opens).toBeLessThanOrEqual(c.emails_sent);
      expect(c.clicks.unique_clicks).toBeLessThanOrEqual(c.opens.unique_opens);
      expect(ds.ga4.day(c.send_time.slice(0, 10)).some((r) => r.sessionCampaignName === c.utmCampaign)).toBe(true);
    }
    expect(new Set(campaigns.map((c) => c.id)).size).toBe(campaigns.length);
  });

  it('ties shop orders to GA4 transactions and revenue, with new customers among them', () => {
    for (const d of ds.dates.slice(0, 10)) {
      const ga4 = ds.ga4.day(d);
      const orders = ds.shop.day(d);
      expect(orders.length).toBe(sum(ga4.map((r) => r.transactions)));
      expect(sum(orders.map((o) => Math.round(Number(o.total_price) * 100)))).toBe(Math.round(sum(ga4.map((r) => r.purchaseRevenue)) * 100));
      for (const o of orders) {
        expect(o.created_at.slice(0, 10)).toBe(d);
        expect(o.total_price).toMatch(/^\d+\.\d{2}$/);
      }
    }
    const orders = ds.shop.rows;
    expect(new Set(orders.map((o) => o.id)).size).toBe(orders.length);
    const newShare = orders.filter((o) => o.is_new_customer).length / orders.length;
    expect(newShare).toBeGreaterThan(0.2);
    expect(newShare).toBeLessThan(0.8);
  });

  it('keeps the ad platforms in their wire units', () => {
    for (const r of ds.googleAds.rows) {
      expect(Number.isInteger(r.costMicros) && r.costMicros % 10_000 === 0).toBe(true);
      expect(r.clicks).toBeLessThanOrEqual(r.impressions);
      expect(['SEARCH', 'CONTENT', 'YOUTUBE_WATCH']).toContain(r.adNetworkType);
    }
    expect(new Set(ds.googleAds.rows.map((r) => r.customerId))).toEqual(new Set(['1234567890', '2345678901']));
    for (const r of ds.meta.rows) {
      expect(r.spend).toMatch(/^\d+\.\d{2}$/);
      expect(r.reach).toBeLessThanOrEqual(r.impressions);
      for (const a of r.actions) expect(a.value).toMatch(/^\d+$/);
      for (const a of r.action_values) expect(a.value).toMatch(/^\d+\.\d{2}$/);
    }
    for (const r of ds.searchConsole.rows) {
      expect(r.ctr).toBeCloseTo(r.clicks / r.impressions, 12);
      expect(r.position).toBeGreaterThanOrEqual(1);
    }
  });

  it('sums SendGrid categories per day, with the digest on its weekday only', () => {
    for (const d of ds.dates.slice(0, 14)) {
      const rows = ds.sendgrid.day(d);
      expect(rows.map((r) => r.category)).toEqual(['newsletter', 'transactional']);
      const digest = rows[0]?.metrics.requests ?? 0;
      expect(digest > 0).toBe(weekday(d) === ds.events.digestWeekday);
      for (const r of rows) expect(r.metrics.delivered).toBeLessThanOrEqual(r.metrics.requests);
    }
  });

  it('rejects bad options', () => {
    expect(() => createDataset({ seed: 1, endDate: '2024-02-30' })).toThrow(/endDate/);
    expect(() => createDataset({ seed: 1, endDate: END, days: 0 })).toThrow(/days/);
  });
});

describe('restate', () => {
  it('changes one day of one source and nothing else', () => {
    const ds = createDataset({ seed: 5, endDate: END, days: 30 });
    const day = '2024-03-20';
    const before = snapshot(ds);
    const adsBefore = ds.googleAds.day(day);
    const ga4Before = ds.ga4.rows;
    const v = ds.version;
    restate(ds, { source: 'googleAds', date: day, factor: 1.5 });
    expect(ds.version).toBe(v + 1);
    const after = ds.googleAds.day(day);
    expect(sum(after.map((r) => r.clicks))).toBeGreaterThan(sum(adsBefore.map((r) => r.clicks)) * 1.4);
    expect(after.every((r) => r.costMicros % 10_000 === 0)).toBe(true);
    expect(ds.googleAds.day('2024-03-19')).toEqual(createDataset({ seed: 5, endDate: END, days: 30 }).googleAds.day('2024-03-19'));
    expect(ds.ga4.rows).toEqual(ga4Before);
    expect(ds.googleAds.rows.filter((r) => r.date === day)).toEqual(after);
    restate(ds, { source: 'googleAds', date: day, factor: 1 });
    expect(snapshot(ds)).toBe(before);
    expect(ds.restatements).toHaveLength(2);
  });

  it('restates the other sources too', () => {
    const ds = createDataset({ seed: 5, endDate: END, days: 30 });
    const send = ds.mailchimp.campaigns[0]?.send_time.slice(0, 10) ?? '';
    const opens = ds.mailchimp.campaigns[0]?.opens.unique_opens ?? 0;
    restate(ds, { source: 'mailchimp', date: send, factor: 2 });
    expect(ds.mailchimp.campaigns[0]?.opens.unique_opens).toBe(opens * 2);
    const spend = Number(ds.meta.day('2024-03-10')[0]?.spend);
    restate(ds, { source: 'meta', date: '2024-03-10', factor: 0.5 });
    expect(Number(ds.meta.day('2024-03-10')[0]?.spend)).toBeCloseTo(spend / 2, 1);
    expect(() => restate(ds, { source: 'ga4', date: 'yesterday', factor: 2 })).toThrow(/date/);
  });
});

describe('benchmark-sized data sets', () => {
  it('adds synthetic campaigns and streams them day by day', () => {
    const ds = createDataset({ seed: 1, endDate: END, days: 7, campaigns: 300 });
    expect(ds.googleAds.customers.reduce((n, c) => n + c.campaigns.length, 0)).toBe(308);
    expect(ds.meta.campaigns).toHaveLength(304);
    let rows = 0;
    for (const r of ds.googleAds.range()) {
      rows++;
      expect(r.impressions).toBeGreaterThan(0);
    }
    expect(rows).toBeGreaterThan(300 * 2 * 7 * 0.9);
    expect(ds.googleAds.day(END)).toEqual(ds.googleAds.day(END));
  });
});
