import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { inUnitTier } from '../helpers/tier.ts';
import { describe, expect, it } from 'vitest';
import { connectorCatalog, connectorFor, connectorRegistry, type AnyConnector } from '../../src/connectors/index.ts';
import { isConfigError } from '../../src/core/errors.ts';
import { tempProject } from '../helpers/cli.ts';
import { testDatabaseUrlWithSchema } from '../helpers/warehouse.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('connector registry', () => {
  it('loads each built-in type on first use, as the connector of that type', async () => {
    for (const type of Object.keys(connectorRegistry)) {
      const connector = await connectorFor(type);
      expect(connector.type).toBe(type);
      expect(typeof connector.open).toBe('function');
    }
  });

  it('each built-in type can be checked: its folder has a discover function (kpi check)', async () => {
    for (const type of Object.keys(connectorRegistry)) {
      expect(typeof (await connectorFor(type)).discover, type).toBe('function');
    }
  });

  it('an unknown type, or a name Object.prototype happens to have, is a ConfigError', async () => {
    for (const type of ['pinterest_ads', 'constructor', 'toString', '__proto__']) {
      const err = await connectorFor(type).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isConfigError(err), `${type}: ${String(err)}`).toBe(true);
    }
  });

  it('a registry given by the caller may hold connectors as well as loaders', async () => {
    const fake: AnyConnector = { type: 'csv', defaultLookbackDays: () => 0, streams: () => ['a'], open: () => ({}) as never };
    expect(await connectorFor('csv', { csv: fake })).toBe(fake);
    expect(await connectorFor('csv', { csv: async () => fake })).toBe(fake);
  });

  it("each catalog entry's schema is the one its implementation was defined with, for the type it is listed under", async () => {
    for (const [type, entry] of Object.entries(connectorCatalog)) {
      const connector = await entry.load();
      expect(connector.type).toBe(type);
      expect('configSchema' in connector && connector.configSchema).toBe(entry.configSchema);
      const wrongType = entry.configSchema.safeParse({ name: 'x', type: type === 'csv' ? 'ga4' : 'csv' });
      expect(wrongType.error?.issues.some((i) => i.path.join('.') === 'type'), type).toBe(true);
    }
  });

  // A process of its own: not in the unit tier.
  it.skipIf(inUnitTier)('a `kpi sync` of a csv connector loads the csv implementation and none of the others, though the config names google_ads too', async () => {
    const db = await testDatabaseUrlWithSchema();
    const project = tempProject({
      'kpi.yaml': [
        'connectors:',
        '  - { name: leads, type: csv, path: exports/leads.csv, date: { column: Day }, metrics: { leads: Leads }, startDate: 2026-01-01 }',
        '  - { name: ads, type: google_ads, customerIds: ["1234567890"], developerToken: t, auth: { type: oauth, clientId: a, clientSecret: b, refreshToken: c } }',
        '',
      ].join('\n'),
    });
    try {
      mkdirSync(path.join(project.dir, 'exports'));
      writeFileSync(path.join(project.dir, 'exports/leads.csv'), 'Day,Leads\n2026-01-01,3\n');
      const { stdout, stderr } = await promisify(execFile)(
        process.execPath,
        ['--import', path.join(root, 'test/fixtures/trace-imports.mjs'), path.join(root, 'bin/kpi.js'), 'sync', 'leads', '--config', 'kpi.yaml'],
        { cwd: project.dir, env: { ...process.env, DATABASE_URL: db.url }, maxBuffer: 64 * 1024 * 1024 },
      );
      expect(stdout).toContain('leads: succeeded');
      const loaded = new Set(stderr.split('\n').filter((l) => l.startsWith('resolved ')).map((l) => l.slice('resolved '.length)));
      const implementations = [...loaded].filter((url) => /\/src\/connectors\/(?!shared\/)[a-z-]+\/connector\.ts$/.test(url)).map((url) => url.slice(url.indexOf('/src/') + 1));
      expect(implementations).toEqual(['src/connectors/csv/connector.ts']);
      expect([...loaded].filter((url) => /googleapis|google-auth-library/.test(url))).toEqual([]);
    } finally {
      project.cleanup();
      await db.drop();
    }
  }, 60_000);
});
