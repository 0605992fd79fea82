import { describe, expect, it } from 'vitest';
import { parseDefinition } from '../../src/connectors/declarative/config.ts';
import { dateOf, factsOf } from '../../src/connectors/declarative/records.ts';
import { fill } from '../../src/connectors/declarative/template.ts';
import { DataError } from '../../src/core/errors.ts';

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
});
