import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDataset, MAILCHIMP_API_KEY, SENDGRID_API_KEY, SENDGRID_METRICS, startMailchimpFake, startSendgridFake,
  type Dataset, type FakeServer, type MailchimpSettings, type SendgridSettings,
} from '../../src/sandbox/index.ts';
import { weekday } from '../../src/sandbox/dates.ts';

let ds: Dataset;
let mailchimp: FakeServer<MailchimpSettings>;
let sendgrid: FakeServer<SendgridSettings>;
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

beforeAll(async () => {
  ds = createDataset({ seed: 31, endDate: '2024-03-31', days: 90 });
  [mailchimp, sendgrid] = await Promise.all([startMailchimpFake(ds), startSendgridFake(ds)]);
});
afterAll(async () => {
  await Promise.all([mailchimp.close(), sendgrid.close()]);
});

describe('Mailchimp fake', () => {
  const mc = axios.create({ auth: { username: 'kpi', password: MAILCHIMP_API_KEY }, validateStatus: () => true });

  it('pages /3.0/reports with count and offset through every campaign once', async () => {
    const ids: string[] = [];
    let total = Number.POSITIVE_INFINITY;
    for (let offset = 0; offset < total; offset += 4) {
      const res = await mc.get(`${mailchimp.url}/3.0/reports`, { params: { count: 4, offset } });
      expect(res.status).toBe(200);
      total = res.data.total_items;
      ids.push(...res.data.reports.map((r: { id: string }) => r.id));
    }
    expect(ids).toEqual(ds.mailchimp.campaigns.map((c) => c.id).reverse());
  });

  it('answers reports in Mailchimp\'s shape', async () => {
    const c = ds.mailchimp.campaigns[3];
    const res = await mc.get(`${mailchimp.url}/3.0/reports/${c?.id}`);
    expect(res.data).toMatchObject({
      id: c?.id,
      campaign_title: c?.settings.title,
      type: 'regular',
      emails_sent: c?.emails_sent,
      send_time: c?.send_time,
      unsubscribed: c?.unsubscribed,
      abuse_reports: c?.abuse_reports,
      bounces: c?.bounces,
      opens: { opens_total: c?.opens.opens_total, unique_opens: c?.opens.unique_opens, open_rate: expect.any(Number) },
      clicks: { clicks_total: c?.clicks.clicks_total, unique_clicks: c?.clicks.unique_clicks, click_rate: expect.any(Number) },
    });
    expect(res.data.send_time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$/);
    const missing = await mc.get(`${mailchimp.url}/3.0/reports/nope`);
    expect(missing.status).toBe(404);
    expect(missing.data).toMatchObject({ title: 'Resource Not Found', status: 404 });
  });

  it('filters by send time and projects fields', async () => {
    const res = await mc.get(`${mailchimp.url}/3.0/reports`, {
      params: { since_send_time: '2024-03-01T00:00:00+00:00', before_send_time: '2024-04-01T00:00:00+00:00', count: 100, fields: 'reports.id,reports.emails_sent,total_items' },
    });
    const march = ds.mailchimp.campaigns.filter((c) => c.send_time >= '2024-03-01');
    expect(res.data.total_items).toBe(march.length);
    expect(res.data.reports).toEqual(march.map((c) => ({ id: c.id, emails_sent: c.emails_sent })).reverse());
    expect(res.data._links).toBeUndefined();
    const bad = await mc.get(`${mailchimp.url}/3.0/reports`, { params: { since_send_time: 'last tuesday' } });
    expect(bad.status).toBe(400);
  });

  it('lists campaigns with settings.title, and answers ping', async () => {
    const res = await mc.get(`${mailchimp.url}/3.0/campaigns`, { params: { count: 1000, status: 'sent' } });
    expect(res.data.campaigns.map((c: { settings: { title: string } }) => c.settings.title)).toEqual(ds.mailchimp.campaigns.map((c) => c.settings.title));
    expect(res.data.campaigns[0].report_summary).toMatchObject({ unique_opens: ds.mailchimp.campaigns[0]?.opens.unique_opens });
    expect((await mc.get(`${mailchimp.url}/3.0/ping`)).data).toEqual({ health_status: "Everything's Chimpy!" });
  });

  it('honours count up to the configured maximum', async () => {
    mailchimp.settings.maxPageSize = 3;
    const res = await mc.get(`${mailchimp.url}/3.0/reports`, { params: { count: 1000 } });
    mailchimp.settings.maxPageSize = 1000;
    expect(res.data.reports).toHaveLength(3);
    expect(res.data.total_items).toBe(ds.mailchimp.campaigns.length);
  });

  it('takes the key as a Bearer token too, and refuses another datacenter\'s key', async () => {
    expect((await axios.get(`${mailchimp.url}/3.0/ping`, { headers: { authorization: `Bearer ${MAILCHIMP_API_KEY}` } })).status).toBe(200);
    mailchimp.credentials.add('0123456789abcdef0123456789abcdef-us1');
    const wrongDc = await axios.get(`${mailchimp.url}/3.0/ping`, { auth: { username: 'x', password: '0123456789abcdef0123456789abcdef-us1' }, validateStatus: () => true });
    expect(wrongDc.status).toBe(401);
    expect(wrongDc.data.title).toBe('API Key Invalid');
  });
});

describe('SendGrid fake', () => {
  const sg = axios.create({ headers: { authorization: `Bearer ${SENDGRID_API_KEY}` }, validateStatus: () => true });

  it('answers /v3/stats with one entry per day, zeros outside the data', async () => {
    const res = await sg.get(`${sendgrid.url}/v3/stats`, { params: { start_date: '2024-03-30', end_date: '2024-04-02', aggregated_by: 'day' } });
    expect(res.status).toBe(200);
    expect(res.data.map((d: { date: string }) => d.date)).toEqual(['2024-03-30', '2024-03-31', '2024-04-01', '2024-04-02']);
    const metrics = res.data[1].stats[0].metrics;
    expect(Object.keys(metrics).sort()).toEqual([...SENDGRID_METRICS].sort());
    const rows = ds.sendgrid.day('2024-03-31');
    for (const m of SENDGRID_METRICS) expect(metrics[m]).toBe(sum(rows.map((r) => r.metrics[m])));
    expect(res.data[3].stats[0].metrics.requests).toBe(0);
    expect(res.data[0].stats[0].name).toBeUndefined();
  });

  it('answers /v3/categories/stats per category, named and typed', async () => {
    const res = await sg.get(`${sendgrid.url}/v3/categories/stats?start_date=2024-03-01&end_date=2024-03-31&categories=newsletter&categories=transactional`);
    expect(res.data).toHaveLength(31);
    for (const day of res.data) {
      expect(day.stats.map((s: { name: string; type: string }) => [s.name, s.type])).toEqual([['newsletter', 'category'], ['transactional', 'category']]);
      const newsletter = day.stats[0].metrics.requests;
      expect(newsletter > 0).toBe(weekday(day.date) === ds.events.digestWeekday);
      expect(day.stats[1].metrics).toEqual(ds.sendgrid.day(day.date)[1]?.metrics);
    }
  });

  it('sums by week and month', async () => {
    const month = await sg.get(`${sendgrid.url}/v3/stats`, { params: { start_date: '2024-02-15', end_date: '2024-03-31', aggregated_by: 'month' } });
    expect(month.data.map((d: { date: string }) => d.date)).toEqual(['2024-02-15', '2024-03-01']);
    const march = ds.sendgrid.rows.filter((r) => r.date.startsWith('2024-03'));
    expect(month.data[1].stats[0].metrics.delivered).toBe(sum(march.map((r) => r.metrics.delivered)));
    const week = await sg.get(`${sendgrid.url}/v3/stats`, { params: { start_date: '2024-03-01', end_date: '2024-03-31', aggregated_by: 'week' } });
    expect(sum(week.data.map((d: any) => d.stats[0].metrics.requests))).toBe(sum(march.map((r) => r.metrics.requests)));
    expect(week.data.slice(1).every((d: { date: string }) => weekday(d.date) === 1)).toBe(true);
  });

  it('refuses bad arguments in SendGrid\'s error shape', async () => {
    const noStart = await sg.get(`${sendgrid.url}/v3/stats`);
    expect(noStart.status).toBe(400);
    expect(noStart.data).toEqual({ errors: [{ field: 'start_date', message: 'missing required argument' }] });
    const unknown = await sg.get(`${sendgrid.url}/v3/categories/stats?start_date=2024-03-01&categories=promo`);
    expect(unknown.status).toBe(404);
    expect(unknown.data.errors[0].message).toMatch(/promo/);
  });

  it('counts requests down in X-RateLimit-* and answers 429 at the limit by itself', async () => {
    const url = `${sendgrid.url}/v3/stats?start_date=2024-03-01&end_date=2024-03-01`;
    const a = await sg.get(url);
    const b = await sg.get(url);
    expect(Number(b.headers['x-ratelimit-remaining'])).toBe(Number(a.headers['x-ratelimit-remaining']) - 1);
    expect(Number(a.headers['x-ratelimit-reset'])).toBeGreaterThan(Date.now() / 1000);
    sendgrid.settings.rateLimit = 600 - Number(b.headers['x-ratelimit-remaining']);
    const limited = await sg.get(url);
    sendgrid.settings.rateLimit = 600;
    expect(limited.status).toBe(429);
    expect(limited.headers['x-ratelimit-remaining']).toBe('0');
    expect(limited.data).toEqual({ errors: [{ field: null, message: 'too many requests' }] });
  });
});
