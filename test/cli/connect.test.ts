import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.ts';
import { createDataset, startGoogleTokenFake, startMetaFake, META_APP, META_SHORT_LIVED_TOKEN, SANDBOX_OAUTH_CLIENT, type FakeServer, type GoogleTokenFake, type MetaSettings } from '../../src/sandbox/index.ts';
import { runCli, tempProject } from '../helpers/cli.ts';

/**
 * `kpi connect google` and `kpi connect meta` against the sandbox's OAuth fakes. The Google
 * test plays the browser: it reads the URL the command prints, asks the fake authorization
 * endpoint (which consents, or denies) and follows its 302 to the command's loopback listener.
 */

const SCOPES = ['https://www.googleapis.com/auth/analytics.readonly', 'https://www.googleapis.com/auth/webmasters.readonly', 'https://www.googleapis.com/auth/adwords'];

interface Running {
  /** What the command has printed so far. */
  out(): { stdout: string; stderr: string };
  done: Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Starts the CLI without waiting for it: the test answers its sign-in meanwhile. */
function startCli(argv: string[], env: NodeJS.ProcessEnv, cwd: string): Running {
  let stdout = '';
  let stderr = '';
  const done = main(argv, {
    stdout: { write: (s: string) => ((stdout += s), true) },
    stderr: { write: (s: string) => ((stderr += s), true) },
    env,
    cwd,
  }).then((code) => ({ code, stdout, stderr }));
  return { out: () => ({ stdout, stderr }), done };
}

/** The sign-in URL, once printed; fails with the output if the command ends first. */
async function printedUrl(run: Running): Promise<URL> {
  let ended = false;
  void run.done.then(() => (ended = true));
  for (let i = 0; i < 2000; i++) {
    const m = /^ {2}(http\S+)$/m.exec(run.out().stdout);
    if (m?.[1]) return new URL(m[1]);
    if (ended) throw new Error(`the command ended before printing a URL:\n${JSON.stringify(await run.done)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no URL printed: ${JSON.stringify(run.out())}`);
}

/** What a browser does: the authorization endpoint's answer must be a redirect to the loopback. */
async function consent(url: URL): Promise<URL> {
  const res = await fetch(url, { redirect: 'manual' });
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get('location')!);
  expect(location.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  return location;
}

describe('kpi connect google', () => {
  let google: GoogleTokenFake;
  let project: { dir: string; cleanup(): void };
  const env = { G_ID: SANDBOX_OAUTH_CLIENT.clientId, G_SECRET: SANDBOX_OAUTH_CLIENT.clientSecret };

  beforeAll(async () => {
    google = await startGoogleTokenFake();
    const oauth = `{ type: oauth, clientId: "\${env:G_ID}", clientSecret: "\${env:G_SECRET}", refreshToken: "\${env:GOOGLE_REFRESH_TOKEN}", tokenUrl: "${google.tokenUrl}" }`;
    project = tempProject({
      'kpi.yaml': `
reporting: { timezone: Europe/Berlin, currency: EUR }
dataDir: ./state
connectors:
  - { name: ga4, type: ga4, propertyIds: ["123456789"], auth: ${oauth} }
  - { name: gsc, type: search_console, siteUrls: ["sc-domain:example.com"], auth: ${oauth} }
  - { name: ads, type: google_ads, customerIds: ["1234567890"], developerToken: "\${env:ADS_DEV}", auth: ${oauth} }
  - { name: other, type: ga4, propertyIds: ["5"], auth: { type: service_account, keyJson: "\${env:SA}" } }
`,
    });
  });

  afterAll(async () => {
    await google.close();
    project.cleanup();
  });

  beforeEach(() => {
    google.settings.consent = 'allow';
  });

  const connect = (...extra: string[]) => startCli(['connect', 'google', '--config', 'kpi.yaml', '--auth-url', google.authUrl, ...extra], env, project.dir);

  it('signs in with PKCE and the configured scopes, and writes the refresh token to a new env file with mode 0600', async () => {
    const envFile = path.join(project.dir, 'new.env');
    const run = connect('--env-file', 'new.env', '--testing');
    const url = await printedUrl(run);
    expect(url.origin + url.pathname).toBe(google.authUrl);
    expect(url.searchParams.get('scope')!.split(' ').sort()).toEqual([...SCOPES].sort());
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('access_type')).toBe('offline');
    expect(url.searchParams.get('state')).toMatch(/^[\w-]{40,}$/);
    expect(url.searchParams.get('redirect_uri')).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const back = await consent(url);
    const page = await fetch(back);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Access granted');
    const result = await run.done;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);

    // The fake checked the verifier against the challenge; the logged exchange shows it was sent.
    const grant = google.grants.at(-1)!;
    const exchange = google.requests.find((r) => (r.body as Record<string, string> | undefined)?.grant_type === 'authorization_code')!;
    const verifier = (exchange.body as Record<string, string>).code_verifier!;
    expect(createHash('sha256').update(verifier).digest('base64url')).toBe(grant.codeChallenge);
    expect(exchange.status).toBe(200);

    const token = google.settings.clients.at(-1)!.refreshToken;
    expect(token).not.toBe(SANDBOX_OAUTH_CLIENT.refreshToken);
    expect(result.stdout + result.stderr).not.toContain(token);
    const text = readFileSync(envFile, 'utf8');
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^# GOOGLE_REFRESH_TOKEN: obtained by kpi connect google on \S+Z; stops working on \S+Z \(the OAuth consent screen is in Testing\)$/);
    expect(lines[1]).toBe(`GOOGLE_REFRESH_TOKEN=${token}`);
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    expect(result.stdout).toContain('Created new.env: GOOGLE_REFRESH_TOKEN set (file mode 0600).');

    // The token is a real one: the token endpoint refreshes with it.
    const refreshed = await fetch(google.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'refresh_token', client_id: env.G_ID, client_secret: env.G_SECRET, refresh_token: token }) });
    expect(refreshed.status).toBe(200);

    // When it was obtained, and its 7-day end, are recorded for the token_expiry rule, without the token.
    const records = readFileSync(path.join(project.dir, 'state', 'credentials.json'), 'utf8');
    expect(records).not.toContain(token);
    const [record] = Object.values((JSON.parse(records) as { tokens: Record<string, { obtainedAt: string; expiresAt: string; variable: string }> }).tokens);
    expect(record!.variable).toBe('GOOGLE_REFRESH_TOKEN');
    expect(Date.parse(record!.expiresAt) - Date.parse(record!.obtainedAt)).toBe(7 * 86_400_000);
  });

  it('updates the variable in an existing env file in place, keeping its other lines and its mode', async () => {
    const envFile = path.join(project.dir, 'existing.env');
    writeFileSync(envFile, 'G_ID=abc\n# GOOGLE_REFRESH_TOKEN: obtained by kpi connect google on 2020-01-01T00:00:00.000Z\nexport GOOGLE_REFRESH_TOKEN=1//old-token\nOTHER="x y"\n');
    chmodSync(envFile, 0o640);
    const run = connect('--env-file', 'existing.env');
    const back = await consent(await printedUrl(run));
    expect((await fetch(back)).status).toBe(200);
    const result = await run.done;
    expect(result.code).toBe(0);
    const token = google.settings.clients.at(-1)!.refreshToken;
    const lines = readFileSync(envFile, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe('G_ID=abc');
    expect(lines[1]).toMatch(/^# GOOGLE_REFRESH_TOKEN: obtained by kpi connect google on \S+Z$/);
    expect(lines[2]).toBe(`export GOOGLE_REFRESH_TOKEN=${token}`); // the line keeps its export, so a shell that sources the file still exports it
    expect(lines[3]).toBe('OTHER="x y"');
    expect(lines).toHaveLength(4);
    expect(statSync(envFile).mode & 0o777).toBe(0o640);
    expect(result.stderr).toContain('existing.env can be read by other users than its owner; chmod 600 existing.env');
    expect(result.stdout + result.stderr).not.toContain(token);
  });

  it('prints NAME=token only with --print', async () => {
    const run = connect('--print', 'ga4');
    const back = await consent(await printedUrl(run));
    expect((await fetch(back)).status).toBe(200);
    const result = await run.done;
    expect(result.code).toBe(0);
    const token = google.settings.clients.at(-1)!.refreshToken;
    expect(result.stdout.split('\n').filter((l) => l.includes(token))).toEqual([`GOOGLE_REFRESH_TOKEN=${token}`]);
    expect(result.stderr).not.toContain(token);
  });

  it('refuses a redirect whose state is not the one it sent, and writes nothing', async () => {
    const envFile = path.join(project.dir, 'state-mismatch.env');
    const run = connect('--env-file', 'state-mismatch.env');
    const back = await consent(await printedUrl(run));
    back.searchParams.set('state', 'forged-state');
    const page = await fetch(back);
    expect(page.status).toBe(400);
    const result = await run.done;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('refused the redirect: its state does not match the sign-in this command started');
    expect(existsSync(envFile)).toBe(false);
    // The code was never exchanged.
    expect(google.grants.at(-1)!.used).toBe(false);
  });

  it('ends with exit 1 and says so when access is denied at the consent screen', async () => {
    google.settings.consent = 'deny';
    const envFile = path.join(project.dir, 'denied.env');
    const run = connect('--env-file', 'denied.env');
    const back = await consent(await printedUrl(run));
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(await (await fetch(back)).text()).toContain('Access not granted');
    const result = await run.done;
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('error: Google sign-in did not grant access (access was denied at the consent screen); nothing was written. Run kpi connect google again and choose Allow\n');
    expect(existsSync(envFile)).toBe(false);
  });

  it('asks where the token goes, and names an unset client id variable', async () => {
    const nowhere = await runCli(['connect', 'google', '--config', 'kpi.yaml'], { env, cwd: project.dir });
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toContain('--env-file PATH');
    const noId = await runCli(['connect', 'google', '--config', 'kpi.yaml', '--print'], { env: {}, cwd: project.dir });
    expect(noId.code).toBe(3);
    expect(noId.stderr).toContain("environment variable G_ID is not set (ga4's auth.clientId is ${env:G_ID}); set it, or pass --client-id");
    const sa = await runCli(['connect', 'google', 'other', '--config', 'kpi.yaml', '--print'], { env, cwd: project.dir });
    expect(sa.code).toBe(3);
    expect(sa.stderr).toContain('other (connectors[3] in kpi.yaml) is not a Google connector with auth type oauth');
  });
});

describe('kpi connect meta', () => {
  let meta: FakeServer<MetaSettings>;
  let project: { dir: string; cleanup(): void };
  const env = { META_APP_ID: META_APP.id, META_APP_SECRET: META_APP.secret, META_SHORT_LIVED_TOKEN };

  beforeAll(async () => {
    meta = await startMetaFake(createDataset({ seed: 3, endDate: '2024-03-31' }));
    project = tempProject({
      'kpi.yaml': `
reporting: { timezone: Europe/Berlin, currency: EUR }
dataDir: ./state
connectors:
  - { name: meta, type: meta_ads, adAccountIds: ["act_1001"], accessToken: "\${env:META_ACCESS_TOKEN}", baseUrl: "${meta.url}" }
`,
    });
  });

  afterAll(async () => {
    await meta.close();
    project.cleanup();
  });

  it('exchanges the short-lived token for a long-lived one, shows its expiry and writes it to the env file', async () => {
    const run = await runCli(['connect', 'meta', '--config', 'kpi.yaml', '--env-file', 'meta.env'], { env, cwd: project.dir });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const exchange = meta.requests.find((r) => r.path.endsWith('/oauth/access_token'))!;
    expect(exchange.path).toBe('/v23.0/oauth/access_token');
    expect(exchange.query).toMatchObject({ grant_type: 'fb_exchange_token', client_id: META_APP.id, client_secret: META_APP.secret, fb_exchange_token: META_SHORT_LIVED_TOKEN });
    const [token, info] = Object.entries(meta.settings.tokens).find(([t]) => t.startsWith('EAAB-sandbox-long-lived-'))!;
    const expires = new Date(info.expiresAt * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const dataAccess = new Date(info.dataAccessExpiresAt * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    expect(run.stdout).toContain('Exchanged the short-lived token for a long-lived one for meta.\n');
    // 5 183 944 s is 59.99 days; the printed date may differ from the fake's by the second the exchange took.
    expect(run.stdout).toMatch(/It expires in 60 days \(expires_in 5183944 s\), on \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\.\n/);
    const printed = /on (\S+Z)\.\n/.exec(run.stdout)![1]!;
    expect(Math.abs(Date.parse(printed) - Date.parse(expires))).toBeLessThanOrEqual(2000);
    expect(run.stdout).toContain(`Its access to data ends on ${dataAccess} unless someone uses the app again before then.`);
    expect(run.stdout).toContain('Created meta.env: META_ACCESS_TOKEN set (file mode 0600).');
    expect(run.stdout + run.stderr).not.toContain(token);
    expect(run.stdout + run.stderr).not.toContain(META_APP.secret);
    const lines = readFileSync(path.join(project.dir, 'meta.env'), 'utf8').trimEnd().split('\n');
    expect(lines[1]).toBe(`META_ACCESS_TOKEN=${token}`);
    expect(statSync(path.join(project.dir, 'meta.env')).mode & 0o777).toBe(0o600);
    // The long-lived token reads the ad account.
    const account = await fetch(`${meta.url}/v23.0/act_1001?access_token=${encodeURIComponent(token)}`);
    expect(account.status).toBe(200);
  });

  it('fails with exit 1 and Meta\'s reason on a wrong app secret, writing nothing', async () => {
    const run = await runCli(['connect', 'meta', '--config', 'kpi.yaml', '--env-file', 'wrong.env'], { env: { ...env, META_APP_SECRET: 'not-the-secret' }, cwd: project.dir });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Meta refused the token exchange');
    expect(run.stderr).toContain('Error validating client secret.');
    expect(existsSync(path.join(project.dir, 'wrong.env'))).toBe(false);
  });
});
