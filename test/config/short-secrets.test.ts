import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { runCli, tempProject } from '../helpers/cli.ts';

const yaml = `
reporting: { currency: EUR }
connectors:
  - name: mail
    type: mailchimp
    apiKey: \${env:MC_KEY}
    timezone: "\${env:MC_ZONE}"
    baseUrl: http://127.0.0.1:\${var:MC_PORT}
`;

function loadError(env: Record<string, string>): ConfigError {
  try {
    parseConfig(yaml, 'kpi.yaml', { env });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('the config loaded');
}

const tooShort = (name: string) =>
  `environment variable ${name} has fewer than 4 characters (blanks at its ends not counted), too short for a secret (referenced as \${env:${name}}); set the whole credential, or use \${var:${name}} for a value that is not secret`;

describe('secrets of 1 to 3 characters', () => {
  const project = tempProject({ 'kpi.yaml': yaml });
  afterAll(() => project.cleanup());

  it('are refused where they are referenced, and never quoted, even where a bad value would be', () => {
    // Zq9 would be quoted back as "not an IANA time zone" if it got that far.
    const err = loadError({ MC_KEY: 'k-1', MC_ZONE: '  Zq9 ', MC_PORT: '80' });
    expect(err.message).toBe(['kpi.yaml:6:13 connectors[0].apiKey: ' + tooShort('MC_KEY'), 'kpi.yaml:7:15 connectors[0].timezone: ' + tooShort('MC_ZONE')].join('\n'));
    expect(err.message).not.toMatch(/k-1|Zq9/);
  });

  it('a plain ${var:} value may be short; a secret of 4 characters is accepted', () => {
    const config = parseConfig(yaml, 'kpi.yaml', { env: { MC_KEY: 'k-u6', MC_ZONE: 'Asia/Tokyo', MC_PORT: '80' } });
    expect(config.connectors[0]).toMatchObject({ apiKey: 'k-u6', timezone: 'Asia/Tokyo', baseUrl: 'http://127.0.0.1:80' });
  });

  it('kpi validate exits 3 and says where, without the value', async () => {
    const res = await runCli(['validate', '--config', 'kpi.yaml'], { cwd: project.dir, env: { MC_KEY: 'a', MC_ZONE: 'Europe/Berlin', MC_PORT: '80' } });
    expect(res.code).toBe(3);
    // Named as seen from where the process runs, as every config problem is.
    const file = path.relative(process.cwd(), path.join(project.dir, 'kpi.yaml'));
    expect(res.stderr).toBe(`configuration error:\n${file}:6:13 connectors[0].apiKey: ${tooShort('MC_KEY')}\n`);
    expect(res.stdout).toBe('');
  });
});
