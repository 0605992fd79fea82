import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DateTime } from 'luxon';
import { createPipelineHandlers, shutdownSignal, startApp } from '../app.ts';
import type { Config } from '../config/index.ts';
import type { Logger } from '../core/log.ts';
import type { Warehouse } from '../warehouse/index.ts';
import { errorMessage } from '../core/errors.ts';
import { memoryGate, runCycle, type PipelineHandlers } from '../jobs/index.ts';
import { createLogger } from '../core/log.ts';
import { buildReport } from '../metrics/index.ts';
import { listAlertStates } from '../alerts/index.ts';
import { buildDigest, digestFiles } from '../alerts/index.ts';
import { createDataset, startCatcher, startSandbox, writeCrmExport, type Catcher, type Sandbox } from '../sandbox/index.ts';
import { redactSecrets } from '../core/secrets.ts';
import { writableDir } from './args.ts';
import { loadCheckedConfig, openConfiguredWarehouse } from './context.ts';
import { ExitCode, line, type CliIo } from './io.ts';
import { renderReport } from './report.ts';
import { cycleTable } from './run.ts';
import { formatDuration } from './runs.ts';

export interface DemoOptions {
  /** The last day of the synthetic data, and "today" for the pipeline. */
  asOf?: string;
  /** Where the embedded database, the caught messages and the digest go. */
  dataDir?: string;
  /** Start from an empty database. */
  fresh?: boolean;
  seed?: number;
  /** Then serve the web console on 127.0.0.1 (and sync on the schedules, against the sandbox) until SIGINT or SIGTERM. */
  serve?: boolean;
  /** The console's port with `serve`; false or absent: $KPI_PORT, then server.port. */
  port?: number | false;
}

const DEMO_SEED = 42;
const DEMO_DAYS = 90;

/** The variables config/demo.yaml reads: where each fake listens and the credentials it accepts. */
export function sandboxEnv(sandbox: Sandbox, catcher: Catcher, dates: { start: string; asOf: string; crmDir: string }): Record<string, string> {
  const { urls, credentials: c } = sandbox;
  const asOf = DateTime.fromISO(dates.asOf);
  return {
    SANDBOX_GOOGLE_TOKEN_URL: c.google.tokenUrl,
    SANDBOX_GA4_URL: urls.ga4,
    SANDBOX_SEARCH_CONSOLE_URL: urls.searchConsole,
    SANDBOX_GOOGLE_ADS_URL: urls.googleAds,
    SANDBOX_META_URL: urls.meta,
    SANDBOX_MAILCHIMP_URL: urls.mailchimp,
    SANDBOX_SENDGRID_URL: urls.sendgrid,
    SANDBOX_SHOP_URL: urls.shop,
    SANDBOX_HUBSPOT_URL: urls.hubspot,
    SANDBOX_LINKEDIN_URL: urls.linkedin,
    SANDBOX_TIKTOK_URL: urls.tiktok,
    SANDBOX_KLAVIYO_URL: urls.klaviyo,
    SANDBOX_SMTP_HOST: catcher.smtp.host,
    SANDBOX_SMTP_PORT: String(catcher.smtp.port),
    DEMO_START_DATE: dates.start,
    DEMO_CRM_DIR: dates.crmDir,
    // Goals run over the last two months of data and a month ahead, so they have a pace to judge.
    DEMO_GOAL_START: asOf.minus({ days: 59 }).toISODate()!,
    DEMO_GOAL_DEADLINE: asOf.plus({ days: 30 }).toISODate()!,
    DEMO_GOOGLE_CLIENT_ID: c.google.oauthClient.clientId,
    DEMO_GOOGLE_CLIENT_SECRET: c.google.oauthClient.clientSecret,
    DEMO_GOOGLE_REFRESH_TOKEN: c.google.oauthClient.refreshToken,
    DEMO_ADS_DEVELOPER_TOKEN: c.googleAds.developerToken,
    DEMO_ADS_LOGIN_CUSTOMER_ID: c.googleAds.loginCustomerId,
    DEMO_META_TOKEN: c.meta.accessToken,
    DEMO_MAILCHIMP_KEY: c.mailchimp.apiKey,
    DEMO_SENDGRID_KEY: c.sendgrid.apiKey,
    DEMO_SHOP_TOKEN: c.shop.accessToken,
    DEMO_HUBSPOT_TOKEN: c.hubspot.accessToken,
    DEMO_LINKEDIN_CLIENT_ID: c.linkedin.clientId,
    DEMO_LINKEDIN_CLIENT_SECRET: c.linkedin.clientSecret,
    DEMO_LINKEDIN_REFRESH_TOKEN: c.linkedin.refreshToken,
    DEMO_TIKTOK_TOKEN: c.tiktok.accessToken,
    DEMO_KLAVIYO_KEY: c.klaviyo.apiKey,
    DEMO_SLACK_WEBHOOK: catcher.slackUrl,
  };
}

/** Prints each connector's run as it finishes, so a newcomer sees the pipeline move. */
function withProgress(handlers: PipelineHandlers, io: CliIo): PipelineHandlers {
  return {
    ...handlers,
    async sync(job, ctx) {
      const started = Date.now();
      const out = await handlers.sync(job, ctx);
      const r = out.run;
      const what = r ? `${r.status}: ${r.rows_read} read, ${r.rows_written} written, ${r.rows_rejected} quarantined` : 'done';
      line(io, `  ${job.connector.padEnd(16)} ${what} (${formatDuration(Date.now() - started)})${r?.error ? ` - ${redactSecrets(r.error)}` : ''}`);
      return out;
    },
    async recompute(range) {
      const started = Date.now();
      await handlers.recompute(range);
      line(io, `  recomputed KPIs for ${range.from}..${range.to} (${formatDuration(Date.now() - started)})`);
    },
  };
}

/** `kpi demo --serve`: the service on the demo's database and sandbox, with its console, until Ctrl-C. */
async function serveConsole(io: CliIo, options: { config: Config; warehouse: Warehouse; env: NodeJS.ProcessEnv; log: Logger; port: number | false | undefined }): Promise<void> {
  const fromEnv = options.env.KPI_PORT && /^\d+$/.test(options.env.KPI_PORT) ? Number(options.env.KPI_PORT) : undefined;
  const port = typeof options.port === 'number' ? options.port : (fromEnv ?? (options.config.server.port === false ? 9464 : options.config.server.port));
  const app = await startApp({ config: options.config, warehouse: options.warehouse, env: options.env, log: options.log, http: { port, host: '127.0.0.1' } });
  try {
    line(io, '');
    line(io, `The console: http://127.0.0.1:${app.port}/console/ (serving until Ctrl-C; the connectors keep syncing from the sandbox on their schedules)`);
    const signal = await shutdownSignal(['SIGINT', 'SIGTERM']);
    line(io, `${signal} received; stopping`);
  } finally {
    await app.stop(5_000);
  }
}

/**
 * `kpi demo`: the real pipeline on embedded defaults (PGlite, the in-process runner) against
 * the sandbox's fake source APIs, with Slack and email caught into the data folder.
 */
export async function demoCommand(io: CliIo, configFile: string, options: DemoOptions): Promise<number> {
  const dataDir = writableDir('--data', options.dataDir ?? 'data', io.cwd);
  const started = Date.now();
  const asOf = options.asOf ?? DateTime.now().setZone('Europe/Berlin').toISODate()!;
  // Google Ads stops serving yesterday, so the anomaly rule has something to find today.
  const anomalyDate = DateTime.fromISO(asOf).minus({ days: 1 }).toISODate()!;
  const dataset = createDataset({ seed: options.seed ?? DEMO_SEED, endDate: asOf, days: DEMO_DAYS, anomalyDate });
  const crmDir = path.join(dataDir, 'sandbox', 'crm');
  writeCrmExport(dataset, crmDir);

  line(io, `Starting the sandbox: fake GA4, Search Console, Google Ads, Meta, LinkedIn Ads, TikTok Ads, Mailchimp, SendGrid, Klaviyo, HubSpot and shop APIs on 127.0.0.1,`);
  line(io, `with ${DEMO_DAYS} days of synthetic data up to ${asOf}.`);
  const sandbox = await startSandbox(dataset);
  const catcher = await startCatcher(path.join(dataDir, 'outbox'));
  try {
    // The demo always runs on embedded defaults, whatever the shell has set.
    const env: NodeJS.ProcessEnv = { ...io.env, ...sandboxEnv(sandbox, catcher, { start: dataset.startDate, asOf, crmDir }) };
    delete env.DATABASE_URL;
    delete env.REDIS_URL;
    const demoIo: CliIo = { ...io, env };
    const config = { ...loadCheckedConfig(configFile, demoIo), dataDir };
    // Emptied under the folder's lock: a kpi start serving this folder keeps its database.
    const wh = await openConfiguredWarehouse(config, demoIo, options.fresh ? { fresh: true } : {});
    const now = () => DateTime.fromISO(`${asOf}T21:00:00`, { zone: config.reporting.timezone }).toJSDate();
    const log = createLogger({ level: env.LOG_LEVEL ?? 'error', destination: io.stderr as NodeJS.WritableStream });
    try {
      line(io, `Warehouse: ${wh.kind} in ${path.relative(io.cwd, wh.location) || wh.location}`);
      line(io, '');
      line(io, 'Syncing every connector:');
      const handlers = withProgress(createPipelineHandlers({ config, db: wh.db, log, now }), io);
      const cycle = await runCycle({ connectors: config.connectors, handlers, gate: memoryGate(), log, now });
      line(io, '');
      line(io, cycleTable(cycle));
      const failed = cycle.syncs.filter((s) => s.outcome && !s.outcome.ok).length;
      line(io, `${cycle.syncs.length - failed} of ${cycle.syncs.length} connectors synced${failed ? `, ${failed} failed` : ''}`);
      if (cycle.downstreamError !== undefined) line(io, `recompute/evaluate/notify failed: ${redactSecrets(errorMessage(cycle.downstreamError))}`);

      line(io, '');
      const report = await buildReport(wh.db, config, { grain: 'week', period: 'last', asOf });
      line(io, renderReport(report));

      line(io, '');
      const states = await listAlertStates(wh.db, config);
      const firing = states.filter((s) => s.state === 'firing');
      line(io, `Alerts: ${firing.length} firing of ${states.length} series watched by ${config.alerts.length} rules`);
      for (const s of firing) line(io, `  [FIRING] ${s.rule}${s.instance ? ` (${s.instance})` : ''}: ${s.reason}`);
      const caught = catcher.received.map((m) => path.relative(io.cwd, m.file) || m.file);
      line(
        io,
        caught.length > 0
          ? `Messages sent (Slack and email, caught locally): ${caught.length}, in ${path.relative(io.cwd, path.join(dataDir, 'outbox')) || dataDir}`
          : 'Messages sent: none this run (an alert that was already notified is not sent again)',
      );
      for (const file of caught) line(io, `  ${file}`);

      const digestDir = path.join(dataDir, 'digest');
      const files = digestFiles(await buildDigest(wh.db, config, now()));
      mkdirSync(digestDir, { recursive: true });
      writeFileSync(path.join(digestDir, 'digest.html'), files.html);
      writeFileSync(path.join(digestDir, 'digest.txt'), files.text);
      for (const image of files.images) writeFileSync(path.join(digestDir, image.filename), image.content);
      line(io, '');
      line(io, `Weekly digest: ${path.relative(io.cwd, path.join(digestDir, 'digest.html'))} (${files.images.length} sparklines)`);

      line(io, '');
      line(io, `Done in ${formatDuration(Date.now() - started)}. Run it again: the second run only re-reads each source's lookback and writes nothing that was already right.`);
      if (options.serve) await serveConsole(io, { config, warehouse: wh, env, log, port: options.port });
      return cycle.ok ? ExitCode.ok : ExitCode.failed;
    } finally {
      await wh.close();
    }
  } finally {
    await catcher.close();
    await sandbox.close();
  }
}
