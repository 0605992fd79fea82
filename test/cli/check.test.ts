import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataset, startSandbox, type Dataset, type Sandbox } from '../../src/sandbox/index.ts';
import { runCli, tempProject, type CliRun } from '../helpers/cli.ts';

/**
 * `kpi check` against the sandbox: every connector type's verdict, table and config lines as
 * printed, refused credentials, an account the credentials cannot see, --json and exit codes.
 * Nothing here touches a database.
 */

describe('kpi check', () => {
  let dataset: Dataset;
  let sb: Sandbox;
  let project: { dir: string; cleanup(): void };
  let env: NodeJS.ProcessEnv;
  let secrets: string[];
  const kpi = async (...args: string[]): Promise<CliRun> => {
    const run = await runCli([...args, '--config', 'kpi.yaml'], { env, cwd: project.dir });
    // Whatever the outcome, no secret is printed.
    for (const s of secrets) expect(run.stdout + run.stderr).not.toContain(s);
    return run;
  };

  beforeAll(async () => {
    dataset = createDataset({ seed: 7, endDate: '2024-03-31' });
    sb = await startSandbox(dataset);
    const g = sb.credentials.google;
    env = {
      G_ID: g.oauthClient.clientId,
      G_SECRET: g.oauthClient.clientSecret,
      G_REFRESH: g.oauthClient.refreshToken,
      ADS_DEV: sb.credentials.googleAds.developerToken,
      META_TOKEN: sb.credentials.meta.accessToken,
      MC_KEY: sb.credentials.mailchimp.apiKey,
      SG_KEY: sb.credentials.sendgrid.apiKey,
      SHOP_TOKEN: sb.credentials.shop.accessToken,
    };
    secrets = Object.values(env).filter((v): v is string => typeof v === 'string' && !v.endsWith('.apps.googleusercontent.com'));
    const oauth = `{ type: oauth, clientId: "\${env:G_ID}", clientSecret: "\${env:G_SECRET}", refreshToken: "\${env:G_REFRESH}", tokenUrl: "${g.tokenUrl}" }`;
    project = tempProject({
      'kpi.yaml': `
reporting: { timezone: Europe/Berlin, currency: EUR }
connectors:
  - { name: ga4, type: ga4, propertyIds: ["123456789"], baseUrl: "${sb.urls.ga4}", auth: ${oauth} }
  - { name: gsc, type: search_console, siteUrls: ["sc-domain:example.com"], baseUrl: "${sb.urls.searchConsole}", auth: ${oauth} }
  - name: ads
    type: google_ads
    customerIds: ["123-456-7890", "2345678901"]
    loginCustomerId: "9876543210"
    developerToken: "\${env:ADS_DEV}"
    baseUrl: "${sb.urls.googleAds}"
    auth: ${oauth}
  - { name: meta, type: meta_ads, adAccountIds: ["act_1001"], accessToken: "\${env:META_TOKEN}", baseUrl: "${sb.urls.meta}" }
  - { name: mc, type: mailchimp, apiKey: "\${env:MC_KEY}", baseUrl: "${sb.urls.mailchimp}", timezone: Europe/Berlin }
  - { name: sg, type: sendgrid, apiKey: "\${env:SG_KEY}", baseUrl: "${sb.urls.sendgrid}", categories: [newsletter] }
  - { name: leads, type: csv, path: "leads-*.csv", delimiter: ";", date: { column: Day, format: dd.MM.yyyy }, metrics: { leads: Leads } }
  - name: shop
    type: http_json
    url: https://shop.example.com/admin/api/2025-01/orders.json
    baseUrl: "${sb.urls.shop}"
    params: { limit: "5" }
    auth: { type: header, name: X-Shopify-Access-Token, value: "\${env:SHOP_TOKEN}" }
    recordsPath: orders
    fields: { date: created_at, metrics: { orders: { count: true } } }
  # Disabled: left out of a plain \`kpi check\`, checked when named.
  - { name: ads-other, type: google_ads, enabled: false, customerIds: ["1112223334"], developerToken: "\${env:ADS_DEV}", baseUrl: "${sb.urls.googleAds}", auth: ${oauth} }
  - { name: ga4-other, type: ga4, enabled: false, propertyIds: ["123456789", "555555555"], baseUrl: "${sb.urls.ga4}", auth: ${oauth} }
  - { name: shop-wrong-path, type: http_json, enabled: false, url: "https://shop.example.com/orders.json", baseUrl: "${sb.urls.shop}", params: { limit: "2" }, auth: { type: header, name: X-Shopify-Access-Token, value: "\${env:SHOP_TOKEN}" }, recordsPath: data, fields: { date: created_at, metrics: { orders: { count: true } } } }
`,
      'leads-1.csv': 'Day;Leads\n01.03.2024;4\n02.03.2024;5\nnot a day;1\n',
      'leads-2.csv': 'Day;Leads\n03.03.2024;6\n',
      'bad.yaml': 'connectors:\n  - { name: x, type: ga4 }\n',
    });
  });

  afterAll(async () => {
    await sb?.close();
    project?.cleanup();
  });

  it('ga4: the properties from the Admin API, with currency and time zone', async () => {
    const seen = sb.fakes.ga4.requests.length;
    const run = await kpi('check', 'ga4');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`\
✓ ga4 (ga4): credentials work; 1 property visible
  ┌───────────┬───────────────────┬──────────┬───────────────┬─────────────┬────────────┐
  │ property  │ name              │ currency │ time zone     │ account     │ configured │
  ├───────────┼───────────────────┼──────────┼───────────────┼─────────────┼────────────┤
  │ 123456789 │ example.com (web) │ EUR      │ Europe/Berlin │ Example Inc │ yes        │
  └───────────┴───────────────────┴──────────┴───────────────┴─────────────┴────────────┘
  config lines:
    propertyIds:
      - "123456789"
`);
    // What the Admin API was asked, as Google documents it.
    const paths = sb.fakes.ga4.requests.slice(seen).map((r) => `${r.method} ${r.path}`);
    expect(paths).toEqual(['GET /v1beta/accountSummaries', 'GET /v1beta/properties/123456789']);
  });

  it('search_console: the sites from sites.list with their permission', async () => {
    const run = await kpi('check', 'gsc');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`\
✓ gsc (search_console): credentials work; 1 site visible
  ┌───────────────────────┬─────────────────────┬────────────┬────────────┐
  │ site                  │ time zone           │ permission │ configured │
  ├───────────────────────┼─────────────────────┼────────────┼────────────┤
  │ sc-domain:example.com │ America/Los_Angeles │ siteOwner  │ yes        │
  └───────────────────────┴─────────────────────┴────────────┴────────────┘
  config lines:
    siteUrls:
      - sc-domain:example.com
`);
  });

  it('google_ads: the accessible customers, each with name, currency and time zone', async () => {
    const seen = sb.fakes.googleAds.requests.length;
    const run = await kpi('check', 'ads');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`\
✓ ads (google_ads): credentials work; 3 customers visible
  ┌────────────┬──────────────────────┬──────────┬──────────────────┬─────────┬────────────┐
  │ customer   │ name                 │ currency │ time zone        │ manager │ configured │
  ├────────────┼──────────────────────┼──────────┼──────────────────┼─────────┼────────────┤
  │ 9876543210 │ Example Agency (MCC) │ USD      │ America/New_York │ yes     │ no         │
  ├────────────┼──────────────────────┼──────────┼──────────────────┼─────────┼────────────┤
  │ 1234567890 │ Example Inc (US)     │ USD      │ America/New_York │ no      │ yes        │
  ├────────────┼──────────────────────┼──────────┼──────────────────┼─────────┼────────────┤
  │ 2345678901 │ Example GmbH (DE)    │ EUR      │ Europe/Berlin    │ no      │ yes        │
  └────────────┴──────────────────────┴──────────┴──────────────────┴─────────┴────────────┘
  config lines:
    customerIds:
      - "1234567890"
      - "2345678901"
    loginCustomerId: "9876543210"
`);
    const searches = sb.fakes.googleAds.requests.slice(seen).filter((r) => r.path.endsWith('googleAds:search'));
    expect(searches.map((r) => [r.path, r.headers['login-customer-id'], (r.body as { query: string }).query])).toEqual([
      ['/v21/customers/9876543210/googleAds:search', '9876543210', 'SELECT customer.descriptive_name, customer.currency_code, customer.time_zone, customer.manager FROM customer'],
      // Configured customers are reached as a sync reaches them: through the manager.
      ['/v21/customers/1234567890/googleAds:search', '9876543210', 'SELECT customer.descriptive_name, customer.currency_code, customer.time_zone, customer.manager FROM customer'],
      ['/v21/customers/2345678901/googleAds:search', '9876543210', 'SELECT customer.descriptive_name, customer.currency_code, customer.time_zone, customer.manager FROM customer'],
    ]);
  });

  it('meta_ads: the ad accounts from /me/adaccounts with status', async () => {
    const run = await kpi('check', 'meta');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`\
✓ meta (meta_ads): credentials work; 1 ad account visible
  ┌────────────┬─────────────┬──────────┬──────────────────┬────────┬────────────┐
  │ ad account │ name        │ currency │ time zone        │ status │ configured │
  ├────────────┼─────────────┼──────────┼──────────────────┼────────┼────────────┤
  │ act_1001   │ Example Inc │ USD      │ America/New_York │ active │ yes        │
  └────────────┴─────────────┴──────────┴──────────────────┴────────┴────────────┘
  config lines:
    adAccountIds:
      - act_1001
`);
  });

  it('meta_ads: a disabled ad account is a note, not a failure', async () => {
    sb.fakes.meta.settings.accountStatus = 2;
    try {
      const run = await kpi('check', 'meta');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('│ act_1001   │ Example Inc │ USD      │ America/New_York │ disabled │ yes        │');
      expect(run.stdout).toContain('  note: ad account act_1001 is disabled: it may deliver no ads, and so no data\n');
    } finally {
      sb.fakes.meta.settings.accountStatus = 1;
    }
  });

  it('mailchimp: ping, the account and its time zone, the lists', async () => {
    // The newest campaign went to the whole list, so its recipients are the members.
    const latest = [...dataset.mailchimp.campaigns].sort((a, b) => a.send_time.localeCompare(b.send_time)).at(-1)!;
    const members = String(latest.recipients.recipient_count);
    expect(members).toMatch(/^\d{5}$/);
    const seen = sb.fakes.mailchimp.requests.length;
    const run = await kpi('check', 'mc');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`\
✓ mc (mailchimp): credentials work; 1 list visible
  ┌────────────┬────────────────────┬─────────┐
  │ list       │ name               │ members │
  ├────────────┼────────────────────┼─────────┤
  │ a1b2c3d4e5 │ Example Newsletter │ ${members}   │
  └────────────┴────────────────────┴─────────┘
  note: Mailchimp account "Example Inc", time zone Europe/Berlin; the connector reads every campaign of the account
  config lines:
    timezone: Europe/Berlin
`);
    expect(sb.fakes.mailchimp.requests.slice(seen).map((r) => r.path)).toEqual(['/3.0/ping', '/3.0/', '/3.0/lists']);
  });

  it('sendgrid: the scopes the stats need, and the categories', async () => {
    const run = await kpi('check', 'sg');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`\
✓ sg (sendgrid): credentials work; 2 categories visible
  ┌───────────────┬────────────┐
  │ category      │ configured │
  ├───────────────┼────────────┤
  │ newsletter    │ yes        │
  ├───────────────┼────────────┤
  │ transactional │ no         │
  └───────────────┴────────────┘
  config lines:
    categories:
      - newsletter
      - transactional
`);
  });

  it('sendgrid: a key without the scope its stats need fails, naming the scope', async () => {
    const before = [...sb.fakes.sendgrid.settings.scopes];
    sb.fakes.sendgrid.settings.scopes = before.filter((s) => s !== 'categories.stats.read');
    try {
      const run = await kpi('check', 'sg');
      expect(run.code).toBe(1);
      expect(run.stdout.split('\n')[0]).toBe('✗ sg (sendgrid): the API key lacks the scope categories.stats.read, which /v3/categories/stats needs');
    } finally {
      sb.fakes.sendgrid.settings.scopes = before;
    }
  });

  it('csv: the files the glob finds, with rows, unreadable lines and dates', async () => {
    const run = await kpi('check', 'leads');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`\
✓ leads (csv): 2 files readable
  ┌─────────────┬──────┬────────────┬────────────────────────┬────────────┐
  │ file        │ rows │ unreadable │ dates                  │ configured │
  ├─────────────┼──────┼────────────┼────────────────────────┼────────────┤
  │ leads-1.csv │ 3    │ 1          │ 2024-03-01..2024-03-02 │ yes        │
  ├─────────────┼──────┼────────────┼────────────────────────┼────────────┤
  │ leads-2.csv │ 1    │ 0          │ 2024-03-03..2024-03-03 │ yes        │
  └─────────────┴──────┴────────────┴────────────────────────┴────────────┘
  config lines:
    path: leads-*.csv
`);
  });

  it('csv: a file without a configured column fails with the columns it has', async () => {
    writeFileSync(path.join(project.dir, 'leads-3.csv'), 'Date;Leads\n04.03.2024;1\n');
    try {
      const run = await kpi('check', 'leads');
      expect(run.code).toBe(1);
      expect(run.stdout.split('\n')[0]).toBe('✗ leads (csv): connector "leads" date.column: column "Day" is not in leads-3.csv (its columns: "Date", "Leads")');
      expect(run.stdout).toContain('│ leads-3.csv │ -    │ -          │ -                      │ yes        │ no         │');
    } finally {
      rmSync(path.join(project.dir, 'leads-3.csv'));
    }
  });

  it('http_json: one request to the configured URL, with its status and records', async () => {
    const run = await kpi('check', 'shop');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`\
✓ shop (http_json): answered HTTP 200 with 5 records
  ┌────────────────────────────────────────────────────────┬────────┬─────────┬────────────┐
  │ URL                                                    │ status │ records │ configured │
  ├────────────────────────────────────────────────────────┼────────┼─────────┼────────────┤
  │ https://shop.example.com/admin/api/2025-01/orders.json │ 200    │ 5       │ yes        │
  └────────────────────────────────────────────────────────┴────────┴─────────┴────────────┘
  config lines:
    url: https://shop.example.com/admin/api/2025-01/orders.json
    recordsPath: orders
`);
  });

  it('http_json: a recordsPath that leads nowhere fails and offers the arrays the answer has', async () => {
    const run = await kpi('check', 'shop-wrong-path');
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(`\
✗ shop-wrong-path (http_json): recordsPath "data" does not lead to an array in the answer (arrays at: orders)
  ┌──────────────────────────────────────┬────────┬─────────┬────────────┐
  │ URL                                  │ status │ records │ configured │
  ├──────────────────────────────────────┼────────┼─────────┼────────────┤
  │ https://shop.example.com/orders.json │ 200    │ -       │ yes        │
  └──────────────────────────────────────┴────────┴─────────┴────────────┘
  config lines:
    url: https://shop.example.com/orders.json
    recordsPath: orders
`);
  });

  it('every enabled connector at once: a block each, a summary, exit 0; disabled ones are named, not checked', async () => {
    const run = await kpi('check');
    expect(run.code).toBe(0);
    const verdicts = run.stdout.split('\n').filter((l) => /^[✓✗-] /.test(l));
    expect(verdicts).toEqual([
      '✓ ga4 (ga4): credentials work; 1 property visible',
      '✓ gsc (search_console): credentials work; 1 site visible',
      '✓ ads (google_ads): credentials work; 3 customers visible',
      '✓ meta (meta_ads): credentials work; 1 ad account visible',
      '✓ mc (mailchimp): credentials work; 1 list visible',
      '✓ sg (sendgrid): credentials work; 2 categories visible',
      '✓ leads (csv): 2 files readable',
      '✓ shop (http_json): answered HTTP 200 with 5 records',
      '- ads-other (google_ads): disabled, not checked (name it to check it)',
      '- ga4-other (ga4): disabled, not checked (name it to check it)',
      '- shop-wrong-path (http_json): disabled, not checked (name it to check it)',
    ]);
    expect(run.stdout.endsWith('\n8 connectors checked: 8 ok, 0 failed\n')).toBe(true);
  });

  it('an account configured but not visible to the credentials fails the check (google_ads)', async () => {
    const run = await kpi('check', 'ads-other');
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(`\
✗ ads-other (google_ads): account 1112223334 is not accessible with these credentials
  ┌────────────┬──────────────────────┬──────────┬──────────────────┬─────────┬────────────┬────────────┐
  │ customer   │ name                 │ currency │ time zone        │ manager │ configured │ accessible │
  ├────────────┼──────────────────────┼──────────┼──────────────────┼─────────┼────────────┼────────────┤
  │ 9876543210 │ Example Agency (MCC) │ USD      │ America/New_York │ yes     │ no         │ yes        │
  ├────────────┼──────────────────────┼──────────┼──────────────────┼─────────┼────────────┼────────────┤
  │ 1234567890 │ Example Inc (US)     │ USD      │ America/New_York │ no      │ no         │ yes        │
  ├────────────┼──────────────────────┼──────────┼──────────────────┼─────────┼────────────┼────────────┤
  │ 2345678901 │ Example GmbH (DE)    │ EUR      │ Europe/Berlin    │ no      │ no         │ yes        │
  ├────────────┼──────────────────────┼──────────┼──────────────────┼─────────┼────────────┼────────────┤
  │ 1112223334 │ -                    │ -        │ -                │ -       │ yes        │ no         │
  └────────────┴──────────────────────┴──────────┴──────────────────┴─────────┴────────────┴────────────┘
  config lines:
    customerIds:
      - "1234567890"
      - "2345678901"
    loginCustomerId: "9876543210"
`);
  });

  it('an account configured but not visible to the credentials fails the check (ga4)', async () => {
    const run = await kpi('check', 'ga4-other');
    expect(run.code).toBe(1);
    expect(run.stdout.split('\n')[0]).toBe('✗ ga4-other (ga4): account 555555555 is not accessible with these credentials');
    expect(run.stdout).toContain('│ 555555555 │ -                 │ -        │ -             │ -           │ yes        │ no         │');
  });

  it("a revoked key: credentials refused with the source's reason, exit 1", async () => {
    const key = sb.credentials.mailchimp.apiKey;
    sb.fakes.mailchimp.credentials.revoke(key);
    try {
      const run = await kpi('check', 'mc');
      expect(run.code).toBe(1);
      expect(run.stdout).toBe("✗ mc (mailchimp): credentials refused: Your API key may be invalid, or you've attempted to access the wrong datacenter.\n");
    } finally {
      sb.fakes.mailchimp.credentials.add(key);
    }
  });

  it('a revoked token is refused for Meta (HTTP 400 with code 190) and Google (a refused refresh token), each on its own line', async () => {
    const token = sb.credentials.meta.accessToken;
    const refresh = sb.credentials.google.oauthClient.refreshToken;
    sb.fakes.meta.credentials.revoke(token);
    sb.fakes.googleToken.settings.revokedRefreshTokens.push(refresh);
    try {
      const run = await kpi('check');
      expect(run.code).toBe(1);
      const verdicts = run.stdout.split('\n').filter((l) => /^[✓✗] /.test(l));
      expect(verdicts).toEqual([
        "✗ ga4 (ga4): credentials refused: Google refused the credentials (invalid_grant): re-authorize and update the secret named in the connector's auth block",
        "✗ gsc (search_console): credentials refused: Google refused the credentials (invalid_grant): re-authorize and update the secret named in the connector's auth block",
        "✗ ads (google_ads): credentials refused: Google refused the credentials (invalid_grant): re-authorize and update the secret named in the connector's auth block",
        '✗ meta (meta_ads): credentials refused: Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons. (code 190/460)',
        '✓ mc (mailchimp): credentials work; 1 list visible',
        '✓ sg (sendgrid): credentials work; 2 categories visible',
        '✓ leads (csv): 2 files readable',
        '✓ shop (http_json): answered HTTP 200 with 5 records',
      ]);
      expect(run.stdout.endsWith('\n8 connectors checked: 4 ok, 4 failed\n')).toBe(true);
    } finally {
      sb.fakes.meta.credentials.add(token);
      sb.fakes.googleToken.settings.revokedRefreshTokens.length = 0;
    }
  });

  it('a Google access token the API refuses (401) is credentials refused, with Google\'s message', async () => {
    sb.fakes.searchConsole.faults.push({ kind: 'revokedToken', times: 1 });
    const run = await kpi('check', 'gsc');
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(
      '✗ gsc (search_console): credentials refused: Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.\n',
    );
  });

  it('--json: the same facts for machines', async () => {
    const run = await kpi('check', 'ads-other', '--json');
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toEqual({
      ok: false,
      connectors: [
        {
          name: 'ads-other',
          type: 'google_ads',
          verdict: 'failed',
          kind: 'customer',
          accounts: [
            { id: '9876543210', name: 'Example Agency (MCC)', currency: 'USD', timeZone: 'America/New_York', details: { manager: 'yes' }, configured: false, accessible: true },
            { id: '1234567890', name: 'Example Inc (US)', currency: 'USD', timeZone: 'America/New_York', details: { manager: 'no' }, configured: false, accessible: true },
            { id: '2345678901', name: 'Example GmbH (DE)', currency: 'EUR', timeZone: 'Europe/Berlin', details: { manager: 'no' }, configured: false, accessible: true },
            { id: '1112223334', configured: true, accessible: false },
          ],
          problems: ['account 1112223334 is not accessible with these credentials'],
          notes: [],
          configLines: { customerIds: ['1234567890', '2345678901'], loginCustomerId: '9876543210' },
        },
      ],
    });

    const refused = await (async () => {
      sb.fakes.sendgrid.credentials.revoke(sb.credentials.sendgrid.apiKey);
      try {
        return await kpi('check', 'sg', '--json');
      } finally {
        sb.fakes.sendgrid.credentials.add(sb.credentials.sendgrid.apiKey);
      }
    })();
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toEqual({ ok: false, connectors: [{ name: 'sg', type: 'sendgrid', verdict: 'failed', error: 'credentials refused: authorization required' }] });
  });

  it('exit 2 for a connector the config does not name, 3 for a config that is not valid', async () => {
    const unknown = await kpi('check', 'nope');
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toBe('unknown connector "nope"; configured: ga4, gsc, ads, meta, mc, sg, leads, shop, ads-other, ga4-other, shop-wrong-path\n');

    const invalid = await runCli(['check', '--config', 'bad.yaml'], { env, cwd: project.dir });
    expect(invalid.code).toBe(3);
    expect(invalid.stdout).toBe('');
    expect(invalid.stderr).toMatch(/^configuration error:\n\S*bad\.yaml:2:5 connectors\[0\]\.propertyIds: required/);
  });
});
