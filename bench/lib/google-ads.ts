import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../../src/config/index.ts';
import type { AnyConnector, ConnectorConfig } from '../../src/connectors/index.ts';
import type { DateRange } from '../../src/core/dates.ts';
import { googleAdsConnector } from '../../src/connectors/google-ads/connector.ts';
import type { Logger } from '../../src/core/log.ts';
import {
  CredentialStore,
  createDataset,
  GOOGLE_ADS_DEVELOPER_TOKEN,
  GOOGLE_STATIC_TOKEN,
  SANDBOX_OAUTH_CLIENT,
  startGoogleAdsFake,
  startGoogleTokenFake,
  type Dataset,
} from '../../src/sandbox/index.ts';

/**
 * A Google Ads source for the ingest benchmarks: the sandbox fake over a data set with
 * `campaigns` extra campaigns (two ad networks each, five metrics per row), and in front of
 * it a proxy that can record the fake's answers and replay them byte for byte, so a timed
 * sync pays for HTTP, JSON, validation, normalising and writing, but not for the fake
 * generating its synthetic data.
 */

export interface AdsSourceOptions {
  seed?: number;
  endDate?: string;
  days: number;
  campaigns: number;
}

export interface ReplayProxy {
  url: string;
  mode: 'record' | 'replay' | 'pass';
  stats: { hits: number; misses: number; bytes: number; entries: number };
  close(): Promise<void>;
}

/** Records what `target` answers (mode record), answers from the recording (mode replay), or just forwards (pass). */
export async function startReplayProxy(target: string): Promise<ReplayProxy> {
  const cache = new Map<string, { status: number; type: string; body: Buffer }>();
  const stats = { hits: 0, misses: 0, bytes: 0, entries: 0 };
  const proxy: ReplayProxy = { url: '', mode: 'pass', stats, close: async () => {} };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const key = `${req.method} ${req.url}\n${body.toString('utf8')}`;
      const send = (r: { status: number; type: string; body: Buffer }) => {
        res.writeHead(r.status, { 'content-type': r.type, 'content-length': String(r.body.length) });
        res.end(r.body);
      };
      const cached = proxy.mode === 'replay' ? cache.get(key) : undefined;
      if (cached) {
        stats.hits++;
        send(cached);
        return;
      }
      if (proxy.mode === 'replay') stats.misses++;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
      fetch(`${target}${req.url}`, { method: req.method ?? 'GET', headers, ...(body.length > 0 ? { body } : {}) })
        .then(async (r) => {
          const answer = { status: r.status, type: r.headers.get('content-type') ?? 'application/json', body: Buffer.from(await r.arrayBuffer()) };
          if (proxy.mode === 'record' && r.status === 200) {
            cache.set(key, answer);
            stats.entries = cache.size;
            stats.bytes += answer.body.length;
          }
          send(answer);
        })
        .catch((err: Error) => {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(`replay proxy: ${err.message}`);
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return proxy;
}

export interface AdsSource {
  dataset: Dataset;
  /** The fake itself. */
  fakeUrl: string;
  tokenUrl: string;
  /** Every day of the data set. */
  window: DateRange;
  close(): Promise<void>;
}

export async function startAdsSource(options: AdsSourceOptions): Promise<AdsSource> {
  const dataset = createDataset({ seed: options.seed ?? 2024, endDate: options.endDate ?? '2025-06-30', days: options.days, campaigns: options.campaigns, memo: false });
  const credentials = new CredentialStore([GOOGLE_STATIC_TOKEN]);
  const token = await startGoogleTokenFake({ credentials });
  const fake = await startGoogleAdsFake(dataset, { credentials });
  return {
    dataset,
    fakeUrl: fake.url,
    tokenUrl: token.tokenUrl,
    window: { from: dataset.startDate, to: dataset.endDate },
    close: async () => void (await Promise.all([fake.close(), token.close()])),
  };
}

/**
 * The connector's config file as ops would write it, pointed at `baseUrl` (the fake or the
 * proxy): the YAML, and the environment its ${env:…} and ${var:…} references read.
 */
export function adsConfigFile(baseUrl: string, tokenUrl: string, name = 'gads'): { yaml: string; env: Record<string, string> } {
  const yaml = `
connectors:
  - name: ${name}
    type: google_ads
    customerIds: ["123-456-7890", "234-567-8901"]
    loginCustomerId: "987-654-3210"
    developerToken: "\${env:ADS_DEVELOPER_TOKEN}"
    baseUrl: "\${var:ADS_URL}"
    auth: { type: oauth, clientId: ${SANDBOX_OAUTH_CLIENT.clientId}, clientSecret: "\${env:G_CLIENT_SECRET}", refreshToken: "\${env:G_REFRESH_TOKEN}", tokenUrl: "\${var:TOKEN_URL}" }
`;
  const env = {
    ADS_DEVELOPER_TOKEN: GOOGLE_ADS_DEVELOPER_TOKEN,
    ADS_URL: baseUrl,
    G_CLIENT_SECRET: SANDBOX_OAUTH_CLIENT.clientSecret,
    G_REFRESH_TOKEN: SANDBOX_OAUTH_CLIENT.refreshToken,
    TOKEN_URL: tokenUrl,
  };
  return { yaml, env };
}

/** The connector's config, parsed from that file. */
export function adsConfig(baseUrl: string, tokenUrl: string, name = 'gads'): ConnectorConfig {
  const { yaml, env } = adsConfigFile(baseUrl, tokenUrl, name);
  return parseConfig(yaml, 'bench.yaml', { env }).connectors[0]!;
}

export const adsConnector = (): AnyConnector => googleAdsConnector;

/**
 * Reads the whole window through the connector's own reader (same requests as a sync makes)
 * and nothing else, so a recording proxy in front of the fake holds every answer afterwards.
 * Returns the number of source records read.
 */
export async function readAll(connector: AnyConnector, config: ConnectorConfig, window: DateRange, log: Logger): Promise<number> {
  const signal = new AbortController().signal;
  const reader = await connector.open(config, { log, signal, configDir: process.cwd() });
  let records = 0;
  try {
    for (const stream of connector.streams(config)) {
      await reader.describe(stream);
      for await (const page of reader.read(stream, window, { log, signal, validDates: window, state: undefined, flag: () => {}, learn: () => {} })) records += page.length;
    }
  } finally {
    await reader.close?.();
  }
  return records;
}
