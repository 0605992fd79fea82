import { describe, expect, it } from 'vitest';
import { parseDefinition } from '../../src/connectors/declarative/config.ts';
import { dateOf, factsOf } from '../../src/connectors/declarative/records.ts';
import { fill } from '../../src/connectors/declarative/template.ts';
import { requestsFor, zipped } from '../../src/connectors/declarative/engine.ts';
import { ConfigError, DataError, TransientError } from '../../src/core/errors.ts';

/** How a definition turns one record into facts, and fills its templates: values by hand. */
const def = parseDefinition(
  {
    type: 'crm_sample',
    title: 'Sample',
    baseUrl: 'https://api.example.com',
    config: { account: { kind: 'string', default: 'sample', description: 'the account facts are stored under' } },
    accounts: { single: 'account' },
    request: { path: '/x' },
    date: { path: 'day', format: 'dd.MM.yyyy' },
    dimensions: {
      channel: { path: 'source', map: { fb: 'paid_social', adwords: 'paid_search' }, otherwise: 'other' },
      campaign: { path: ['campaign.name', 'campaign.id'] },
      campaignId: { path: 'campaign.urn', afterLast: ':' },
    },
    currency: { path: 'cur' },
    metrics: {
      revenue: { path: 'cents', scale: 0.01, where: { status: 'won' } },
      pipeline: { path: 'cents', scale: 0.01, whereNot: { status: 'won' } },
      email_delivered: { path: 'sent', minus: ['bounced'], atLeastZero: true },
      orders: { count: true },
    },
  },
  'test',
);
const info = { currency: 'USD', timeZone: 'UTC' };

describe('declarative records', () => {
  it('maps dimensions, scales and filters metrics, and gives money its currency only', () => {
    const record = { day: '05.03.2026', source: 'fb', campaign: { id: '7', urn: 'urn:li:sponsoredCampaign:7' }, cur: 'eur', cents: '12345', status: 'won', sent: 10, bounced: 12 };
    const date = dateOf(def, record, 'UTC')!;
    expect(date).toBe('2026-03-05');
    expect(factsOf(def, record, date, info)).toEqual([
      { date, campaign: '7', campaignId: '7', channel: 'paid_social', metric: 'revenue', value: 123.45, currency: 'EUR' },
      { date, campaign: '7', campaignId: '7', channel: 'paid_social', metric: 'email_delivered', value: 0, currency: null },
      { date, campaign: '7', campaignId: '7', channel: 'paid_social', metric: 'orders', value: 1, currency: null },
    ]);
    const open = { ...record, source: 'tv', status: 'open', campaign: { name: 'Spring', urn: '' }, cur: '' };
    expect(factsOf(def, open, date, info).map((f) => [f.channel, f.campaign, f.metric, f.value, f.currency])).toEqual([
      ['other', 'Spring', 'pipeline', 123.45, 'USD'],
      ['other', 'Spring', 'email_delivered', 0, null],
      ['other', 'Spring', 'orders', 1, null],
    ]);
  });

  it('quarantines a record whose number is not one, naming the field', () => {
    let caught: unknown;
    try {
      factsOf(def, { day: '05.03.2026', cents: { amount: 1 }, status: 'won' }, '2026-03-05', info);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DataError);
    expect(String((caught as Error).message)).toMatch(/field "cents" \(metric revenue\): expected number, got object/);
  });

  it('fills window, config and filtered placeholders, and names one that has no value', () => {
    const scope = { config: { apiKey: 'abc-us6', ids: ['1', '2'] }, account: '9', window: { from: '2026-03-01', to: '2026-03-02' }, zone: 'Europe/Berlin', name: 'c' };
    expect(fill('{config.apiKey|after:-}/{account}/{from:yyyyMMdd}/{to:d}/{from_ms}/{end_iso}/{config.ids|json}', scope)).toBe(
      'us6/9/20260301/2/1772319600000/2026-03-02T23:00:00Z/["1","2"]',
    );
    expect(() => fill('{config.missing}', scope)).toThrow(/\{config\.missing\} has no value/);
  });

  it('makes an answer in columns (dates beside counts) one record per position, each with its day and numbers', () => {
    const cols = parseDefinition(
      {
        type: 'columns',
        title: 'Columns',
        baseUrl: 'https://api.example.com',
        config: { account: { kind: 'string', default: 'a', description: 'the account' } },
        accounts: { single: 'account' },
        request: { path: '/x' },
        records: 'data.rows',
        zip: { day: '_answer.data.dates', n: 'measurements.count', u: 'measurements.unique' },
        date: { path: 'day' },
        dimensions: { channel: { value: 'email' }, campaignId: { path: '_parent.dimensions.0' } },
        metrics: { email_opens: 'n', email_unique_opens: 'u' },
      },
      'test',
    );
    const answer = {
      data: {
        dates: ['2026-03-01T00:00:00+01:00', '2026-03-02T00:00:00+01:00'],
        rows: [
          { dimensions: ['m1'], measurements: { count: [5, 0], unique: [3, 0] } },
          { dimensions: [], measurements: { count: [1, 2], unique: [1, 1] } },
        ],
      },
    };
    const records = zipped(cols, answer, answer.data.rows, 'c');
    expect(records.map((r) => [dateOf(cols, r, 'Europe/Berlin'), factsOf(cols, r, '2026-03-01', info).map((f) => [f.campaignId, f.metric, f.value])])).toEqual([
      ['2026-03-01', [['m1', 'email_opens', 5], ['m1', 'email_unique_opens', 3]]],
      ['2026-03-02', [['m1', 'email_opens', 0], ['m1', 'email_unique_opens', 0]]],
      ['2026-03-01', [['', 'email_opens', 1], ['', 'email_unique_opens', 1]]],
      ['2026-03-02', [['', 'email_opens', 2], ['', 'email_unique_opens', 1]]],
    ]);
    // Lists that do not line up cannot be read by position: the run fails and asks again.
    const short = { data: { ...answer.data, rows: [{ dimensions: [], measurements: { count: [1], unique: [1, 1] } }] } };
    expect(() => zipped(cols, short, short.data.rows, 'c')).toThrow(TransientError);
    expect(() => zipped(cols, short, short.data.rows, 'c')).toThrow(/lists of different lengths: "_answer.data.dates" 2, "measurements.count" 1/);
    expect(() => zipped(cols, answer, [{ dimensions: [] }], 'c')).toThrow(/no list at "measurements.count"/);
  });

  it('reads with every request the config enables (requests: all), and refuses a config that enables none', () => {
    const all = parseDefinition(
      {
        type: 'per_metric',
        title: 'Per metric',
        baseUrl: 'https://api.example.com',
        config: {
          account: { kind: 'string', default: 'a', description: 'the account' },
          opensId: { kind: 'string', optional: true, description: 'x' },
          clicksId: { kind: 'string', optional: true, description: 'y' },
        },
        accounts: { single: 'account' },
        requests: 'all',
        request: [
          { when: 'opensId', path: '/agg', body: { id: '{config.opensId}' }, fields: { metric: 'opens' } },
          { when: 'clicksId', path: '/agg', body: { id: '{config.clicksId}' }, fields: { metric: 'clicks' } },
        ],
        date: { path: 'day' },
        metrics: { email_opens: { path: 'n', where: { '_request.metric': 'opens' } } },
      },
      'test',
    );
    expect(requestsFor(all, { name: 'c', opensId: 'A', clicksId: 'B' }).map((r) => r.fields?.metric)).toEqual(['opens', 'clicks']);
    expect(requestsFor(all, { name: 'c', clicksId: 'B' }).map((r) => r.fields?.metric)).toEqual(['clicks']);
    expect(() => requestsFor(all, { name: 'c' })).toThrow(ConfigError);
    expect(() => requestsFor(all, { name: 'c' })).toThrow(/set at least one of opensId, clicksId/);
    // The default still chooses one.
    expect(requestsFor({ ...all, requests: 'first' }, { name: 'c', opensId: 'A', clicksId: 'B' })).toHaveLength(1);
  });

  it('fills {zone} with the zone the window is in', () => {
    expect(fill('{zone}', { config: {}, zone: 'America/New_York', name: 'c' })).toBe('America/New_York');
  });
});
