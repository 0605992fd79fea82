import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/index.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { knownSecrets, redactSecrets } from '../../src/core/secrets.ts';

const brokenDir = path.resolve(__dirname, '../fixtures/config/broken');
const broken = readdirSync(brokenDir).filter((f) => f.endsWith('.yaml')).sort();

function loadError(file: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    loadConfig(file, { env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`${file} loaded without error`);
}

describe('broken configs', () => {
  it('has at least 20 fixtures', () => {
    expect(broken.length).toBeGreaterThanOrEqual(20);
  });

  it.each(broken)('%s names the file, the line and the path of the problem', (name) => {
    const file = path.join(brokenDir, name);
    const expected = /^# expect: (.*)$/m.exec(readFileSync(file, 'utf8'))![1]!;
    const err = loadError(file);
    const relative = path.relative(process.cwd(), file);
    const line = err.message.split('\n').find((l) => l.includes(expected));
    expect(line, `message was:\n${err.message}`).toBeDefined();
    // file:line[:col] first, then the path and what was expected.
    expect(line!.startsWith(`${relative}:`)).toBe(true);
    expect(line).toMatch(new RegExp(`^${relative.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+(:\\d+)?[: ]`));
  });
});

describe('config loading', () => {
  const good = `
reporting: { currency: EUR, timezone: Europe/Berlin }
connectors:
  - name: mail
    type: mailchimp
    apiKey: \${env:KPI_TEST_MC_KEY}
    schedule: "*/5 * * * *"
`;

  it('resolves secrets from the environment, applies defaults, and registers the secret for redaction', () => {
    const config = parseConfig(good, 'inline.yaml', { env: { KPI_TEST_MC_KEY: 'abcd1234secret-us6' } });
    expect(config.connectors[0]).toMatchObject({ name: 'mail', type: 'mailchimp', apiKey: 'abcd1234secret-us6', enabled: true, timezone: 'UTC', freshnessHours: 26 });
    expect(config.reporting).toEqual({ currency: 'EUR', timezone: 'Europe/Berlin', weekStart: 'monday', fxRates: {}, significantChange: { percent: 2, points: 1 } });
    expect(knownSecrets()).toContain('abcd1234secret-us6');
    expect(redactSecrets('key=abcd1234secret-us6')).toBe('key=[redacted]');
  });

  it('${var:NAME} substitutes a plain value that is not treated as a secret', () => {
    const config = parseConfig('dataDir: ${var:KPI_TEST_DIR}/state\n', 'vars.yaml', { env: { KPI_TEST_DIR: '/srv/kpi-plain-folder' } });
    expect(config.dataDir).toBe('/srv/kpi-plain-folder/state');
    expect(knownSecrets()).not.toContain('/srv/kpi-plain-folder');
    expect(() => parseConfig('dataDir: ${var:KPI_TEST_UNSET_VAR}\n', 'vars.yaml', { env: {} })).toThrow('vars.yaml:1:10 dataDir: environment variable KPI_TEST_UNSET_VAR is not set (referenced as ${var:KPI_TEST_UNSET_VAR})');
  });

  it('lists every problem, not only the first, each with its line', () => {
    const text = `
reporting: { currency: euro, timezone: Nowhere/City }
connectors:
  - { name: a, type: csv, path: x.csv, schedule: "99 * * * *", date: { column: d }, metrics: { orders: n } }
  - { name: b, type: nope }
`;
    const err = (() => {
      try {
        parseConfig(text, 'many.yaml', { env: {} });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('no error');
    })();
    expect(err.problems.map((p) => `${p.line} ${p.path}`)).toEqual(['2 reporting.currency', '2 reporting.timezone', '4 connectors[0].schedule', '5 connectors[1].type']);
  });

  it('never puts a resolved secret into an error message', () => {
    const text = `
connectors:
  - { name: m, type: mailchimp, apiKey: "\${env:KPI_TEST_BAD_KEY}" }
`;
    try {
      parseConfig(text, 'secret.yaml', { env: { KPI_TEST_BAD_KEY: 'no-datacenter-here-supersecret' } });
      throw new Error('expected an error');
    } catch (err) {
      expect((err as Error).message).toContain('connectors[0].apiKey');
      expect((err as Error).message).not.toContain('supersecret');
    }
  });

  it('says when the file does not exist', () => {
    expect(() => loadConfig('/nonexistent/kpi.yaml')).toThrow(/\/nonexistent\/kpi.yaml: config file not found/);
  });
});
