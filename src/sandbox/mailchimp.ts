import { randomUUID } from 'node:crypto';
import type { Dataset, MailchimpCampaign } from './dataset.ts';
import { CredentialStore, json, startFakeServer, type ErrorKind, type FakeApi, type FakeRequest, type FakeResponse, type FakeServer } from './server.ts';

/**
 * Mailchimp Marketing API 3.0 under /3.0: reports, campaigns, lists (audiences), ping and the
 * API root (the account's name and time zone). HTTP Basic auth with any user name and the API
 * key as password (a Bearer key works too); errors are RFC 7807 problem documents.
 */

export const MAILCHIMP_API_KEY = '0123456789abcdef0123456789abcdef-us6';
/** The account behind the sandbox key, as the API root describes it. */
export const MAILCHIMP_ACCOUNT = { id: '8d3a3db4d97663a9074efcc16', name: 'Example Inc', timeZone: 'Europe/Berlin' } as const;

export interface MailchimpSettings {
  /** Largest `count` honoured (1000 in the real API). */
  maxPageSize: number;
}

interface MailchimpFakeOptions {
  credentials?: CredentialStore;
  settings?: Partial<MailchimpSettings>;
}

const ERRORS_DOC = 'https://mailchimp.com/developer/marketing/docs/errors/';

function problem(status: number, title: string, detail: string, headers: Record<string, string> = {}): FakeResponse {
  return {
    status,
    body: { type: ERRORS_DOC, title, status, detail, instance: randomUUID() },
    headers: { 'content-type': 'application/problem+json; charset=utf-8', ...headers },
  };
}

class Problem extends Error {
  readonly response: FakeResponse;

  constructor(response: FakeResponse) {
    super('problem');
    this.response = response;
  }
}

export async function startMailchimpFake(dataset: Dataset, options: MailchimpFakeOptions = {}): Promise<FakeServer<MailchimpSettings>> {
  const settings: MailchimpSettings = { maxPageSize: 1000, ...options.settings };
  const dc = dataset.mailchimp.dc;

  function errorFor(kind: ErrorKind, req: FakeRequest): FakeResponse {
    switch (kind) {
      case 'missingCredentials':
        return problem(401, 'API Key Missing', 'Your request did not include an API key.');
      case 'invalidCredentials':
      case 'expiredCredentials':
      case 'revokedCredentials':
        return problem(401, 'API Key Invalid', "Your API key may be invalid, or you've attempted to access the wrong datacenter.");
      case 'forbidden':
        return problem(403, 'Forbidden', "You don't have permission to access this resource.");
      case 'rateLimited':
        return problem(429, 'Too Many Requests', 'You have exceeded the limit of 10 simultaneous connections.', req.fault?.retryAfterSec !== undefined ? { 'retry-after': String(req.fault.retryAfterSec) } : {});
      case 'internal':
        return problem(500, 'Internal Server Error', 'An unexpected internal error has occurred. Please contact Support for more information.');
      case 'unavailable':
        return problem(503, 'Service Unavailable', 'This service is temporarily unavailable. Please try again later.');
    }
  }

  const rates = (c: MailchimpCampaign): { delivered: number; openRate: number; clickRate: number } => {
    const delivered = Math.max(1, c.emails_sent - c.bounces.hard_bounces - c.bounces.soft_bounces);
    return { delivered, openRate: c.opens.unique_opens / delivered, clickRate: c.clicks.unique_clicks / delivered };
  };
  const lastActivity = (c: MailchimpCampaign, hours: number): string => new Date(Date.parse(c.send_time) + hours * 3_600_000).toISOString().replace('.000Z', '+00:00');

  function report(base: string, c: MailchimpCampaign): Record<string, unknown> {
    const { openRate, clickRate } = rates(c);
    const proxy = Math.round(c.opens.unique_opens * 0.55);
    return {
      id: c.id,
      campaign_title: c.settings.title,
      type: c.type,
      list_id: c.recipients.list_id,
      list_is_active: true,
      list_name: c.recipients.list_name,
      subject_line: c.settings.subject_line,
      preview_text: '',
      emails_sent: c.emails_sent,
      abuse_reports: c.abuse_reports,
      unsubscribed: c.unsubscribed,
      send_time: c.send_time,
      bounces: { ...c.bounces },
      forwards: { forwards_count: 0, forwards_opens: 0 },
      opens: {
        opens_total: c.opens.opens_total,
        proxy_excluded_opens: Math.round(c.opens.opens_total * 0.45),
        unique_opens: c.opens.unique_opens,
        proxy_excluded_unique_opens: c.opens.unique_opens - proxy,
        open_rate: openRate,
        proxy_excluded_open_rate: (c.opens.unique_opens - proxy) / rates(c).delivered,
        last_open: lastActivity(c, 70),
      },
      clicks: {
        clicks_total: c.clicks.clicks_total,
        unique_clicks: c.clicks.unique_clicks,
        unique_subscriber_clicks: c.clicks.unique_clicks,
        click_rate: clickRate,
        last_click: lastActivity(c, 66),
      },
      facebook_likes: { recipient_likes: 0, unique_likes: 0, facebook_likes: 0 },
      list_stats: { sub_rate: 8.2, unsub_rate: 1.1, open_rate: 37.4, click_rate: 3.1 },
      delivery_status: { enabled: false },
      _links: [{ rel: 'self', href: `${base}/3.0/reports/${c.id}`, method: 'GET', targetSchema: 'https://us6.api.mailchimp.com/schema/3.0/Definitions/Reports/Response.json' }],
    };
  }

  function campaign(base: string, c: MailchimpCampaign): Record<string, unknown> {
    const { openRate, clickRate } = rates(c);
    return {
      id: c.id,
      web_id: c.web_id,
      type: c.type,
      create_time: c.create_time,
      archive_url: `http://eepurl.com/sandbox${c.web_id}`,
      long_archive_url: `https://us6.campaign-archive.com/?u=sandbox&id=${c.id}`,
      status: c.status,
      emails_sent: c.emails_sent,
      send_time: c.send_time,
      content_type: 'template',
      needs_block_refresh: false,
      resendable: false,
      recipients: { list_id: c.recipients.list_id, list_is_active: true, list_name: c.recipients.list_name, segment_text: '', recipient_count: c.recipients.recipient_count },
      settings: { subject_line: c.settings.subject_line, preview_text: '', title: c.settings.title, from_name: c.settings.from_name, reply_to: 'news@example.com', use_conversation: false, to_name: '*|FNAME|*', folder_id: '', authenticate: true, auto_footer: false, inline_css: false, auto_tweet: false, fb_comments: true, timewarp: false, template_id: 10001, drag_and_drop: true },
      tracking: { opens: true, html_clicks: true, text_clicks: false, goal_tracking: false, ecomm360: false, google_analytics: c.utmCampaign, clicktale: '' },
      report_summary: {
        opens: c.opens.opens_total, unique_opens: c.opens.unique_opens, open_rate: openRate, clicks: c.clicks.clicks_total,
        subscriber_clicks: c.clicks.unique_clicks, click_rate: clickRate, ecommerce: { total_orders: 0, total_spent: 0, total_revenue: 0 },
      },
      delivery_status: { enabled: false },
      _links: [{ rel: 'self', href: `${base}/3.0/campaigns/${c.id}`, method: 'GET', targetSchema: 'https://us6.api.mailchimp.com/schema/3.0/Definitions/Campaigns/Response.json' }],
    };
  }

  function listed(req: FakeRequest, key: 'reports' | 'campaigns'): Record<string, unknown> {
    const q = req.query;
    const count = q.get('count') === null ? 10 : Number(q.get('count'));
    const offset = q.get('offset') === null ? 0 : Number(q.get('offset'));
    if (!Number.isInteger(count) || count < 0) throw new Problem(problem(400, 'Invalid Resource', 'The count parameter must be a non-negative integer.'));
    if (!Number.isInteger(offset) || offset < 0) throw new Problem(problem(400, 'Invalid Resource', 'The offset parameter must be a non-negative integer.'));
    const since = timeParam(q.get('since_send_time'), 'since_send_time');
    const before = timeParam(q.get('before_send_time'), 'before_send_time');
    const type = q.get('type');
    const status = q.get('status');
    // The order of /reports is undocumented and comes back newest first; /campaigns sorts as asked.
    const dir = key === 'reports' ? -1 : (q.get('sort_dir') ?? 'ASC').toUpperCase() === 'DESC' ? -1 : 1;
    const all = dataset.mailchimp.campaigns
      .filter((c) => (since === undefined || Date.parse(c.send_time) >= since) && (before === undefined || Date.parse(c.send_time) < before))
      .filter((c) => (!type || c.type === type) && (!status || c.status === status))
      .sort((a, b) => dir * (Date.parse(a.send_time) - Date.parse(b.send_time)));
    const page = all.slice(offset, offset + Math.min(count, settings.maxPageSize));
    return {
      [key]: page.map((c) => (key === 'reports' ? report(req.baseUrl, c) : campaign(req.baseUrl, c))),
      total_items: all.length,
      _links: [{ rel: 'self', href: `${req.baseUrl}/3.0/${key}`, method: 'GET', targetSchema: `https://us6.api.mailchimp.com/schema/3.0/Definitions/${key === 'reports' ? 'Reports' : 'Campaigns'}/CollectionResponse.json` }],
    };
  }

  /** GET /3.0/: the account the key belongs to. */
  function root(): Record<string, unknown> {
    return {
      account_id: MAILCHIMP_ACCOUNT.id,
      login_id: '123456789',
      account_name: MAILCHIMP_ACCOUNT.name,
      email: 'marketing@example.com',
      first_name: 'Example',
      last_name: 'Team',
      username: 'example-marketing',
      role: 'owner',
      member_since: '2019-04-02T09:00:00+00:00',
      pricing_plan_type: 'monthly',
      account_timezone: MAILCHIMP_ACCOUNT.timeZone,
      account_industry: 'Marketing',
      contact: { company: 'Example Inc', addr1: '1 Example Street', addr2: '', city: 'Berlin', state: '', zip: '10115', country: 'DE' },
      pro_enabled: false,
      total_subscribers: memberCount(),
    };
  }

  const memberCount = (): number => dataset.mailchimp.campaigns.reduce((latest, c) => (!latest || c.send_time > latest.send_time ? c : latest), undefined as MailchimpCampaign | undefined)?.recipients.recipient_count ?? 0;

  /** GET /3.0/lists: the audiences, paged by count and offset like every collection. */
  function lists(req: FakeRequest): Record<string, unknown> {
    const q = req.query;
    const count = q.get('count') === null ? 10 : Number(q.get('count'));
    const offset = q.get('offset') === null ? 0 : Number(q.get('offset'));
    if (!Number.isInteger(count) || count < 0) throw new Problem(problem(400, 'Invalid Resource', 'The count parameter must be a non-negative integer.'));
    if (!Number.isInteger(offset) || offset < 0) throw new Problem(problem(400, 'Invalid Resource', 'The offset parameter must be a non-negative integer.'));
    const name = dataset.mailchimp.campaigns[0]?.recipients.list_name ?? 'Example Newsletter';
    const all = [
      {
        id: dataset.mailchimp.listId,
        web_id: 100001,
        name,
        contact: { company: 'Example Inc', addr1: '1 Example Street', city: 'Berlin', zip: '10115', country: 'DE' },
        permission_reminder: 'You signed up for the Example newsletter on our website.',
        campaign_defaults: { from_name: 'Example Team', from_email: 'news@example.com', subject: '', language: 'en' },
        date_created: '2019-04-02T09:15:00+00:00',
        list_rating: 4,
        email_type_option: false,
        visibility: 'prv',
        double_optin: true,
        stats: { member_count: memberCount(), unsubscribe_count: 412, cleaned_count: 96, campaign_count: dataset.mailchimp.campaigns.length },
        _links: [{ rel: 'self', href: `${req.baseUrl}/3.0/lists/${dataset.mailchimp.listId}`, method: 'GET' }],
      },
    ];
    return {
      lists: all.slice(offset, offset + Math.min(count, settings.maxPageSize)),
      total_items: all.length,
      constraints: { may_create: false, max_instances: 1, current_total_instances: all.length },
      _links: [{ rel: 'self', href: `${req.baseUrl}/3.0/lists`, method: 'GET' }],
    };
  }

  function handle(req: FakeRequest): FakeResponse {
    if (req.method !== 'GET') return problem(405, 'Method Not Allowed', `The requested method and resource are not compatible. See the Allow header for this resource's available methods.`);
    try {
      let body: Record<string, unknown> | undefined;
      const one = /^\/3\.0\/(reports|campaigns)\/([^/]+)$/.exec(req.path);
      if (req.path === '/3.0/ping' || req.path === '/3.0/ping/') body = { health_status: "Everything's Chimpy!" };
      else if (req.path === '/3.0' || req.path === '/3.0/') body = root();
      else if (req.path === '/3.0/lists' || req.path === '/3.0/lists/') body = lists(req);
      else if (req.path === '/3.0/reports' || req.path === '/3.0/reports/') body = listed(req, 'reports');
      else if (req.path === '/3.0/campaigns' || req.path === '/3.0/campaigns/') body = listed(req, 'campaigns');
      else if (one) {
        const c = dataset.mailchimp.campaigns.find((x) => x.id === one[2]);
        if (!c) return problem(404, 'Resource Not Found', 'The requested resource could not be found.');
        body = one[1] === 'reports' ? report(req.baseUrl, c) : campaign(req.baseUrl, c);
      }
      if (!body) return problem(404, 'Resource Not Found', 'The requested resource could not be found.');
      return json(200, project(body, req.query.get('fields'), req.query.get('exclude_fields')));
    } catch (err) {
      if (err instanceof Problem) return err.response;
      throw err;
    }
  }

  const api: FakeApi = {
    name: 'mailchimp',
    credential(req) {
      const h = String(req.headers.authorization ?? '').trim();
      const basic = /^Basic\s+(.+)$/i.exec(h);
      if (basic?.[1]) {
        const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
        const i = decoded.indexOf(':');
        return i >= 0 ? decoded.slice(i + 1) : undefined;
      }
      const token = /^(?:Bearer|apikey)\s+(.+)$/i.exec(h);
      return token?.[1];
    },
    error: errorFor,
    typeChangePath: (body) => ((body as Record<string, unknown>).reports ? 'reports.0.emails_sent' : 'emails_sent'),
    handle(req) {
      // A key from another datacenter is a key this one has never heard of.
      if (req.credential && !req.credential.endsWith(`-${dc}`)) return errorFor('invalidCredentials', req);
      return handle(req);
    },
  };

  return startFakeServer(api, settings, options.credentials ?? new CredentialStore([MAILCHIMP_API_KEY]));
}

function timeParam(value: string | null, name: string): number | undefined {
  if (value === null || value === '') return undefined;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new Problem(problem(400, 'Invalid Resource', `The ${name} parameter must be an ISO 8601 time, e.g. 2015-10-21T15:41:36+00:00.`));
  return t;
}

/** Mailchimp's fields / exclude_fields: comma-separated dot paths such as reports.id,total_items. */
function project(body: Record<string, unknown>, fields: string | null, exclude: string | null): Record<string, unknown> {
  const paths = (s: string | null): string[][] => (s ? s.split(',').map((p) => p.trim().split('.')).filter((p) => p[0]) : []);
  const include = paths(fields);
  const drop = paths(exclude);
  const pick = (node: unknown, wanted: string[][]): unknown => {
    if (Array.isArray(node)) return node.map((n) => pick(n, wanted));
    if (node === null || typeof node !== 'object') return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      const here = wanted.filter((p) => p[0] === k);
      if (here.length === 0) continue;
      out[k] = here.some((p) => p.length === 1) ? v : pick(v, here.map((p) => p.slice(1)));
    }
    return out;
  };
  const remove = (node: unknown, unwanted: string[][]): unknown => {
    if (Array.isArray(node)) return node.map((n) => remove(n, unwanted));
    if (node === null || typeof node !== 'object') return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      const here = unwanted.filter((p) => p[0] === k);
      if (here.some((p) => p.length === 1)) continue;
      out[k] = here.length ? remove(v, here.map((p) => p.slice(1))) : v;
    }
    return out;
  };
  let out: unknown = body;
  if (include.length) out = pick(out, include);
  if (drop.length) out = remove(out, drop);
  return out as Record<string, unknown>;
}
