/**
 * `${var:…}` and `${env:…}` resolve to text; where the schema expects a number or a boolean,
 * a value that is one reference becomes one, and a value that is not one is a located error
 * naming the variable. Everywhere else the text stays text.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { ConfigError } from '../../src/core/errors.ts';

function problemsOf(text: string, env: NodeJS.ProcessEnv): string[] {
  try {
    parseConfig(text, 'kpi.yaml', { env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message.split('\n');
  }
  throw new Error('expected a configuration error');
}

const portConfig = 'reporting: { currency: EUR }\nserver:\n  port: ${var:KPI_PORT}\n  host: 127.0.0.1\n';

describe('numbers and booleans from environment variables', () => {
  it('server.port: ${var:KPI_PORT} is the number the variable holds, or false', () => {
    expect(parseConfig(portConfig, 'kpi.yaml', { env: { KPI_PORT: '9465' } }).server.port).toBe(9465);
    expect(parseConfig(portConfig, 'kpi.yaml', { env: { KPI_PORT: 'false' } }).server.port).toBe(false);
    expect(parseConfig('server: { port: false }\n', 'kpi.yaml', { env: {} }).server.port).toBe(false);
  });

  it('a value that is not a number is one error naming the file, line, path, variable and value', () => {
    expect(problemsOf(portConfig, { KPI_PORT: 'abc' })).toEqual(['kpi.yaml:3:9 server.port: environment variable KPI_PORT is "abc" (referenced as ${var:KPI_PORT}), expected a number or false']);
    // true is no port; only false turns the surface off.
    expect(problemsOf(portConfig, { KPI_PORT: 'true' })).toEqual(['kpi.yaml:3:9 server.port: environment variable KPI_PORT is "true" (referenced as ${var:KPI_PORT}), expected a number or false']);
    // Hex, exponents and blanks are not read as numbers.
    expect(problemsOf(portConfig, { KPI_PORT: '0x2500' })[0]).toContain('KPI_PORT is "0x2500"');
    expect(problemsOf(portConfig, { KPI_PORT: ' 9465' })[0]).toContain('KPI_PORT is " 9465"');
  });

  it('a number is still held to the schema: a port past 65535 is refused where it is written', () => {
    expect(problemsOf(portConfig, { KPI_PORT: '70000' })).toEqual(['kpi.yaml:3:9 server.port: Too big: expected number to be <=65535']);
  });

  it('booleans: protectMetrics from a variable', () => {
    const text = 'server:\n  dashboard:\n    user: ops\n    password: correct-horse\n    protectMetrics: ${var:PROTECT}\n';
    expect(parseConfig(text, 'kpi.yaml', { env: { PROTECT: 'true' } }).server.dashboard?.protectMetrics).toBe(true);
    expect(parseConfig(text, 'kpi.yaml', { env: { PROTECT: 'false' } }).server.dashboard?.protectMetrics).toBe(false);
    expect(problemsOf(text, { PROTECT: 'yes' })).toEqual(['kpi.yaml:5:21 server.dashboard.protectMetrics: environment variable PROTECT is "yes" (referenced as ${var:PROTECT}), expected true or false']);
  });

  it("a connector's own schema gets the same rule; its text fields stay text", () => {
    const text = `connectors:
  - name: leads
    type: csv
    path: leads.csv
    account: \${var:ACCOUNT}
    lookbackDays: \${var:LOOKBACK}
    enabled: \${var:LEADS_ON}
    date: { column: Day }
    metrics: { leads: Leads }
`;
    const config = parseConfig(text, 'kpi.yaml', { env: { ACCOUNT: '0123', LOOKBACK: '7', LEADS_ON: 'false' } });
    expect(config.connectors[0]).toMatchObject({ account: '0123', lookbackDays: 7, enabled: false });
    expect(problemsOf(text, { ACCOUNT: '0123', LOOKBACK: 'seven', LEADS_ON: 'true' })).toEqual([
      'kpi.yaml:6:19 connectors[0].lookbackDays: environment variable LOOKBACK is "seven" (referenced as ${var:LOOKBACK}), expected a number',
    ]);
  });

  it('a secret that is not a number is named, never quoted', () => {
    const lines = problemsOf('server:\n  port: ${env:KPI_SECRET_PORT}\n', { KPI_SECRET_PORT: 'not-a-port-hush-hush' });
    expect(lines).toEqual(['kpi.yaml:2:9 server.port: environment variable KPI_SECRET_PORT (referenced as ${env:KPI_SECRET_PORT}), expected a number or false']);
  });

  it('a reference inside other text is text: it is not made a number', () => {
    expect(problemsOf('server:\n  port: ${var:KPI_PORT}0\n', { KPI_PORT: '946' })).toEqual(['kpi.yaml:2:9 server.port: expected a port number (0 to 65535, 0 for any free one) or false']);
  });
});
