import axios from 'axios';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDataset, startMetaFake, type Dataset, type FakeServer, type MetaSettings } from '../../src/sandbox/index.ts';
import { META_ACCESS_TOKEN } from '../../src/sandbox/meta.ts';

let ds: Dataset;
let meta: FakeServer<MetaSettings>;
const defaults: Partial<MetaSettings> = {};
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

beforeAll(async () => {
  ds = createDataset({ seed: 21, endDate: '2024-03-31', days: 90 });
  meta = await startMetaFake(ds);
  Object.assign(defaults, meta.settings);
});
afterAll(async () => {
  await meta.close();
});
beforeEach(() => {
  Object.assign(meta.settings, defaults);
  meta.faults.length = 0;
});

function insightsUrl(params: Record<string, string>, path = '/v23.0/act_1001/insights'): string {
  return `${meta.url}${path}?${new URLSearchParams({ access_token: META_ACCESS_TOKEN, ...params })}`;
}
const range = (since: string, until: string): string => JSON.stringify({ since, until });
const FIELDS = 'campaign_id,campaign_name,impressions,reach,clicks,spend,actions,action_values';

async function getJson(url: string, init?: RequestInit): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, body: await res.json() };
}

async function followAll(first: string): Promise<any[]> {
  const rows: any[] = [];
  let next: string | undefined = first;
  while (next) {
    const { status, body } = await getJson(next);
    expect(status).toBe(200);
    rows.push(...body.data);
    next = body.paging?.next;
  }
  return rows;
}

describe('Meta insights, synchronous', () => {
  it('answers daily campaign rows in Meta\'s shape: numbers as strings, actions as lists', async () => {
    const { status, body } = await getJson(insightsUrl({ level: 'campaign', time_increment: '1', time_range: range('2024-03-01', '2024-03-01'), fields: FIELDS, limit: '50' }));
    expect(status).toBe(200);
    const expected = ds.meta.day('2024-03-01');
    expect(body.data).toHaveLength(expected.length);
    const row = body.data.find((r: any) => r.campaign_id === expected[0]?.campaignId);
    const src = expected[0];
    expect(row).toEqual({
      campaign_id: src?.campaignId,
      campaign_name: src?.campaignName,
      impressions: String(src?.impressions),
      reach: String(src?.reach),
      clicks: String(src?.clicks),
      spend: src?.spend,
      actions: src?.actions,
      action_values: src?.action_values,
      date_start: '2024-03-01',
      date_stop: '2024-03-01',
    });
    expect(body.paging.cursors).toEqual({ before: expect.any(String), after: expect.any(String) });
    expect(body.paging.next).toBeUndefined();
  });

  it('follows paging.next through every day × campaign row exactly once', async () => {
    const rows = await followAll(insightsUrl({ level: 'campaign', time_increment: '1', time_range: range('2024-03-02', '2024-03-31'), fields: FIELDS, limit: '7' }));
    const expected = ds.meta.rows.filter((r) => r.date >= '2024-03-02');
    expect(rows).toHaveLength(expected.length);
    expect(new Set(rows.map((r) => `${r.date_start}|${r.campaign_id}`)).size).toBe(rows.length);
    expect(sum(rows.map((r) => Math.round(Number(r.spend) * 100)))).toBe(sum(expected.map((r) => Math.round(Number(r.spend) * 100))));
  });

  it('pages by the after cursor by hand, and caps limit at the configured page size', async () => {
    meta.settings.maxPageSize = 5;
    const params = { level: 'campaign', time_increment: '1', time_range: range('2024-03-01', '2024-03-10'), fields: 'campaign_id,spend', limit: '100' };
    const first = await getJson(insightsUrl(params));
    expect(first.body.data).toHaveLength(5);
    const second = await getJson(insightsUrl({ ...params, after: first.body.paging.cursors.after }));
    expect(second.body.data[0]).not.toEqual(first.body.data[0]);
    expect(second.body.paging.previous).toContain('before=');
  });

  it('aggregates with time_increment all_days and at account level', async () => {
    const { body } = await getJson(insightsUrl({ level: 'account', time_range: range('2024-03-01', '2024-03-07'), fields: 'account_id,account_currency,impressions,spend,reach' }));
    expect(body.data).toHaveLength(1);
    const week = ds.meta.rows.filter((r) => r.date >= '2024-03-01' && r.date <= '2024-03-07');
    expect(body.data[0]).toMatchObject({ account_id: '1001', account_currency: 'USD', date_start: '2024-03-01', date_stop: '2024-03-07', impressions: String(sum(week.map((r) => r.impressions))) });
    expect(Number(body.data[0].reach)).toBeLessThan(sum(week.map((r) => r.reach)));
    expect(Number(body.data[0].spend)).toBeCloseTo(sum(week.map((r) => Number(r.spend))), 2);
  });

  it('refuses windows longer than the configured limit with "Please reduce the amount of data"', async () => {
    meta.settings.maxSyncDays = 14;
    const { status, body } = await getJson(insightsUrl({ level: 'campaign', time_increment: '1', time_range: range('2024-03-01', '2024-03-15'), fields: FIELDS }));
    expect(status).toBe(500);
    expect(body.error).toMatchObject({ code: 1, error_subcode: 99, message: "Please reduce the amount of data you're asking for, then retry your request" });
    expect((await getJson(insightsUrl({ level: 'campaign', time_increment: '1', time_range: range('2024-03-01', '2024-03-14'), fields: FIELDS }))).status).toBe(200);
  });

  it('refuses unknown fields, accounts and bad time ranges with Graph errors', async () => {
    const field = await getJson(insightsUrl({ fields: 'impressions,bogus', time_range: range('2024-03-01', '2024-03-01') }));
    expect(field.status).toBe(400);
    expect(field.body.error).toMatchObject({ code: 100, type: 'OAuthException' });
    expect(field.body.error.message).toMatch(/^\(#100\) bogus is not valid for fields param/);
    const account = await getJson(insightsUrl({ fields: 'impressions' }, '/v23.0/act_999/insights'));
    expect(account.body.error).toMatchObject({ code: 100, error_subcode: 33, type: 'GraphMethodException' });
    const badRange = await getJson(insightsUrl({ time_range: '{"since":"2024-03-05","until":"2024-03-01"}' }));
    expect(badRange.body.error.code).toBe(100);
  });

  it('takes the token from an Authorization header too, and rejects a bad one with code 190', async () => {
    const url = `${meta.url}/v23.0/act_1001/insights?time_range=${encodeURIComponent(range('2024-03-01', '2024-03-01'))}`;
    expect((await getJson(url, { headers: { authorization: `OAuth ${META_ACCESS_TOKEN}` } })).status).toBe(200);
    const bad = await axios.get(url, { headers: { authorization: 'Bearer nope' }, validateStatus: () => true });
    expect(bad.status).toBe(400);
    expect(bad.data.error.code).toBe(190);
    expect(bad.headers['www-authenticate']).toMatch(/invalid_token/);
  });
});

describe('Meta async report runs', () => {
  it('runs a long report: report_run_id, Job Running, Job Completed, then paged results', async () => {
    meta.settings.asyncPolls = 3;
    const body = new URLSearchParams({ access_token: META_ACCESS_TOKEN, level: 'campaign', time_increment: '1', time_range: range(ds.startDate, ds.endDate), fields: FIELDS });
    const created = await getJson(`${meta.url}/v23.0/act_1001/insights`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    expect(created.status).toBe(200);
    const id = created.body.report_run_id;
    expect(id).toMatch(/^\d+$/);

    const statusUrl = `${meta.url}/v23.0/${id}?access_token=${META_ACCESS_TOKEN}`;
    const polls: any[] = [];
    for (let i = 0; i < 3; i++) polls.push((await getJson(statusUrl)).body);
    expect(polls.map((p) => p.async_status)).toEqual(['Job Running', 'Job Running', 'Job Completed']);
    expect(polls.map((p) => p.async_percent_completion)).toEqual([33, 66, 100]);
    expect(polls[2]).toMatchObject({ id, account_id: '1001', date_start: ds.startDate, date_stop: ds.endDate, time_completed: expect.any(Number) });

    const rows = await followAll(`${meta.url}/v23.0/${id}/insights?access_token=${META_ACCESS_TOKEN}&limit=100`);
    expect(rows).toHaveLength(ds.meta.rows.length);
    expect(new Set(rows.map((r) => `${r.date_start}|${r.campaign_id}`)).size).toBe(rows.length);
    expect(sum(rows.map((r) => Number(r.impressions)))).toBe(sum(ds.meta.rows.map((r) => r.impressions)));
  });

  it('refuses results before completion, and can fail a job', async () => {
    meta.settings.asyncPolls = 5;
    const create = async (): Promise<string> =>
      (await getJson(insightsUrl({ level: 'campaign', time_range: range('2024-03-01', '2024-03-02') }), { method: 'POST' })).body.report_run_id;
    const early = await getJson(`${meta.url}/v23.0/${await create()}/insights?access_token=${META_ACCESS_TOKEN}`);
    expect(early.status).toBe(400);
    meta.settings.asyncPolls = 1;
    meta.settings.asyncFail = true;
    const failed = await getJson(`${meta.url}/v23.0/${await create()}?access_token=${META_ACCESS_TOKEN}`);
    expect(failed.body.async_status).toBe('Job Failed');
  });
});

describe('Meta throttling', () => {
  it('reports usage in the three headers, and fails with code 80000 once usage reaches 100%', async () => {
    meta.settings.usagePct = 96;
    meta.settings.usagePerCall = 2;
    const url = insightsUrl({ time_range: range('2024-03-01', '2024-03-01') });
    const first = await getJson(url);
    expect(first.status).toBe(200);
    const buc = JSON.parse(first.headers.get('x-business-use-case-usage') ?? '{}');
    expect(buc['1001'][0]).toMatchObject({ type: 'ads_insights', call_count: 98, estimated_time_to_regain_access: 0 });
    expect(JSON.parse(first.headers.get('x-ad-account-usage') ?? '{}')).toMatchObject({ acc_id_util_pct: 98 });
    expect(JSON.parse(first.headers.get('x-fb-ads-insights-throttle') ?? '{}')).toEqual({ app_id_util_pct: 98, acc_id_util_pct: 98, ads_api_access_tier: 'standard_access' });
    const second = await getJson(url);
    expect(second.status).toBe(400);
    expect(second.body.error).toMatchObject({ code: 80000, error_subcode: 2446079, is_transient: true });
    expect(JSON.parse(second.headers.get('x-business-use-case-usage') ?? '{}')['1001'][0].estimated_time_to_regain_access).toBeGreaterThan(0);
  });

  it('can answer with the other throttling codes', async () => {
    meta.faults.push({ kind: '429', code: 17 }, { kind: '429', code: 4 });
    const url = insightsUrl({ time_range: range('2024-03-01', '2024-03-01') });
    expect((await getJson(url)).body.error).toMatchObject({ code: 17, message: 'User request limit reached' });
    expect((await getJson(url)).body.error).toMatchObject({ code: 4 });
  });
});
